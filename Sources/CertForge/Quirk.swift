import FoundationEssentials

/// A defect real gateway CAs carry while still being trusted: unlike a `FailureMode`, a quirk is
/// part of the CA (or of every leaf it signs), so a client that trusts the root still meets it.
/// Each one is what some verifier refuses and another accepts (reference: trust-stores.md §7).
public enum Quirk: String, CaseIterable, Hashable, Sendable, Comparable {
    case basicConstraintsNotCritical = "bc-not-critical"
    case intermediateWithoutAKI = "intermediate-no-aki"
    case leafWithoutAKI = "leaf-no-aki"
    case withoutSKI = "no-ski"
    case caWithoutKeyUsage = "ca-no-key-usage"
    case caKeyUsageNotCritical = "ca-key-usage-not-critical"
    case pathLengthWithoutKeyCertSign = "pathlen-without-keycertsign"
    case criticalPolicies = "critical-policies"
    case sha1Intermediate = "sha1-intermediate"
    case sha1Leaf = "sha1-leaf"
    case negativeSerial = "negative-serial"
    case version1Root = "v1-root"
    case issuerStringType = "issuer-string-type"
    case longLeaf = "leaf-over-825-days"
    case leafWithoutEKU = "leaf-no-eku"
    case trailingSpaceName = "cn-trailing-space"
    case expiredCrossSign = "expired-cross-sign"

    public static func < (lhs: Quirk, rhs: Quirk) -> Bool { lhs.rawValue < rhs.rawValue }

    /// Parses `a,b,c` (repeatable on the command line); names are case-insensitive.
    public static func parse(_ list: String) throws -> [Quirk] {
        try list.split(separator: ",").map { name in
            let trimmed = name.filter { $0 != " " }.lowercased()
            guard let quirk = Quirk(rawValue: trimmed) else {
                throw CertForgeError.unknownName(kind: "quirk", name: String(name), known: allCases.map(\.rawValue))
            }
            return quirk
        }
    }

    /// Which certificates carry it.
    public enum Place: String, Sendable {
        case root, intermediates, everyCA = "every CA", issuingCA = "issuing CA", leaf
        /// An extra certificate the server sends, beside the hierarchy.
        case sentChain = "sent chain"
    }

    public var place: Place {
        switch self {
        case .basicConstraintsNotCritical, .withoutSKI, .caWithoutKeyUsage, .caKeyUsageNotCritical: return .everyCA
        case .intermediateWithoutAKI, .criticalPolicies, .sha1Intermediate: return .intermediates
        case .pathLengthWithoutKeyCertSign, .version1Root: return .root
        case .trailingSpaceName: return .issuingCA
        case .leafWithoutAKI, .sha1Leaf, .negativeSerial, .issuerStringType, .longLeaf, .leafWithoutEKU: return .leaf
        case .expiredCrossSign: return .sentChain
        }
    }

    /// Whether the profile's shape has the certificate the quirk changes (a one-CA profile has no intermediate).
    func applies(toDepth depth: Int) -> Bool {
        place != .intermediates || depth > 1
    }

    /// One line for `intercept-proxy profiles` and `ca init`: what is wrong, and who refuses it in
    /// theory (the tests hold what each verifier here really does).
    public var summary: String {
        switch self {
        case .basicConstraintsNotCritical: return "basicConstraints not critical on the CAs (Python 3.13 strict, openssl -x509_strict)"
        case .intermediateWithoutAKI: return "intermediates without an Authority Key Identifier (Python 3.13 strict, -x509_strict)"
        case .leafWithoutAKI: return "leaves without an Authority Key Identifier (Python 3.13 strict, -x509_strict)"
        case .withoutSKI: return "CAs without a Subject Key Identifier (strict verifiers); their children carry no AKI key id"
        case .caWithoutKeyUsage: return "CAs without keyUsage (strict verifiers)"
        case .caKeyUsageNotCritical: return "keyUsage on the CAs not critical"
        case .pathLengthWithoutKeyCertSign: return "the root has a path length but keyUsage without keyCertSign"
        case .criticalPolicies: return "a critical certificatePolicies extension on the intermediates (rustls/webpki)"
        case .sha1Intermediate: return "intermediates signed with SHA-1 (Go 1.18+, OpenSSL at security level 1+)"
        case .sha1Leaf: return "leaves signed with SHA-1 (Go 1.18+, OpenSSL at security level 1+)"
        case .negativeSerial: return "leaves with a negative serial number (Go 1.23+)"
        case .version1Root: return "an X.509 v1 root, with no extensions at all (rustls/webpki)"
        case .issuerStringType: return "leaves name their issuer as PrintableString, the CA's subject is UTF8String (byte-comparing verifiers)"
        case .longLeaf: return "leaves valid for 3 years, over Apple's 825-day limit"
        case .leafWithoutEKU: return "leaves without extendedKeyUsage serverAuth (Apple platforms)"
        case .trailingSpaceName: return "the issuing CA's CN ends in a space, as Zscaler's \"(t) \" does"
        case .expiredCrossSign:
            return "the chain also sends an expired cross-certificate of the root (trusted-first verifiers stop at the root; stacks that follow the sent chain, OpenSSL 1.0.x and GnuTLS before 3.6.14, can fail)"
        }
    }
}

