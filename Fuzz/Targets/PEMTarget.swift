// The targets reach internal parsers (@testable): a debug or fuzzing build only (see FuzzEntry.swift).
#if DEBUG || FUZZING
import CertForge
import Foundation

/// PEM certificates and keys as `--ca-cert`/`--ca-key` load them: the input is written to a file
/// that serves as both (one PEM file may hold both), loaded the way the CLI loads it, and what
/// parses is read back through CertForge's accessors and re-encoded.
enum PEMTarget {
    private static let file = FileManager.default.temporaryDirectory
        .appendingPathComponent("intercept-proxy-fuzz-\(getpid()).pem").path

    static func run(_ data: [UInt8]) {
        let text = String(decoding: data, as: UTF8.self)
        let certificates = try? Certificate.parsePEM(text)
        if let certificates {
            for certificate in certificates {
                _ = certificate.summary + certificate.serialNumberHex + certificate.sha256FingerprintText + certificate.subjectHash
                _ = (certificate.subjectAlternativeNames, certificate.keyUsage, certificate.isCertificateAuthority,
                     certificate.subjectKeyIdentifier, certificate.authorityKeyIdentifier, certificate.allowsServerAuthentication,
                     certificate.hasPositiveSerialNumber, certificate.basicConstraintsCritical, certificate.isSelfIssued)
                _ = certificate.issuer.description + certificate.subject.description
                // What CertForge writes out (the trust-anchor exports) must read back as the same certificate.
                if let again = try? Certificate.parsePEM(certificate.pemString) {
                    precondition(again.count == 1 && again[0].derBytes == certificate.derBytes, "PEM round trip changed the certificate")
                } else {
                    preconditionFailure("the PEM CertForge wrote does not parse")
                }
            }
        }
        for passphrase in [nil, "fuzz"] {
            if let key = try? PrivateKey(pem: text, passphrase: passphrase) {
                _ = (key.algorithm, key.publicKeyFingerprint)
            }
        }
        // The whole --ca-cert/--ca-key path, file reading included (once a certificate parses: before,
        // it fails where the parsing above did); the plain profile generates no intermediates, so
        // an accepted root costs no key generation.
        guard certificates != nil else { return }
        guard FileManager.default.createFile(atPath: file, contents: Data(data)) else { preconditionFailure("cannot write \(file)") }
        defer { unlink(file) }
        for passphrase in [nil, "fuzz"] {
            if let authority = try? CertificateAuthority.bringYourOwn(certificateFile: file, keyFile: file, passphrase: passphrase, profile: .plain) {
                precondition(authority.issuing.key.matches(authority.issuing.certificate), "accepted a CA whose key does not match")
            }
        }
    }
}
#endif
