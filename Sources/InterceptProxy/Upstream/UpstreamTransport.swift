import FoundationEssentials

/// What an upstream transport reports. Called on the loop.
protocol UpstreamConnectionDelegate: AnyObject {
    func upstream(_ upstream: UpstreamTransport, received plaintext: [UInt8])
    func upstreamDrained(_ upstream: UpstreamTransport)
    /// The upstream closed (or failed). `failure` is set when no usable connection was ever made
    /// or the transport broke.
    func upstreamClosed(_ upstream: UpstreamTransport, failure: UpstreamFailure?)
    /// The connection (and its TLS, if any) is established.
    func upstreamReady(_ upstream: UpstreamTransport)
}

extension UpstreamConnectionDelegate {
    func upstreamReady(_ upstream: UpstreamTransport) {}
}

/// Bytes to and from an origin: what the upstream legs frame HTTP over. `UpstreamConnection` is
/// the real one (TCP, an upstream proxy's CONNECT, TLS); unit tests use one in memory. Bytes
/// sent before it is ready are queued. Confined to its loop.
protocol UpstreamTransport: AnyObject {
    var delegate: UpstreamConnectionDelegate? { get set }
    var loop: EventLoop { get }
    var isReady: Bool { get }
    var isClosed: Bool { get }
    /// What the upstream chose by ALPN once TLS is up ("h2", "http/1.1"), nil without ALPN or TLS.
    var negotiatedProtocol: String? { get }
    /// Bytes waiting for the upstream, for backpressure on the client side.
    var pendingOutbound: Int { get }
    func send(_ bytes: [UInt8])
    func pauseReading()
    func resumeReading()
    /// Ends the connection after what is queued; the delegate hears of it no more.
    func close()
    /// Ends the connection at once and reports `failure` (a leg above found the bytes unusable).
    func fail(_ failure: UpstreamFailure)
}

/// Makes the connections of one tunnel's pool (tests make them in memory).
protocol UpstreamDialer {
    /// A new connection, started, offering `alpn` (nil: the TLS context's http/1.1).
    func dial(alpn: [String]?) -> UpstreamTransport
}

/// Dials the route of a tunnel (or of a plain-HTTP target) with the proxy's upstream TLS.
struct RouteDialer: UpstreamDialer {
    let route: UpstreamRoute
    let tls: TLSClientContext?
    let loop: EventLoop
    let connectTimeout: TimeInterval

    func dial(alpn: [String]?) -> UpstreamTransport {
        let made = UpstreamConnection(route: route, tls: tls, loop: loop, alpn: alpn)
        made.start(timeout: connectTimeout)
        return made
    }
}