extension Quirk {
    /// Whether it changes a CA certificate (not only the leaf, or what else is sent).
    public var changesACA: Bool { place != .leaf && place != .sentChain }

    /// Checks that `quirks` can be carried by some hosts' chains only (`--host-quirk`): leaf quirks,
    /// the expired cross-certificate sent with the chain, and CA quirks the intermediates carry,
    /// re-signed for those hosts under the same root. The root is shared by every host, so its
    /// quirks belong to the whole CA (`ca init --quirk`).
    public static func checkPerHost(_ quirks: [Quirk], profile: ChainProfile) throws {
        for quirk in quirks where quirk.changesACA {
            if quirk.place == .root {
                throw CertForgeError.quirkNotPerHost(quirk: quirk.rawValue, reason: "it changes the root, which every host shares; "
                                                     + "give it to the whole CA with --quirk \(quirk.rawValue)")
            }
            if profile.depth < 2 {
                throw CertForgeError.quirkNotPerHost(quirk: quirk.rawValue, reason: "it changes a CA, and profile \(profile.name) has only "
                                                     + "its root, which every host shares; choose zscaler or netskope, or give it to the whole CA with --quirk")
            }
        }
    }
}

extension Array where Element == Quirk {
    /// Sorted and without repeats: the form profiles keep, so that one set has one storage name.
    var normalized: [Quirk] { Array(Set(self)).sorted() }
}

/// Where a certificate being built sits in the chain, for the quirks that concern it.
enum QuirkRole {
    case root(depth: Int)
    case intermediate(isIssuing: Bool, parentHasKeyIdentifier: Bool)
    case leaf(parentHasKeyIdentifier: Bool)
}

extension CertificateBuilder {
    /// Changes a textbook-valid CA or leaf builder so that it carries the quirks meant for its place.
    mutating func apply(_ quirks: [Quirk], role: QuirkRole) {
        guard !quirks.isEmpty else { return }
        let isCA: Bool, parentHasKeyIdentifier: Bool
        switch role {
        case .root: (isCA, parentHasKeyIdentifier) = (true, true)
        case let .intermediate(_, parent): (isCA, parentHasKeyIdentifier) = (true, parent)
        case let .leaf(parent): (isCA, parentHasKeyIdentifier) = (false, parent)
        }
        // An issuer without a key identifier cannot be named by one: name it by issuer and serial.
        if !parentHasKeyIdentifier {
            extensions = extensions.map { $0 == .authorityKeyIdentifier ? .authorityKeyIdentifierByIssuerName : $0 }
        }
        for quirk in quirks {
            switch (quirk, role) {
            case (.basicConstraintsNotCritical, _) where isCA:
                extensions = extensions.map {
                    if case let .basicConstraints(ca, length, _) = $0 { return .basicConstraints(isCA: ca, pathLength: length, critical: false) }
                    return $0
                }
            case (.withoutSKI, _) where isCA:
                extensions.removeAll { $0 == .subjectKeyIdentifier }
            case (.caWithoutKeyUsage, _) where isCA:
                extensions.removeAll { if case .keyUsage = $0 { return true } else { return false } }
            case (.caKeyUsageNotCritical, _) where isCA:
                extensions = extensions.map {
                    if case let .keyUsage(usage, _) = $0 { return .keyUsage(usage, critical: false) }
                    return $0
                }
            case (.intermediateWithoutAKI, .intermediate), (.leafWithoutAKI, .leaf):
                extensions.removeAll { $0 == .authorityKeyIdentifier || $0 == .authorityKeyIdentifierByIssuerName }
            case (.criticalPolicies, .intermediate):
                extensions.append(.certificatePolicies(critical: true))
            case (.sha1Intermediate, .intermediate), (.sha1Leaf, .leaf):
                digest = .sha1
            case (.negativeSerial, .leaf):
                negativeSerial = true
            case (.issuerStringType, .leaf):
                issuerAsPrintableString = true
            case (.longLeaf, .leaf):
                notAfter = notBefore + 3 * ChainProfile.year
            case (.leafWithoutEKU, .leaf):
                extensions.removeAll { $0 == .serverAuthExtendedKeyUsage }
            case (.trailingSpaceName, .intermediate(isIssuing: true, _)), (.trailingSpaceName, .root(depth: 1)):
                if let index = subject.attributes.lastIndex(where: { $0.type == "CN" }) { subject.attributes[index].value += " " }
            case let (.pathLengthWithoutKeyCertSign, .root(depth)):
                extensions = extensions.map {
                    switch $0 {
                    case let .basicConstraints(ca, _, critical): return .basicConstraints(isCA: ca, pathLength: depth - 1, critical: critical)
                    case let .keyUsage(_, critical): return .keyUsage([.digitalSignature, .cRLSign], critical: critical)
                    default: return $0
                    }
                }
            case (.version1Root, .root):
                extensions = []
                isVersion1 = true
            default:
                break
            }
        }
    }
}
