import CertForge
import Foundation
import Testing

/// Gateway roots as real products make them, re-created field by field with CertificateBuilder:
/// new keys, names marked as test copies, the layout of the certificate that was read (version,
/// extensions and their criticality, key usage bits, signature, key size, validity length, name
/// string types). Never the bytes. `source` says where the layout was read; docs/certificates.md
/// lists them with their verdicts.
struct RealWorldShape: Sendable, CustomTestStringConvertible {
    let name: String
    let source: String
    /// The root's subject; "(intercept-proxy test)" marks it as a copy.
    let rootSubject: DistinguishedName
    /// The root's extensions, in the order the original lists them.
    let rootExtensions: [CertificateExtension]
    let rootDigest: SignatureDigest
    let rootLifetimeDays: Double
    let rootPrintableNames: Bool
    /// Intermediates below the root, root-most first. Only their names were published (captures
    /// of `openssl s_client`), so they carry textbook CA extensions: the root's layout decides.
    let intermediates: [DistinguishedName]
    let sendsRoot: Bool
    /// `openssl x509 -text` facts of the re-created root, checked so the fixture cannot drift from
    /// what was read.
    let layout: [String]
    /// The families `ChainLint` predicts to refuse the chain (keys of `VerifierFamily`).
    let refusedBy: Set<String>

    var testDescription: String { name }

    private static let mark = "(intercept-proxy test)"
    private static let day: TimeInterval = 86_400

    /// The root, the intermediates and a textbook leaf for `localhost`, as the gateway sends them.
    func forge(now: Date = Date()) throws -> ForgedChain {
        let rootKey = try PrivateKey.generate(.rsa2048)
        var rootBuilder = CertificateBuilder(subject: rootSubject, notBefore: now - Self.day,
                                             notAfter: now - Self.day + rootLifetimeDays * Self.day, extensions: rootExtensions)
        rootBuilder.digest = rootDigest
        rootBuilder.subjectAsPrintableString = rootPrintableNames
        let root = SigningIdentity(certificate: try rootBuilder.sign(publicKey: rootKey, signer: .selfSigned(rootKey)), key: rootKey)
        var issuer = root
        var sent: [Certificate] = []
        for (index, subject) in intermediates.enumerated() {
            let key = try PrivateKey.generate(.rsa2048)
            var builder = CertificateBuilder(subject: subject, notBefore: now - Self.day, notAfter: now + 365 * Self.day, extensions: [
                .basicConstraints(isCA: true, pathLength: intermediates.count - index - 1, critical: true),
                .keyUsage([.keyCertSign, .cRLSign], critical: true),
                .subjectKeyIdentifier,
                Self.authorityKeyIdentifier(naming: issuer.certificate),
            ])
            builder.subjectAsPrintableString = rootPrintableNames
            issuer = SigningIdentity(certificate: try builder.sign(publicKey: key, signer: .issuer(issuer.certificate, issuer.key)), key: key)
            sent.insert(issuer.certificate, at: 0)
        }
        let leafKey = try PrivateKey.generate(.rsa2048)
        let leaf = try CertificateBuilder(subject: DistinguishedName(["CN": "localhost"]), notBefore: now - Self.day,
                                          notAfter: now + 14 * Self.day, extensions: [
            .basicConstraints(isCA: false, critical: true),
            .keyUsage([.digitalSignature, .keyEncipherment], critical: true),
            .serverAuthExtendedKeyUsage,
            .subjectAlternativeNames([.dnsName("localhost")]),
            .subjectKeyIdentifier,
            Self.authorityKeyIdentifier(naming: issuer.certificate),
        ]).sign(publicKey: leafKey, signer: .issuer(issuer.certificate, issuer.key))
        if sendsRoot { sent.append(root.certificate) }
        return ForgedChain(serverName: try ServerName("localhost"), failure: nil, leaf: leaf, leafKey: leafKey,
                           chain: sent, trustAnchor: root.certificate)
    }

    /// An issuer without a key id can only be named by name and serial.
    private static func authorityKeyIdentifier(naming issuer: Certificate) -> CertificateExtension {
        issuer.subjectKeyIdentifier == nil ? .authorityKeyIdentifierByIssuerName : .authorityKeyIdentifier
    }

    static let all: [RealWorldShape] = [zscaler, netskope, fortinet2022, fortinet2026, umbrella]

    /// Zscaler Root CA (2014 generation, valid to 2042), and the chain ZIA presents below it.
    static let zscaler = RealWorldShape(
        name: "zscaler-root-2014",
        source: "root: cfpb/zscaler-cert zscaler_root_ca.pem (also sectigo/CTLogs#57); chain names and order: "
            + "`openssl s_client` captures committed in public repositories (root not sent, issuing CA \"(t) \")",
        rootSubject: DistinguishedName([
            "C": "US", "ST": "California", "L": "San Jose", "O": "Zscaler Inc.", "OU": "Zscaler Inc.",
            "CN": "Zscaler Root CA \(mark)", "emailAddress": "support@zscaler.test",
        ]),
        rootExtensions: [.subjectKeyIdentifier, .authorityKeyIdentifierWithIssuerName, .basicConstraints(isCA: true, critical: false)],
        rootDigest: .sha256, rootLifetimeDays: 10_000, rootPrintableNames: true,
        intermediates: [
            DistinguishedName([
                "C": "US", "ST": "California", "O": "Zscaler Inc. \(mark)", "OU": "Zscaler Inc.",
                "CN": "Zscaler Intermediate Root CA (zscalerthree.test)", "emailAddress": "support@zscaler.test",
            ]),
            DistinguishedName([
                "C": "US", "ST": "California", "O": "Zscaler Inc. \(mark)", "OU": "Zscaler Inc.",
                "CN": "Zscaler Intermediate Root CA (zscalerthree.test) (t) ",
            ]),
        ],
        sendsRoot: false,
        layout: ["Version: 3", "sha256WithRSAEncryption", "2048 bit", "Basic Constraints: \n", "!Key Usage", "Subject Key Identifier",
                 "keyid:", "DirName:", "!UTF8STRING", "IA5STRING", "10000 days"],
        refusedBy: ["python-strict"])

