import CertForge
import Foundation
import Testing
import TestSupport

@Suite struct CADirectoryTests {
    private func mode(_ path: String) throws -> Int {
        (try FileManager.default.attributesOfItem(atPath: path)[.posixPermissions] as! NSNumber).intValue
    }

    @Test func createWritesPrivateKeysAndPublicExports() throws {
        let scratch = try TemporaryDirectory()
        let directory = CADirectory(path: scratch.path("certs"))
        let authority = try directory.create(.zscaler)
        let folder = directory.folder(for: .zscaler).path
        #expect(try mode(directory.url.path) == 0o700)
        #expect(try mode(folder) == 0o700)
        for role in ["root-ca", "intermediate-ca", "issuing-ca"] {
            #expect(try mode("\(folder)/\(role).key") == 0o600, "\(role).key")
            #expect(try mode("\(folder)/\(role).pem") == 0o644, "\(role).pem")
        }
        let root = authority.rootCertificate
        let pem = try String(contentsOfFile: "\(folder)/root-ca.pem", encoding: .utf8)
        #expect(pem == root.pemString)
        #expect(try String(contentsOfFile: "\(folder)/root-ca.crt", encoding: .utf8) == pem)
        let der = try [UInt8](Data(contentsOf: URL(fileURLWithPath: "\(folder)/root-ca.cer")))
        #expect(try Certificate(derBytes: der).sha256Fingerprint == root.sha256Fingerprint)
        let base64 = try String(contentsOfFile: "\(folder)/root-ca.pem.b64", encoding: .utf8)
        #expect(!base64.dropLast().contains("\n"), "one line, for a build argument")
        #expect(Data(base64Encoded: base64.trimmingCharacters(in: .whitespacesAndNewlines)) == Data(pem.utf8))
        // The hashed name is the one OpenSSL itself computes.
        let hash = try run("openssl", ["x509", "-hash", "-noout", "-in", "\(folder)/root-ca.pem"]).stdout
            .trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(root.subjectHash == hash)
        #expect(try String(contentsOfFile: "\(folder)/\(hash).0", encoding: .utf8) == pem)
        // The fingerprint matches OpenSSL's.
        let fingerprint = try run("openssl", ["x509", "-fingerprint", "-sha256", "-noout", "-in", "\(folder)/root-ca.pem"]).stdout
        #expect(fingerprint.contains(root.sha256FingerprintText))
    }

    @Test func hashedDirectoryWorksAsCAPath() throws {
        let scratch = try TemporaryDirectory()
        let directory = CADirectory(path: scratch.path("certs"))
        let authority = try directory.create(.plain)
        let chain = try LeafForge(authority: authority).chain(for: "hashed.example")
        let leaf = try scratch.write("leaf.pem", chain.leaf.pemString)
        let result = try run("openssl", ["verify", "-CApath", directory.folder(for: .plain).path, leaf])
        #expect(result.status == 0, "\(result)")
    }

    @Test func pkcs12IsAJavaTrustStore() throws {
        let scratch = try TemporaryDirectory()
        let directory = CADirectory(path: scratch.path("certs"))
        let authority = try directory.create(.plain)
        let p12 = directory.exportURL(.p12, for: .plain, root: authority.rootCertificate).path
        let openssl = try run("openssl", ["pkcs12", "-in", p12, "-nokeys", "-passin", "pass:\(TrustAnchorFormat.pkcs12Password)"])
        #expect(openssl.status == 0, "\(openssl)")
        #expect(openssl.stdout.contains(authority.rootCertificate.pemString.split(separator: "\n")[1]))
        let keytool = try run("keytool", ["-list", "-keystore", p12, "-storetype", "PKCS12", "-storepass", TrustAnchorFormat.pkcs12Password])
        #expect(keytool.status == 0, "\(keytool)")
        #expect(keytool.stdout.contains("trustedCertEntry"), "\(keytool)")
    }

    @Test func loadReturnsTheSameHierarchyAndCreateRefusesToOverwrite() throws {
        let scratch = try TemporaryDirectory()
        let directory = CADirectory(path: scratch.path("certs"))
        let created = try directory.create(.netskope)
        let loaded = try directory.load(.netskope)
        #expect(loaded.rootCertificate.sha256Fingerprint == created.rootCertificate.sha256Fingerprint)
        #expect(loaded.intermediates.map(\.certificate.sha256Fingerprint) == created.intermediates.map(\.certificate.sha256Fingerprint))
        #expect(throws: CertForgeError.authorityExists(directory: directory.folder(for: .netskope).path)) {
            try directory.create(.netskope)
        }
        let replaced = try directory.create(.netskope, force: true)
        #expect(replaced.rootCertificate.sha256Fingerprint != created.rootCertificate.sha256Fingerprint)
        let (again, createdNow) = try directory.loadOrCreate(.netskope)
        #expect(!createdNow && again.rootCertificate.sha256Fingerprint == replaced.rootCertificate.sha256Fingerprint)
    }

    @Test func profilesAndKeyAlgorithmsLiveInSeparateFolders() throws {
        let scratch = try TemporaryDirectory()
        let directory = CADirectory(path: scratch.path("certs"))
        let ec = ChainProfile.plain.with(keyAlgorithm: .ecdsaP256)
        try directory.create(.plain)
        try directory.create(ec)
        #expect(directory.folder(for: ec).lastPathComponent == "plain-p256")
        #expect(try directory.load(ec).rootCertificate.publicKeyAlgorithm == .ecdsaP256)
    }

    @Test func damagedDirectoriesGetClearErrors() throws {
        let scratch = try TemporaryDirectory()
        let directory = CADirectory(path: scratch.path("certs"))
        #expect(throws: CertForgeError.authorityMissing(directory: directory.folder(for: .zscaler).path, file: "root-ca.pem")) {
            try directory.load(.zscaler)
        }
        try directory.create(.zscaler)
        let folder = directory.folder(for: .zscaler)
        // A key swapped for another CA's: the mismatch names both files.
        try FileManager.default.removeItem(at: folder.appendingPathComponent("issuing-ca.key"))
        try FileManager.default.copyItem(at: folder.appendingPathComponent("root-ca.key"), to: folder.appendingPathComponent("issuing-ca.key"))
        #expect(throws: CertForgeError.keyDoesNotMatchCertificate(
            certificate: folder.appendingPathComponent("issuing-ca.pem").path, key: folder.appendingPathComponent("issuing-ca.key").path)) {
            try directory.load(.zscaler)
        }
        try FileManager.default.removeItem(at: folder.appendingPathComponent("intermediate-ca.pem"))
        #expect(throws: CertForgeError.authorityMissing(directory: folder.path, file: "intermediate-ca.pem")) {
            try directory.load(.zscaler)
        }
    }
}
