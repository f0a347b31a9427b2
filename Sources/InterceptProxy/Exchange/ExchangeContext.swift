import FoundationEssentials

/// What an exchange needs from the client connection that carries it, and no more: where the
/// tunnel leads, what every connection shares, and the connection's flow events. The client
/// connection implements it; exchanges and streams never see the connection itself.
protocol ExchangeContext: AnyObject {
    var loop: EventLoop { get }
    var core: ProxyCore { get }
    /// The tunnel's origin (or the plain-HTTP request's).
    var target: (host: String, port: Int)? { get }
    /// Whether the client speaks inside a TLS tunnel (false: plain-HTTP proxy requests).
    var isTunnel: Bool { get }
    /// How the tunnel is treated: intercepted, or shown the site's own certificate (nil: plain HTTP).
    var treatment: TunnelTreatment? { get }
    /// Set once the proxy stopped without waiting for in-flight responses (grace period over).
    var isForcedClosed: Bool { get }
    /// Set when the proxy refused a request on the connection and is closing it (400, 431 ...).
    var refusal: RequestRefusal? { get }
    /// A request arrived on the connection (even one that never starts): the client accepted the
    /// tunnel's certificate.
    func requestArrived()
    /// A flow event of this connection, its client and target filled in.
    func event(_ kind: FlowEvent.Kind) -> FlowEvent
    func recordError(_ cause: FlowCause, _ detail: String, status: Int?, url: String?, streamId: Int32?)
}

extension ExchangeContext {
    /// Offline mode and the badssl catalogue are answered by the proxy itself.
    var answersLocally: Bool {
        target.map { answersLocally(host: $0.host) } ?? core.configuration.offline
    }

    func answersLocally(host: String) -> Bool {
        core.configuration.offline || BadSSLCatalogue.contains(host) || TrustAnchorSite.contains(host)
    }
}