    /// Netskope's caadmin.netskope.com root (2013, valid 30 years): SHA-1 self-signature.
    static let netskope = RealWorldShape(
        name: "netskope-caadmin-2013",
        source: "gentoomaniac/teleport-docker caadmin.netskope.com.crt",
        rootSubject: DistinguishedName([
            "C": "US", "ST": "California", "L": "Los Altos", "O": "netSkope Inc \(mark)", "OU": "Cert Management",
            "CN": "caadmin.netskope.test", "emailAddress": "certadmin@netskope.test",
        ]),
        rootExtensions: [.subjectKeyIdentifier, .authorityKeyIdentifierWithIssuerName, .basicConstraints(isCA: true, critical: false)],
        rootDigest: .sha1, rootLifetimeDays: 10_950, rootPrintableNames: true,
        intermediates: [DistinguishedName([
            "C": "US", "ST": "California", "L": "Los Altos", "O": "netSkope Inc \(mark)", "OU": "Cert Management",
            "CN": "ca.tenant.goskope.test",
        ])],
        sendsRoot: true,
        layout: ["Version: 3", "sha1WithRSAEncryption", "2048 bit", "Basic Constraints: \n", "!Key Usage", "Subject Key Identifier",
                 "keyid:", "DirName:", "!UTF8STRING", "IA5STRING", "10950 days"],
        refusedBy: ["python-strict"])

    /// FortiGate's Fortinet_CA_SSL as a 2022 device made it: basicConstraints alone, named after the serial.
    static let fortinet2022 = RealWorldShape(
        name: "fortinet-ca-ssl-2022",
        source: "hoangbeard/docker-in-jenkins-docker Fortinet_CA_SSL.crt",
        rootSubject: DistinguishedName([
            "C": "US", "ST": "California", "L": "Sunnyvale", "O": "Fortinet \(mark)", "OU": "Certificate Authority",
            "CN": "FG200FTEST000001", "emailAddress": "support@fortinet.test",
        ]),
        rootExtensions: [.basicConstraints(isCA: true, critical: false)],
        rootDigest: .sha256, rootLifetimeDays: 3_653, rootPrintableNames: false,
        intermediates: [], sendsRoot: true,
        layout: ["Version: 3", "sha256WithRSAEncryption", "2048 bit", "Basic Constraints: \n", "!Key Usage", "!Subject Key Identifier",
                 "!Authority Key Identifier", "UTF8STRING", "IA5STRING", "PRINTABLESTRING   :US", "3653 days"],
        refusedBy: ["python-strict"])

    /// A newer FortiGate's Fortinet_CA_SSL: keyUsage keyCertSign and an SKI added, still nothing critical.
    static let fortinet2026 = RealWorldShape(
        name: "fortinet-ca-ssl-2026",
        source: "jp838/KSB_Certificate_Portal Fortinet_CA_SSL.crt",
        rootSubject: DistinguishedName([
            "C": "US", "ST": "California", "L": "Sunnyvale", "O": "Fortinet \(mark)", "OU": "Certificate Authority",
            "CN": "FGT80FTEST000002", "emailAddress": "support@fortinet.test",
        ]),
        rootExtensions: [.basicConstraints(isCA: true, critical: false), .keyUsage([.keyCertSign], critical: false), .subjectKeyIdentifier],
        rootDigest: .sha256, rootLifetimeDays: 3_653, rootPrintableNames: false,
        intermediates: [], sendsRoot: true,
        layout: ["Version: 3", "sha256WithRSAEncryption", "2048 bit", "Basic Constraints: \n", "Key Usage: \n", "Certificate Sign\n", "!CRL Sign",
                 "Subject Key Identifier", "!Authority Key Identifier", "UTF8STRING", "IA5STRING", "PRINTABLESTRING   :US", "3653 days"],
        refusedBy: ["python-strict"])

    /// Cisco Umbrella Root CA (2016, 20 years): textbook, the control.
    static let umbrella = RealWorldShape(
        name: "cisco-umbrella-root",
        source: "chanzuckerberg/happy Cisco_Umbrella_Root_CA.cer",
        rootSubject: DistinguishedName(["O": "Cisco \(mark)", "CN": "Cisco Umbrella Root CA"]),
        rootExtensions: [.keyUsage([.keyCertSign, .cRLSign], critical: true), .basicConstraints(isCA: true, critical: true), .subjectKeyIdentifier],
        rootDigest: .sha256, rootLifetimeDays: 7_305, rootPrintableNames: true,
        intermediates: [], sendsRoot: false,
        layout: ["Version: 3", "sha256WithRSAEncryption", "2048 bit", "Basic Constraints: critical", "Key Usage: critical", "Certificate Sign, CRL Sign",
                 "Subject Key Identifier", "!Authority Key Identifier", "!UTF8STRING", "7305 days"],
        refusedBy: [])
}
