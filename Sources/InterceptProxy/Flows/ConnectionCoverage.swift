/// One connection a command made, as `verify` reports it: where it went, what its TLS asked for,
/// how the handshake ended and which TLS stack the client's ClientHello came from, so two code
/// paths of one tool that trust differently show as two lines with two fingerprints.
public struct ConnectionCoverage: Sendable, Equatable, Codable {
    public let connection: Int
    public let host: String
    public let port: Int?
    /// For a redirected connection: the address it was headed for; nil for an explicit CONNECT.
    public let destination: String?
    public let sni: String?
    public let alpn: String?
    public let interception: Interception
    /// `trusted`, `rejected`, or nil when spliced (its handshake is not seen).
    public let outcome: HostVerdict.Outcome?
    /// The client's alert (the `tls_failed` cause), or why it counts as rejected.
    public let cause: String?
    public let requests: Int
    public let ja4: String?
    public let tlsStack: String?

    /// Every tunnel in the events, in the order they opened (plain-HTTP connections carry no TLS to judge).
    public static func summarise(_ events: [FlowEvent]) -> [ConnectionCoverage] {
        var order: [Int] = []
        var byConnection: [Int: [FlowEvent]] = [:]
        for event in events where event.connection != 0 {
            if event.type == .tunnelOpened, byConnection[event.connection] == nil { order.append(event.connection) }
            byConnection[event.connection, default: []].append(event)
        }
        return order.compactMap { id in
            guard let events = byConnection[id], let opened = events.first(where: { $0.type == .tunnelOpened }), let host = opened.host else { return nil }
            // `--untrusted-upstream pass` splices a tunnel opened as intercepted, once the site's certificate failed.
            let passed = events.contains { $0.type == .error && $0.cause == .upstreamUntrusted && $0.detail?.contains("passed through") == true }
            let interception = passed ? .spliced : opened.interception ?? .intercepted
            let handshake = events.first { $0.type == .tlsEstablished || $0.type == .tlsFailed }
            let requests = events.filter { $0.type == .request }.count
            var outcome: HostVerdict.Outcome?
            var cause: String?
            if interception != .spliced {
                if let handshake, handshake.type == .tlsFailed {
                    (outcome, cause) = (.rejected, handshake.cause?.rawValue)
                } else if handshake == nil {
                    (outcome, cause) = (.rejected, HostVerdict.handshakeIncomplete)
                } else if requests == 0, events.contains(where: { $0.type == .tunnelClosed }) {
                    (outcome, cause) = (.rejected, HostVerdict.closedAfterHandshake)
                } else {
                    outcome = .trusted
                }
            }
            return ConnectionCoverage(connection: id, host: host, port: opened.port, destination: opened.destination,
                                      sni: handshake?.sni, alpn: handshake?.alpn, interception: interception, outcome: outcome,
                                      cause: cause, requests: requests, ja4: handshake?.ja4, tlsStack: handshake?.tlsStack)
        }
    }
}
