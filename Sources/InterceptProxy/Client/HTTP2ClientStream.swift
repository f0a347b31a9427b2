import FoundationEssentials
import Dispatch

/// One HTTP/2 stream of the client leg: the h2 framing of one `HTTPExchange`, which decides
/// everything else (where the request goes, 502/504, what is recorded). Its request goes to the
/// exchange as it arrives; what the exchange writes becomes HEADERS, DATA and trailers on the
/// stream. Request-body bytes are acknowledged (WINDOW_UPDATE) once the upstream has taken them,
/// response DATA held back once the client's queue is full. Sees its connection only through
/// `ExchangeContext`. Confined to the connection's loop.
final class HTTP2ClientStream: ExchangeResponder, @unchecked Sendable {
    /// Where the stream is, from the client's side.
    enum State: Equatable {
        /// The request (its body) may still arrive.
        case receiving
        /// END_STREAM came: the whole request is in.
        case requestComplete
        /// Nothing more goes to the client (answered, aborted, or the stream is closed).
        case finished
    }

    let stream: Int32
    let head: HTTP2RequestHead
    /// Why the request is refused before anything goes upstream (two authorities), if it is.
    private let refusal: String?
    /// Strong: a stream's work can end its connection (and the owner's last reference to the leg)
    /// while the stream is still unwinding. The leg drops its streams when they close.
    let leg: HTTP2ClientLeg
    let context: ExchangeContext
    let exchange: HTTPExchange
    private(set) var state = State.receiving
    /// Request-body bytes received but not yet acknowledged to the client (see `acknowledgeBody`).
    private var unacknowledged = 0
    /// Set while the client's queue on this stream is too full: the upstream is held back.
    private var holdingUpstream = false
    private var trailers: [(name: String, value: String)] = []
    private var bodyless = false

    /// Records the request (the exchange's request event).
    init(stream: Int32, head received: HTTP2RequestHead, leg: HTTP2ClientLeg, context: ExchangeContext) {
        var head = received
        refusal = head.resolveAuthority()
        let named = head.authority
        // Neither :authority nor Host: the tunnel's origin, the one place a default is taken.
        if head.authority.isEmpty, let target = context.target { head.authority = HTTPWire.authority(host: target.host, port: target.port) }
        self.stream = stream
        self.head = head
        self.leg = leg
        self.context = context
        exchange = HTTPExchange(context: context, method: head.method, url: "\(head.scheme)://\(head.authority)\(head.path)",
                                clientVersion: "HTTP/2", streamId: stream, keepAlive: true,
                                // Pseudo-headers first, as browsers' HAR exports show h2 requests.
                                requestHeaders: FlowHeaders([(":method", head.method), (":scheme", head.scheme), (":authority", named),
                                                             (":path", head.path)] + head.headers))
        exchange.responder = self
    }

    var session: HTTP2ClientLegSession { leg.session }

    func begin(endStream: Bool) {
        context.loop.assertInEventLoop()
        context.requestArrived()
        if endStream { state = .requestComplete }
        if let refusal {
            exchange.recordError(.badRequest, refusal, status: 400)
            return exchange.answer(HTTPResponse.text(400, "intercept-proxy: \(refusal)"))
        }
        if head.method == "CONNECT" {
            return exchange.answer(HTTPResponse.text(501, "intercept-proxy: CONNECT inside an HTTP/2 tunnel (RFC 8441 WebSockets over h2) is not supported; use HTTP/1.1 for WebSockets"))
        }
        guard !context.answersLocally, let pool = leg.pool else {
            if endStream { exchange.answer(exchange.localAnswer) }
            return
        }
        exchange.forward(head.upstreamRequest(hasBody: !endStream), pool: pool)
        if endStream { exchange.requestEnded() }
    }

    func requestBody(_ bytes: [UInt8]) {
        context.loop.assertInEventLoop()
        unacknowledged += bytes.count
        exchange.requestBody(bytes)
        acknowledgeBody()
    }

    func requestEnded() {
        context.loop.assertInEventLoop()
        guard state == .receiving else { return }
        state = .requestComplete
        if context.answersLocally || leg.pool == nil {
            exchange.answer(exchange.localAnswer)
        } else {
            exchange.requestEnded()
        }
    }

    /// Lets the client send more once the upstream has room (or nothing goes upstream).
    /// Returns whether a window update is now due.
    @discardableResult
    func acknowledgeBody() -> Bool {
        guard unacknowledged > 0, exchange.requestBacklog <= ClientConnection.backpressureLimit else { return false }
        session.consumed(unacknowledged, stream: stream)
        unacknowledged = 0
        return true
    }

