/// What happened to one host's TLS handshakes during a run: the basis of `intercept-proxy verify`.
public struct HostVerdict: Sendable, Equatable, Codable {
    public enum Outcome: String, Sendable, Codable {
        /// Every handshake succeeded and requests followed.
        case trusted
        /// At least one handshake failed, or the client hung up right after one without a request.
        case rejected
    }

    public let host: String
    /// `intercepted` (the gateway's CA), `bypassed` (a `--bypass` host) or `direct` (the direct
    /// world): the last two were shown the site's own certificate, from the public stand-in root.
    public let interception: Interception
    public let outcome: Outcome
    /// Why a host was rejected: its `tls_failed` event's cause (`unknown_ca`, ...), or
    /// `closedAfterHandshake` when the client hung up after a handshake without a request.
    public let cause: String?
    public let requests: Int

    /// Not a flow cause: the client completed the handshake, then checked the certificate itself
    /// (a wrong host name, say) and hung up without a request, so no event names a failure.
    public static let closedAfterHandshake = "closed_after_handshake"

    /// Not a flow cause either: the tunnel opened but its handshake neither completed nor failed on
    /// record (the client left, or the proxy stopped, before the proxy read how it ended).
    public static let handshakeIncomplete = "handshake_incomplete"

    /// Summarises the tunnels whose TLS the proxy terminated, per host (spliced tunnels are relayed
    /// untouched, so their handshakes are not seen and not judged).
    public static func summarise(_ events: [FlowEvent]) -> [HostVerdict] {
        var hosts: [(host: String, interception: Interception)] = []
        var byConnection: [Int: [FlowEvent]] = [:]
        for event in events {
            byConnection[event.connection, default: []].append(event)
            guard event.type == .tunnelOpened, let host = event.host, !hosts.contains(where: { $0.host == host }) else { continue }
            let interception = event.interception ?? (event.detail == nil ? .intercepted : .spliced)  // flow logs from before worlds
            if interception != .spliced { hosts.append((host, interception)) }
        }
        return hosts.map { host, interception in
            var cause: String?
            var requests = 0
            var rejected = false
            for connection in byConnection.values where connection.first?.host == host && connection.first?.type == .tunnelOpened {
                requests += connection.filter { $0.type == .request }.count
                if let failure = connection.first(where: { $0.type == .tlsFailed }) {
                    rejected = true
                    cause = failure.cause?.rawValue
                } else if !connection.contains(where: { $0.type == .tlsEstablished }) {
                    // No handshake completed and none failed on record: nothing shows the client trusted it.
                    rejected = true
                    cause = cause ?? handshakeIncomplete
                } else if !connection.contains(where: { $0.type == .request }),
                          connection.contains(where: { $0.type == .tunnelClosed }) {
                    rejected = true
                    cause = cause ?? closedAfterHandshake
                }
            }
            return HostVerdict(host: host, interception: interception, outcome: rejected ? .rejected : .trusted,
                               cause: rejected ? cause : nil, requests: requests)
        }
    }
}

extension HostVerdict {
    /// Hosts whose tunnels were relayed untouched (`--ignore-hosts`, or not inspected with a real
    /// upstream): the client met the upstream's own certificate, which the proxy does not see.
    public static func splicedHosts(_ events: [FlowEvent]) -> [String] {
        var hosts: [String] = []
        for event in events where event.type == .tunnelOpened && event.interception == .spliced {
            if let host = event.host, !hosts.contains(host) { hosts.append(host) }
        }
        return hosts
    }
}
