import FoundationEssentials
import Glibc

/// The world a client meets through the proxy. A fix must hold in both: behind the gateway (which
/// still leaves some hosts alone) and without any gateway (CI runners, home, outside the VPN).
public enum World: String, Sendable, CaseIterable, Codable {
    /// The gateway intercepts every host but the bypassed ones (the default).
    case gateway
    /// No gateway: no host is intercepted; each presents the site's own certificate.
    case direct

    public init(parsing text: String) throws {
        guard let world = World(rawValue: text.lowercased()) else {
            throw ConfigurationError("--world is gateway or direct, got '\(text)'")
        }
        self = world
    }
}

/// How a tunnel met its client, in the flow log's words (`tunnel_opened`'s `interception`).
public enum Interception: String, Sendable, Codable {
    /// Forged by the gateway's CA.
    case intercepted
    /// A `--bypass` host in the gateway world: the site's own certificate (a public stand-in leaf).
    case bypassed
    /// The direct world: the site's own certificate.
    case direct
    /// Relayed untouched to the real upstream, whose certificate the proxy does not see.
    case spliced
}

/// `--bypass PATTERN`: a host the gateway does not inspect (Zscaler SSL-inspection exemptions,
/// Netskope "do not decrypt" lists, Palo Alto no-decrypt rules). A glob over host names, as `--failure`.
public struct BypassRule: Sendable, Equatable {
    public var pattern: String

    public init(pattern: String) {
        self.pattern = pattern.lowercased()
    }

    public init(parsing text: String) throws {
        let pattern = text.trimmingWhitespace()
        guard !pattern.isEmpty, !pattern.contains("="), !pattern.contains(where: { $0 == " " || $0 == "/" || $0 == ":" }) else {
            throw ConfigurationError("--bypass takes a host pattern such as *.bank.test or pypi.org, got '\(text)'")
        }
        self.init(pattern: pattern)
    }

    func matches(_ host: String) -> Bool {
        fnmatch(pattern, host.lowercased(), 0) == 0
    }
}

/// What the proxy does with one tunnel, decided when the CONNECT arrives.
enum TunnelTreatment: Equatable, Sendable {
    /// Forged by the gateway's CA: the interception the proxy exists to reproduce.
    case intercepted
    /// Not inspected: the client meets the site's own certificate. Offline, or for a host mapped to
    /// a local origin, that is a leaf from the public stand-in root (the proxy terminates TLS to
    /// answer or forward, as the real site would); `why` names the rule or the world.
    case publicSite(why: String)
    /// Relayed byte for byte to the real upstream, whose certificate the client sees.
    case spliced(why: String)

    /// What the flow event calls it.
    func interception(in world: World) -> Interception {
        switch self {
        case .intercepted: return .intercepted
        case .publicSite: return world == .direct ? .direct : .bypassed
        case .spliced: return .spliced
        }
    }

    var presentsPublicLeaf: Bool {
        if case .publicSite = self { return true }
        return false
    }
}