    /// The client reset the stream, or the stream completed.
    func streamClosed(errorCode: UInt32) {
        context.loop.assertInEventLoop()
        session.consumed(unacknowledged, stream: stream)  // a closed stream's bytes still count for the connection
        unacknowledged = 0
        if state != .finished { exchange.clientReset(errorName: HTTP2Session.errorName(errorCode)) }
        state = .finished
    }

    /// The client connection is gone. `quietly`: the proxy ended it and recorded why (a flood,
    /// rapid resets), so the streams cut short need no event each.
    func abandon(quietly: Bool = false) {
        context.loop.assertInEventLoop()
        exchange.connectionEnded(recorded: !quietly)
        state = .finished
    }

    /// Resumes the upstream once the client has taken most of what was queued.
    func resumeIfDrained() {
        guard holdingUpstream, session.queuedBytes(stream: stream) < ClientConnection.backpressureLimit / 2 else { return }
        holdingUpstream = false
        exchange.clientTakesResponse(true)
    }

    // MARK: ExchangeResponder

    func write(_ write: ExchangeWrite, for exchange: HTTPExchange) {
        switch write {
        case .interim, .framing:
            break  // interim responses and chunk framing are HTTP/1.1's
        case let .head(head, _, bodyless):
            self.bodyless = bodyless
            session.respond(stream: stream, status: head.status, headers: head.headers, endStream: bodyless)
        case let .body(bytes):
            guard !bytes.isEmpty, !bodyless else { return }
            if session.send(bytes, stream: stream) > ClientConnection.backpressureLimit, !holdingUpstream {
                holdingUpstream = true
                exchange.clientTakesResponse(false)
            }
        case let .trailer(name, value, _):
            trailers.append((name, value))
        case .end:
            state = .finished  // before anything flushes the END_STREAM and closes the stream
            if !bodyless { session.finish(stream: stream, trailers: trailers) }
        case let .local(response):
            state = .finished  // before nghttp2 may send (and close) the stream
            let headers = response.headers.map { (name: $0.0, value: $0.1) } + [("content-length", String(response.body.count))]
            session.respond(stream: stream, status: response.status, headers: headers, endStream: exchange.isHEAD || response.body.isEmpty)
            if !exchange.isHEAD && !response.body.isEmpty {
                session.send(response.body, stream: stream)
                session.finish(stream: stream)
            }
        case let .abort(failure):
            state = .finished
            session.reset(stream: stream, errorCode: failure.http2ErrorCode)
        case .flush:
            leg.flush()
        }
    }

    func exchangeEnded(_ exchange: HTTPExchange, closeConnection: Bool) {
        leg.flush()  // h2 answers on the stream; the connection stays
    }

    func switchProtocols(_ exchange: HTTPExchange, upstream: UpstreamTransport, early: [UInt8]) {
        upstream.close()  // the machine refuses 101 on h2; nothing to relay
    }

    var clientBacklogged: Bool { false }

    func requestBodyDrained(_ exchange: HTTPExchange) {
        // The WINDOW_UPDATE goes out from a socket event, never inside nghttp2's own callbacks.
        if acknowledgeBody() { leg.flush() }
    }
}

extension HTTP2RequestHead {
    /// The request as it goes upstream (RFC 9113 8.3.1): `:authority` is the authority (Host on
    /// HTTP/1.1), cookies split over fields are joined again, and a body without content-length
    /// is of unknown length (chunked on HTTP/1.1).
    func upstreamRequest(hasBody: Bool) -> UpstreamRequest {
        var fields: [(name: String, value: String)] = []
        var cookies: [String] = []
        for (name, value) in headers {
            switch name {
            case "cookie": cookies.append(value)
            case _ where HTTP2Session.connectionSpecificFields.contains(name): continue
            default: fields.append((name, value))
            }
        }
        if !cookies.isEmpty { fields.append(("cookie", cookies.joined(separator: "; "))) }
        let length = headers.first { $0.name == "content-length" }.flatMap { Int($0.value) }
        let body: UpstreamRequest.Body = !hasBody ? (length.map { .length($0) } ?? .none) : length.map { .length($0) } ?? .unknown
        return UpstreamRequest(method: method, scheme: scheme, authority: authority, target: path.isEmpty ? "/" : path,
                               fields: fields, body: body)
    }
}
