import FoundationEssentials

/// What an exchange needs from the client connection that carries it, and no more: where the
/// tunnel leads, how it ends, its flow events and timers. The client connection implements it;
/// exchanges and streams never see the connection, nor the proxy's core.
protocol ExchangeContext: AnyObject {
    var loop: EventLoop { get }
    /// The tunnel's origin (or the plain-HTTP request's).
    var target: (host: String, port: Int)? { get }
    /// Whether the client speaks inside a TLS tunnel (false: plain-HTTP proxy requests).
    var isTunnel: Bool { get }
    /// Whether the proxy answers this connection's requests itself (offline, the badssl
    /// catalogue, http://intercept-proxy.test/ca.pem).
    var answersLocally: Bool { get }
    /// Set once the proxy stopped without waiting for in-flight responses (grace period over).
    var isForcedClosed: Bool { get }
    /// Set when the proxy refused a request on the connection and is closing it (400, 431 ...).
    var refusal: RequestRefusal? { get }
    /// How long an upstream may stay silent before the exchange ends with a 504.
    var responseTimeout: TimeInterval { get }
    /// A request arrived on the connection (even one that never starts): the client accepted the
    /// tunnel's certificate.
    func requestArrived()
    /// What the gateway answers instead of the 502 when the upstream's certificate failed
    /// verification (`--untrusted-upstream block`: the vendor's certificate-error page); nil: the 502.
    func untrustedUpstreamAnswer(_ failure: UpstreamFailure, url: String, keepAlive: Bool) -> HTTPResponse?
    /// What the proxy answers itself for this request (see `answersLocally`).
    func localAnswer(method: String, url: String, keepAlive: Bool) -> HTTPResponse
    /// A flow event of this connection, its client and target filled in.
    func event(_ kind: FlowEvent.Kind) -> FlowEvent
    func record(_ event: FlowEvent)
    func recordError(_ cause: FlowCause, _ detail: String, status: Int?, url: String?, streamId: Int32?)
    /// A timer on the connection's loop (tests give one whose clock they advance).
    func makeTimer(_ handler: @escaping () -> Void) -> ExchangeTimer
}

extension HTTPExchange {
    /// The answer the proxy gives itself for this request.
    var localAnswer: HTTPResponse { context.localAnswer(method: method, url: url, keepAlive: keepAlive) }
}
