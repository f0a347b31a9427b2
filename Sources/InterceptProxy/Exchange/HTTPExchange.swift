import Dispatch
import FoundationEssentials

/// What a client leg writes for an exchange, in its protocol's framing (HTTP/1.1 bytes, h2
/// frames on the exchange's stream). The leg frames; the exchange decides (`ExchangeMachine`).
enum ExchangeWrite {
    case interim(HTTPResponseHead, raw: [UInt8]?)
    case head(HTTPResponseHead, raw: [UInt8]?, bodyless: Bool)
    case body([UInt8])
    case framing([UInt8])
    case trailer(name: String, value: String, raw: [UInt8]?)
    case end
    /// A response the proxy gives itself (its headers get a content length; a HEAD's body is dropped).
    case local(HTTPResponse)
    /// The upstream failed after the response started: a truncated HTTP/1.1 body, RST_STREAM on h2.
    case abort(UpstreamFailure)
    /// One upstream read is relayed: what was written may leave now, together.
    case flush
}

/// The client leg's half of an exchange.
protocol ExchangeResponder: AnyObject {
    func write(_ write: ExchangeWrite, for exchange: HTTPExchange)
    /// The exchange has its end (response, answer, failure, abort or cut); `closeConnection`: the
    /// client connection must not carry another request.
    func exchangeEnded(_ exchange: HTTPExchange, closeConnection: Bool)
    /// `101 Switching Protocols` went to the client: bytes are relayed both ways from now on.
    func switchProtocols(_ exchange: HTTPExchange, upstream: UpstreamTransport, early: [UInt8])
    /// Whether the client has response bytes it has not taken yet (a silent upstream is not the
    /// one keeping the exchange waiting then).
    var clientBacklogged: Bool { get }
    /// The upstream took the request body queued for it: the client may send more.
    func requestBodyDrained(_ exchange: HTTPExchange)
}

/// One request and its response, whichever HTTP version either leg speaks: the flow record
/// (request, response and error events), the response timer, its upstream (`ExchangeUpstream`:
/// a pooled HTTP/1.1 connection or an h2 stream) and the answers the proxy gives itself. Its
/// decisions are `ExchangeMachine`'s; this carries them out. The client leg turns the wire into
/// calls here and frames what it is told to write. Confined to the connection's loop.
final class HTTPExchange: ExchangeUpstreamDelegate, @unchecked Sendable {
    /// Strong: the client leg drops its exchanges when the connection closes.
    let context: ExchangeContext
    weak var responder: ExchangeResponder?
    let method: String
    /// The URL for the flow log: absolute, with the tunnel's origin when the request named none.
    let url: String
    /// The client's protocol version ("HTTP/1.1", "HTTP/2").
    let clientVersion: String
    /// The client's h2 stream, nil on HTTP/1.
    let streamId: Int32?
    private let started = Date()
    private var machine: ExchangeMachine
    private var upstream: ExchangeUpstream?
    /// Made at the first arming (a local answer never needs one).
    private var responseTimer: ExchangeTimer?

    /// Starts the exchange: records the request event (`requestHeaders` as the client leg shows them).
    init(context: ExchangeContext, method: String, url: String, clientVersion: String, streamId: Int32? = nil,
         keepAlive: Bool, requestHeaders: FlowHeaders) {
        self.context = context
        self.method = method
        self.url = url
        self.clientVersion = clientVersion
        self.streamId = streamId
        machine = ExchangeMachine(method: method, clientSpeaksHTTP1: streamId == nil, keepAlive: keepAlive,
                                  responseTimeout: context.responseTimeout, upstreamName: context.target?.host ?? "upstream")
        var request = context.event(.request)
        request.method = method
        request.url = url
        request.headers = requestHeaders
        request.httpVersion = clientVersion
        request.streamId = streamId.map(Int.init)
        context.record(request)
    }

    var isHEAD: Bool { method == "HEAD" }
    var keepAlive: Bool { machine.keepAlive }
    /// Set once the final response head is out (from upstream or local).
    var status: Int? { machine.status }
    var state: ExchangeMachine.State { machine.state }
    /// Set once the exchange has its end on record: the response event, or an error event.
    var hasEnded: Bool { machine.hasEnded }
    var requestBodyBytes: Int { machine.requestBodyBytes }

    // MARK: The request (from the client leg)

    /// Sends the request upstream over a connection from `pool` (an h2 stream or an HTTP/1.1
    /// connection); the response timer starts.
    func forward(_ request: UpstreamRequest, pool: UpstreamPool) {
        guard !hasEnded else { return }
        let made = ExchangeUpstream(pool: pool, request: request, delegate: self)
        upstream = made
        handle(.forwarded)
        made.start()
    }

    func requestBody(_ bytes: [UInt8]) {
        handle(.requestBody(bytes: bytes.count))
        upstream?.sendBody(bytes)
    }

    func requestEnded() {
        upstream?.endRequest()
    }

    /// Request bytes waiting to go upstream (the client leg stops reading beyond a bound).
    var requestBacklog: Int { upstream?.pendingOutbound ?? 0 }

    /// The client stopped or resumed taking response bytes: the upstream is read accordingly.
    func clientTakesResponse(_ takes: Bool) {
        if takes { upstream?.resumeResponse() } else { upstream?.pauseResponse() }
    }

    // MARK: Decisions from outside the upstream

