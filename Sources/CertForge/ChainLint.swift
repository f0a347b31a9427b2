import FoundationEssentials

/// The verifier families `ChainLint` predicts for, each named by the clients that use it.
public enum VerifierFamily: String, CaseIterable, Sendable, Codable {
    case openssl = "OpenSSL 3 (curl, Python before 3.13, node, Ruby, PHP, git on OpenSSL)"
    case pythonStrict = "Python 3.13+ (VERIFY_X509_STRICT), openssl -x509_strict"
    case go = "Go"
    case rustls = "rustls/webpki (uv, cargo, deno, Rust tools)"
    case java = "Java PKIX"
    case apple = "Apple platforms (macOS, iOS)"
    case schannel = "Windows schannel"

    /// Short key for JSON and tests.
    public var key: String {
        switch self {
        case .openssl: return "openssl"
        case .pythonStrict: return "python-strict"
        case .go: return "go"
        case .rustls: return "rustls"
        case .java: return "java"
        case .apple: return "apple"
        case .schannel: return "schannel"
        }
    }
}

/// One defect found in a chain: which certificate, what is wrong, who refuses it (in its words),
/// what to ask IT for, and what to do meanwhile.
public struct LintFinding: Sendable, Equatable, Codable {
    public var certificate: String
    public var defect: String
    /// Family key -> the words that verifier refuses with (with the versions, where they matter).
    public var refusals: [String: String]
    public var reissue: String
    public var meanwhile: String
}

/// Predicts, from a gateway root or a captured chain alone, which verifier families will refuse it
/// and why: the rules behind the quirk table, checked against the real verifiers in the tests.
public struct ChainLint: Sendable {
    public let certificates: [Certificate]

    /// Leaf first or root first, any order: roles come from the certificates themselves.
    public init(_ certificates: [Certificate]) {
        self.certificates = certificates
    }

    /// A root here is a self-issued certificate; a v1 root counts as a CA though it carries no basicConstraints.
    private func isRoot(_ certificate: Certificate) -> Bool { certificate.isSelfIssued }

    private func isCA(_ certificate: Certificate) -> Bool {
        certificate.isCertificateAuthority || (certificate.version == 1 && isRoot(certificate))
    }

    private func parent(of certificate: Certificate) -> Certificate? {
        guard !isRoot(certificate) else { return nil }
        return certificates.first { $0 !== certificate && certificate.namesAsIssuer($0) }
    }

    private func label(_ certificate: Certificate) -> String {
        let role = isRoot(certificate) ? "root" : isCA(certificate) ? "intermediate" : "leaf"
        return "\(role) '\(certificate.subject.commonName ?? certificate.subject.description)'"
    }

