import CertForge
import Foundation
import Testing
import TestSupport

/// A CA made by `openssl req -x509`, loaded as the root of any profile; bad inputs get clear errors.
@Suite struct BringYourOwnCATests {
    /// Makes a self-signed certificate with OpenSSL itself, from a minimal config (no distro defaults).
    private func opensslCA(_ scratch: TemporaryDirectory, name: String, extensions: String,
                           keyArguments: [String] = ["-newkey", "rsa:2048", "-noenc"]) throws -> (cert: String, key: String) {
        let config = try scratch.write("\(name).cnf", """
            [req]
            distinguished_name = dn
            x509_extensions = ext
            prompt = no
            [dn]
            O = My Corp
            CN = \(name)
            [ext]
            \(extensions)
            """)
        let cert = scratch.path("\(name).pem"), key = scratch.path("\(name).key")
        var arguments = ["req", "-x509", "-config", config, "-days", "30", "-out", cert] + keyArguments
        if !keyArguments.contains("-key") { arguments += ["-keyout", key] }
        let result = try run("openssl", arguments)
        #expect(result.status == 0, "\(result)")
        return (cert, keyArguments.contains("-key") ? keyArguments[keyArguments.firstIndex(of: "-key")! + 1] : key)
    }

    private let caExtensions = """
        basicConstraints = critical,CA:TRUE
        keyUsage = critical,keyCertSign,cRLSign
        subjectKeyIdentifier = hash
        """

    @Test(arguments: [ChainProfile.plain, .zscaler])
    func opensslMadeCASignsLeavesClientsAccept(profile: ChainProfile) throws {
        let scratch = try TemporaryDirectory()
        let (cert, key) = try opensslCA(scratch, name: "My Corp Root", extensions: caExtensions)
        let authority = try CertificateAuthority.bringYourOwn(certificateFile: cert, keyFile: key, passphrase: nil, profile: profile)
        #expect(authority.rootCertificate.subject.commonName == "My Corp Root")
        #expect(authority.intermediates.count == profile.depth - 1)
        let chain = try LeafForge(authority: authority).chain(for: "byo.example")
        let outcome = try opensslVerify(chain, policy: .client(for: "byo.example", strict: true))
        #expect(outcome.isOK, "\(outcome)")
    }

    @Test func keyOfAnotherCertificateIsRejected() throws {
        let scratch = try TemporaryDirectory()
        let first = try opensslCA(scratch, name: "First", extensions: caExtensions)
        let second = try opensslCA(scratch, name: "Second", extensions: caExtensions)
        #expect(throws: CertForgeError.keyDoesNotMatchCertificate(certificate: first.cert, key: second.key)) {
            try CertificateAuthority.bringYourOwn(certificateFile: first.cert, keyFile: second.key, passphrase: nil, profile: .plain)
        }
    }

    @Test func certificateThatIsNotACAIsRejected() throws {
        let scratch = try TemporaryDirectory()
        let leaf = try opensslCA(scratch, name: "Just A Server", extensions: "basicConstraints = critical,CA:FALSE")
        do {
            _ = try CertificateAuthority.bringYourOwn(certificateFile: leaf.cert, keyFile: leaf.key, passphrase: nil, profile: .plain)
            Issue.record("accepted a CA:FALSE certificate")
        } catch let error as CertForgeError {
            guard case .notACertificateAuthority = error else { Issue.record("wrong error: \(error)"); return }
            #expect(error.description.contains("is not a CA certificate"))
        }
    }

    @Test func expiredCAIsRejected() throws {
        let scratch = try TemporaryDirectory()
        let key = try PrivateKey.generate(.ecdsaP256)
        let now = Date()
        let expired = try CertificateBuilder(
            subject: DistinguishedName(["CN": "Old Root"]), notBefore: now - 400 * ChainProfile.day, notAfter: now - ChainProfile.day,
            extensions: [.basicConstraints(isCA: true, critical: true), .keyUsage([.keyCertSign, .cRLSign], critical: true), .subjectKeyIdentifier]
        ).sign(publicKey: key, signer: .selfSigned(key))
        let cert = try scratch.write("old.pem", expired.pemString)
        let keyFile = try scratch.write("old.key", key.pemString)
        do {
            _ = try CertificateAuthority.bringYourOwn(certificateFile: cert, keyFile: keyFile, passphrase: nil, profile: .plain)
            Issue.record("accepted an expired CA")
        } catch let error as CertForgeError {
            guard case .authorityExpired = error else { Issue.record("wrong error: \(error)"); return }
            #expect(error.description.contains("Old Root") && error.description.contains("expired"))
        }
    }

    @Test func encryptedKeyNeedsItsPassphrase() throws {
        let scratch = try TemporaryDirectory()
        let encryptedKey = scratch.path("enc.key")
        let generated = try run("openssl", ["genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256",
                                            "-aes256", "-pass", "pass:s3cret", "-out", encryptedKey])
        #expect(generated.status == 0, "\(generated)")
        let (cert, _) = try opensslCA(scratch, name: "Encrypted Root", extensions: caExtensions,
                                      keyArguments: ["-key", encryptedKey, "-passin", "pass:s3cret"])
        #expect(throws: CertForgeError.encryptedKeyWithoutPassphrase(source: encryptedKey)) {
            try CertificateAuthority.bringYourOwn(certificateFile: cert, keyFile: encryptedKey, passphrase: nil, profile: .plain)
        }
        #expect(throws: CertForgeError.wrongPassphrase(source: encryptedKey)) {
            try CertificateAuthority.bringYourOwn(certificateFile: cert, keyFile: encryptedKey, passphrase: "wrong", profile: .plain)
        }
        let authority = try CertificateAuthority.bringYourOwn(certificateFile: cert, keyFile: encryptedKey, passphrase: "s3cret", profile: .plain)
        #expect(authority.rootCertificate.subject.commonName == "Encrypted Root")
    }

    @Test func filesThatAreNotPEMAreRejected() throws {
        let scratch = try TemporaryDirectory()
        let junk = try scratch.write("junk.pem", "this is not a certificate\n")
        let good = try opensslCA(scratch, name: "Fine", extensions: caExtensions)
        do {
            _ = try CertificateAuthority.bringYourOwn(certificateFile: junk, keyFile: good.key, passphrase: nil, profile: .plain)
            Issue.record("accepted junk")
        } catch let error as CertForgeError {
            guard case let .invalidEncoding(what, source, _) = error else { Issue.record("wrong error: \(error)"); return }
            #expect(what == "PEM certificate" && source == junk)
        }
        #expect(throws: CertForgeError.fileSystem(path: scratch.path("missing.pem"), detail: "cannot read the file (missing or not readable)")) {
            try CertificateAuthority.bringYourOwn(certificateFile: scratch.path("missing.pem"), keyFile: good.key, passphrase: nil, profile: .plain)
        }
    }
}