    /// Answers without an upstream.
    func answer(_ response: HTTPResponse) { handle(.answer(response)) }

    /// No response can come from upstream (see `ExchangeMachine`: 502/504 or an abort).
    func fail(_ failure: UpstreamFailure) { upstreamFailed(failure) }

    /// The client reset its h2 stream.
    func clientReset(errorName: String) { handle(.clientReset(errorName: errorName)) }

    /// The connection is going before the response ended: the client left (`client_closed`), the
    /// proxy stopped (`shutdown`), or it refused another request on the connection. The end goes
    /// on record once (unless `recorded` is false: the connection's one event said why).
    func connectionEnded(_ cause: FlowCause, _ detail: String, status: Int? = nil, recorded: Bool = true) {
        handle(.connectionEnded(cause, detail, status: status, recorded: recorded))
    }

    /// `connectionEnded` with the reason the connection gives.
    func connectionEnded(recorded: Bool = true) {
        let cut = cutShort
        connectionEnded(cut.cause, cut.detail, recorded: recorded)
    }

    /// Why the connection's end cut this exchange.
    var cutShort: (cause: FlowCause, detail: String) {
        if context.isForcedClosed {
            return (.shutdown, "the proxy stopped before the response to \(method) \(url) ended (grace period over)")
        }
        if let refusal = context.refusal {
            return (refusal.cause, "the connection closed before the response to \(method) \(url) ended: \(refusal.reason)")
        }
        return (.clientClosed, "the client closed the connection before the response to \(method) \(url) ended")
    }

    /// An error event about this exchange (its URL and stream; on h2 the detail names the stream).
    func recordError(_ cause: FlowCause, _ detail: String, status: Int? = nil) {
        context.recordError(cause, streamId.map { "stream \($0): \(detail)" } ?? detail, status: status, url: url, streamId: streamId)
    }

    // MARK: ExchangeUpstreamDelegate

    func upstreamAttached(version: String) { handle(.upstreamAttached(version: version)) }
    func upstreamReceived(_ part: ResponsePart) { handle(.response(part)) }
    func upstreamFailed(_ failure: UpstreamFailure) {
        if let page = context.untrustedUpstreamAnswer(failure, url: url, keepAlive: keepAlive) {
            handle(.upstreamBlocked(failure, page))
        } else {
            handle(.upstreamFailed(failure))
        }
    }
    func upstreamReadProcessed() { responder?.write(.flush, for: self) }
    func upstreamTookRequestBody() { responder?.requestBodyDrained(self) }

    // MARK: Carrying out the machine's actions

    private func handle(_ event: ExchangeMachine.Event) {
        for action in machine.receive(event) { perform(action) }
    }

    private func perform(_ action: ExchangeMachine.Action) {
        switch action {
        case let .writeInterim(head, raw): responder?.write(.interim(head, raw: raw), for: self)
        case let .writeHead(head, raw, bodyless): responder?.write(.head(head, raw: raw, bodyless: bodyless), for: self)
        case let .writeBody(bytes): responder?.write(.body(bytes), for: self)
        case let .writeFraming(bytes): responder?.write(.framing(bytes), for: self)
        case let .writeTrailer(name, value, raw): responder?.write(.trailer(name: name, value: value, raw: raw), for: self)
        case .endResponse: responder?.write(.end, for: self)
        case .switchProtocols:
            guard let (transport, early) = upstream?.takeTransport() else {
                responder?.exchangeEnded(self, closeConnection: true)
                return
            }
            upstream = nil
            responder?.switchProtocols(self, upstream: transport, early: early)
        case let .writeLocal(response, _):
            responder?.write(.local(response), for: self)
        case let .abortResponse(failure):
            responder?.write(.abort(failure), for: self)
        case .releaseUpstream:
            upstream?.release()
            upstream = nil
        case let .finished(close):
            responder?.exchangeEnded(self, closeConnection: close)
        case .abandonUpstream:
            upstream?.abandon()
            upstream = nil
        case let .armResponseTimer(seconds):
            let timer = responseTimer ?? context.makeTimer { [weak self] in
                guard let self else { return }
                self.handle(.responseTimerFired(clientBacklogged: self.responder?.clientBacklogged ?? false))
            }
            responseTimer = timer
            timer.arm(after: seconds)
        case .cancelResponseTimer:
            responseTimer?.cancel()
        case .recordResponse:
            recordResponse()
        case let .recordError(cause, detail, status):
            recordError(cause, detail, status: status)
        }
    }

    private func recordResponse() {
        var responded = context.event(.response)
        responded.status = machine.status
        responded.method = method
        responded.url = url
        responded.bodyBytes = machine.responseBodyBytes
        responded.requestBodyBytes = machine.requestBodyBytes
        responded.httpVersion = clientVersion
        responded.streamId = streamId.map(Int.init)
        responded.upstreamHttpVersion = machine.upstreamVersion
        responded.headers = FlowHeaders(machine.responseHeaders)
        responded.durationMs = Date().timeIntervalSince(started) * 1000
        context.record(responded)
    }
}

/// A timer an exchange arms and cancels: a `LoopTimer` on the connection's loop, or in unit tests
/// one whose clock the test advances.
protocol ExchangeTimer: AnyObject {
    func arm(after seconds: TimeInterval)
    func cancel()
}

extension LoopTimer: ExchangeTimer {}