    public func findings() -> [LintFinding] {
        certificates.flatMap { certificate -> [LintFinding] in
            var found: [LintFinding] = []
            func add(_ defect: String, _ refusals: [VerifierFamily: String], reissue: String, meanwhile: String) {
                var words = Dictionary(uniqueKeysWithValues: refusals.map { ($0.key.key, $0.value) })
                // What OpenSSL refuses by default, strict mode refuses too.
                if let openssl = words["openssl"], words["python-strict"] == nil { words["python-strict"] = openssl }
                found.append(LintFinding(certificate: label(certificate), defect: defect, refusals: words, reissue: reissue, meanwhile: meanwhile))
            }
            let root = isRoot(certificate), ca = isCA(certificate)
            let strictWorkaround = "Python 3.13+: clear the flag (ctx.verify_flags &= ~ssl.VERIFY_X509_STRICT); other clients accept it"

            if ca, certificate.basicConstraintsCritical == false {
                add("basicConstraints is not marked critical", [.pythonStrict: "Basic Constraints of CA cert not marked critical"],
                    reissue: "basicConstraints critical, CA:TRUE", meanwhile: strictWorkaround)
            }
            if !root, certificate.version == 3, certificate.authorityKeyIdentifier == nil {
                add("no Authority Key Identifier (key id)", [.pythonStrict: "Missing Authority Key Identifier"],
                    reissue: "an authorityKeyIdentifier with the issuer's key id in every certificate below the root", meanwhile: strictWorkaround)
            }
            if ca, certificate.version == 3, certificate.subjectKeyIdentifier == nil {
                add("no Subject Key Identifier", [.pythonStrict: "Missing Subject Key Identifier"],
                    reissue: "a subjectKeyIdentifier on every CA (and the matching AKI below it)", meanwhile: strictWorkaround)
            }
            if ca, certificate.version == 3, certificate.keyUsage == nil {
                let words = certificate.pathLength != nil ? "Path length given without key usage keyCertSign" : "CA cert does not include key usage extension"
                add("no keyUsage on a CA", [.pythonStrict: words],
                    reissue: "keyUsage critical, keyCertSign, cRLSign", meanwhile: strictWorkaround)
            }
            if ca, let usage = certificate.keyUsage, !usage.contains(.keyCertSign) {
                var refusals: [VerifierFamily: String] = [
                    .openssl: "invalid CA certificate", .go: "x509: invalid signature: parent certificate cannot sign this kind of certificate",
                    .java: "does not have keyCertSign bit set in KeyUsage extension", .apple: "not trusted", .schannel: "CERT_E_INVALID_POLICY",
                ]
                if !root { refusals[.rustls] = "invalid peer certificate (CA without keyCertSign)" }
                add("keyUsage without keyCertSign on a CA\(certificate.pathLength != nil ? " that sets a path length" : "")", refusals,
                    reissue: "keyUsage critical, keyCertSign, cRLSign",
                    meanwhile: root ? "none that keeps verification on: the root itself is unusable as a CA (rustls, which does not read a trust anchor's extensions, accepts it)"
                        : "none that keeps verification on")
            }
            if !root, certificate.isSignedWithSHA1 {
                add("signed with SHA-1", [
                    .openssl: "CA signature digest algorithm too weak",
                    .go: "x509: cannot verify signature: insecure algorithm SHA1-RSA (Go 1.18+)",
                    .rustls: "invalid peer certificate: UnsupportedSignatureAlgorithmContext",
                    .apple: "not trusted (SHA-1 is refused for TLS)",
                ], reissue: "SHA-256 signatures on every certificate below the root",
                    meanwhile: "OpenSSL clients: security level 0 (e.g. curl --ciphers DEFAULT:@SECLEVEL=0); Go before 1.24: GODEBUG=x509sha1=1; Java accepts it for a root you installed")
            }
            if certificate.hasNegativeSerial {
                add("a negative serial number", [.go: "x509: negative serial number (Go 1.23+)"],
                    reissue: "positive serial numbers (RFC 5280 4.1.2.2)", meanwhile: "Go 1.23+: GODEBUG=x509negativeserial=1")
            }
            if !root, certificate.version == 1 {
                add("an X.509 v1 certificate below the root", [
                    .openssl: "invalid CA certificate", .go: "x509: certificate signed by unknown authority",
                    .rustls: "invalid peer certificate: UnsupportedCertVersion", .java: "not a CA certificate",
                ], reissue: "X.509 v3 certificates", meanwhile: "none")
            }
            if !root {
                let unsupported = certificate.criticalExtensions.filter {
                    !["basicConstraints", "keyUsage", "extendedKeyUsage", "subjectAltName", "nameConstraints"].contains($0)
                }
                if !unsupported.isEmpty {
                    add("critical extension(s) rustls does not implement: \(unsupported.joined(separator: ", "))",
                        [.rustls: "invalid peer certificate: Other(OtherError(UnsupportedCriticalExtension))"],
                        reissue: "the same extension(s) not critical", meanwhile: "uv: --native-tls (the system verifier); other rustls tools: none")
                }
            }
            if let parent = parent(of: certificate), certificate.issuerDER != parent.subjectDER {
                add("the issuer name is encoded differently from its CA's subject (same text, other bytes)", [
                    .go: "x509: certificate signed by unknown authority", .rustls: "invalid peer certificate: UnknownIssuer",
                ], reissue: "issuer names copied byte for byte from the CA's subject", meanwhile: "uv: --native-tls; Go: none")
            }
            if !ca {
                if certificate.notAfter.timeIntervalSince(certificate.notBefore) > 825 * 86_400 {
                    add("a leaf valid for more than 825 days", [.apple: "not standards compliant (validity over 825 days)"],
                        reissue: "leaves valid for at most 825 days (398 for public-CA rules)", meanwhile: "none on Apple platforms")
                }
                if !certificate.hasExtendedKeyUsage {
                    add("a leaf without extendedKeyUsage", [.apple: "not standards compliant (no serverAuth extendedKeyUsage)"],
                        reissue: "extendedKeyUsage serverAuth on every leaf", meanwhile: "none on Apple platforms")
                } else if !certificate.allowsServerAuthentication {
                    add("a leaf whose extendedKeyUsage lacks serverAuth", [
                        .openssl: "unsupported certificate purpose", .go: "x509: certificate specifies an incompatible key usage",
                        .rustls: "invalid peer certificate: Other(OtherError(RequiredEkuNotFound))", .java: "Extended key usage does not permit use for TLS server authentication",
                        .apple: "not trusted", .schannel: "CERT_E_WRONG_USAGE",
                    ], reissue: "extendedKeyUsage serverAuth on every leaf", meanwhile: "none")
                }
            }
            // An expired copy of a root (a cross-certificate: the root's name and key, another issuer)
            // beside the valid root: verifiers that look for a trusted issuer first (OpenSSL 1.1.0+,
            // Go, Java, rustls, schannel, Apple) stop at the root and never judge it. Only stacks that
            // follow the sent chain reach it; none of the families here does.
            if !root, ca, certificate.notAfter < Date(),
               let valid = certificates.first(where: { isRoot($0) && $0.notAfter > Date() && $0.subjectDER == certificate.subjectDER && $0.hasSamePublicKey(as: certificate) }) {
                add("an expired cross-certificate of the root '\(valid.subject.commonName ?? valid.subject.description)' (a second path, through the root itself, exists)", [:],
                    reissue: "nothing for current clients; drop the expired cross-certificate from the chain the gateway sends",
                    meanwhile: "clients that follow the sent chain fail (OpenSSL 1.0.x: \"certificate has expired\" or \"unable to get local issuer certificate\"; GnuTLS before 3.6.14): update them")
            }
            if let name = certificate.subject.commonName, name.hasSuffix(" ") || name.hasPrefix(" ") {
                add("a common name with a leading or trailing space ('\(name)')", [:],
                    reissue: "nothing needed for verification", meanwhile: "quote the name exactly where a tool matches it (keytool -alias, certutil -n)")
            }
            return found
        }
    }

    /// Family -> the findings it refuses; a family absent from the result accepts the chain.
    public func refusals() -> [VerifierFamily: [LintFinding]] {
        var result: [VerifierFamily: [LintFinding]] = [:]
        for finding in findings() {
            for family in VerifierFamily.allCases where finding.refusals[family.key] != nil {
                result[family, default: []].append(finding)
            }
        }
        return result
    }
}
