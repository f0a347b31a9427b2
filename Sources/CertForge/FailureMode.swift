/// Deliberate defects the forge applies to one host's chain, to reproduce what clients do with them.
public enum FailureMode: String, CaseIterable, Hashable, Sendable {
    case expired
    case notYetValid = "not-yet-valid"
    case wrongHost = "wrong-host"
    case selfSigned = "self-signed"
    case incompleteChain = "incomplete-chain"
    case sha1
    case rsa1024
    case caAsLeaf = "ca-as-leaf"
    case nonStrict = "non-strict"
    case expiredRoot = "expired-root"

    /// Parses the command-line name.
    public init(name: String) throws {
        guard let mode = FailureMode(rawValue: name.lowercased()) else {
            throw CertForgeError.unknownName(kind: "failure mode", name: name, known: Self.allCases.map(\.rawValue))
        }
        self = mode
    }

    /// The DNS name a wrong-host leaf is issued for instead of the requested one.
    public static let wrongHostName = "wrong-host.intercept-proxy.invalid"

    /// One line for `intercept-proxy profiles`: what is wrong and what OpenSSL-based clients say.
    public var summary: String {
        switch self {
        case .expired: return "leaf expired 30 days ago -> certificate has expired (10)"
        case .notYetValid: return "leaf valid from 30 days ahead -> certificate is not yet valid (9)"
        case .wrongHost: return "leaf names \(Self.wrongHostName) -> hostname mismatch (62)"
        case .selfSigned: return "leaf signs itself, sent alone -> self-signed certificate (18)"
        case .incompleteChain: return "the intermediate next to the root is not sent -> unable to get local issuer certificate (20)"
        case .sha1: return "leaf signed with SHA-1 -> CA signature digest algorithm too weak (68) at security level 1+"
        case .rsa1024: return "leaf key RSA-1024 -> EE certificate key too weak (66) at security level 2 (the Debian/Ubuntu default)"
        case .caAsLeaf: return "leaf is a CA certificate (CA:TRUE, keyCertSign, no serverAuth) -> unsupported certificate purpose (26)"
        case .nonStrict: return "leaf lacks AKI, its CA's basicConstraints not critical -> fails only strict verifiers (Python 3.13, -x509_strict)"
        case .expiredRoot: return "chain ends in an expired copy of the root -> certificate has expired (10)"
        }
    }
}
