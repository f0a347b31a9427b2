import Dispatch
import FoundationEssentials

/// The client leg's half of an exchange: writes the answers the exchange decides on in its
/// protocol's framing (HTTP/1.1 bytes, h2 frames on the exchange's stream).
protocol ExchangeResponder: AnyObject {
    /// Writes a response the proxy gives itself; returns its fields and body bytes as sent, for
    /// the flow event.
    func writeLocal(_ response: HTTPResponse, for exchange: HTTPExchange) -> (headers: [(name: String, value: String)], bodyBytes: Int)
    /// After a local answer's response event: what the connection does next (close, flush ...).
    func localAnswerEnded(_ exchange: HTTPExchange, closeConnection: Bool)
    /// The upstream failed after the response had started: the client must see a broken transfer.
    func abortResponse(of exchange: HTTPExchange, failure: UpstreamFailure)
    /// Nothing came from upstream for `responseTimeout` (see `armResponseTimer`).
    func responseTimerFired(for exchange: HTTPExchange)
}

/// One request and its response, whichever HTTP version either leg speaks: the flow record
/// (request and response events), the response timer, and the answers the proxy gives itself
/// (offline and catalogue answers, 502/504 before a response started, aborts after). The client
/// leg turns the wire into calls here and writes what this decides (`ExchangeResponder`).
/// Confined to the connection's loop.
final class HTTPExchange: @unchecked Sendable {
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
    /// Whether the client connection may carry another request after this one (always on h2).
    let keepAlive: Bool
    private let started = Date()
    var requestBodyBytes = 0
    /// Set once the final response head is out (from upstream or local): from then on a failure
    /// aborts the transfer instead of answering 502/504.
    private(set) var status: Int?
    private var responseHeaders: [(name: String, value: String)] = []
    var responseBodyBytes = 0
    /// The upstream leg's protocol, for the flow log; nil when answered locally.
    var upstreamVersion: String?
    /// Set once the response event is recorded.
    private(set) var isComplete = false
    /// Set once the exchange has its end on record: the response event, or an error event.
    private(set) var hasEnded = false
    /// Set when the connection's end cut it (`connectionEnded`): nothing more is recorded for it.
    private var wasCut = false
    /// Made at the first arming (a local answer never needs one).
    private var responseTimer: LoopTimer?

    /// Starts the exchange: records the request event (`requestHeaders` as the client leg shows them).
    init(context: ExchangeContext, method: String, url: String, clientVersion: String, streamId: Int32? = nil,
         keepAlive: Bool, requestHeaders: FlowHeaders) {
        self.context = context
        self.method = method
        self.url = url
        self.clientVersion = clientVersion
        self.streamId = streamId
        self.keepAlive = keepAlive
        var request = context.event(.request)
        request.method = method
        request.url = url
        request.headers = requestHeaders
        request.httpVersion = clientVersion
        request.streamId = streamId.map(Int.init)
        context.core.recorder.record(request)
    }

    var isHEAD: Bool { method == "HEAD" }

    // MARK: The response

    /// The final response head arrived from upstream.
    func responseStarted(status: Int, headers: [(name: String, value: String)]) {
        self.status = status
        responseHeaders = headers
    }

    /// The response ended: its event is recorded, the timer stops.
    func complete() {
        guard !isComplete, !wasCut else { return }
        isComplete = true
        hasEnded = true
        responseTimer?.cancel()
        var responded = context.event(.response)
        responded.status = status
        responded.method = method
        responded.url = url
        responded.bodyBytes = responseBodyBytes
        responded.requestBodyBytes = requestBodyBytes
        responded.httpVersion = clientVersion
        responded.streamId = streamId.map(Int.init)
        responded.upstreamHttpVersion = upstreamVersion
        responded.headers = FlowHeaders(responseHeaders)
        responded.durationMs = Date().timeIntervalSince(started) * 1000
        context.core.recorder.record(responded)
    }

    // MARK: Local answers

    /// Answers without an upstream: written by the responder, then recorded.
    func answer(_ response: HTTPResponse) {
        guard let responder else { return }
        status = response.status
        let sent = responder.writeLocal(response, for: self)
        responseHeaders = sent.headers
        responseBodyBytes = sent.bodyBytes
        complete()
        responder.localAnswerEnded(self, closeConnection: response.closeConnection || !keepAlive)
    }

    /// What the proxy answers itself (offline mode, the badssl catalogue, http://intercept-proxy.test/ca.pem).
    var localAnswer: HTTPResponse {
        let profile = context.core.authority.profile.storageName
        let host = context.target?.host
        if let host, TrustAnchorSite.contains(host) {
            return TrustAnchorSite.response(method: method, url: url, authority: context.core.authority, keepAlive: keepAlive)
        }
        if let host, BadSSLCatalogue.contains(host) {
            return HTTPResponse.text(200, BadSSLCatalogue.answer(host: host, profile: profile), close: !keepAlive)
        }
        let handshake: String
        switch context.treatment {
        case nil: handshake = "plain HTTP request for \(host ?? "?") (no TLS involved)"
        case let .publicSite(why)?:
            handshake = "\(host ?? "?") is not intercepted (\(why)); the TLS handshake with the site's own certificate "
                + "(public stand-in root) succeeded, so this client still trusts the public roots"
        case .intercepted?, .spliced?: handshake = "the TLS handshake for \(host ?? "?") succeeded, so this client trusts the \(profile) root CA"
        }
        let text = """
            intercept-proxy offline: \(handshake).
            No upstream was contacted (--offline).
            request: \(method) \(url)
            """
        return HTTPResponse.text(200, text, close: !keepAlive)
    }

    /// No response can come from upstream: before the response started, a 502/504 saying why
    /// (RFC 9110 15.6.3, 15.6.5); after, the responder aborts the transfer (a truncated HTTP/1.1
    /// body, RST_STREAM on h2), so the client never takes a partial response for a whole one.
    func fail(_ failure: UpstreamFailure) {
        guard !isComplete, !hasEnded else { return }
        recordError(failure.cause, failure.message, status: status == nil ? failure.status : nil)
        if status == nil {
            answer(HTTPResponse.text(failure.status, "intercept-proxy: \(failure.message)", close: true))  // ends it
        } else {
            hasEnded = true
            responseTimer?.cancel()
            responder?.abortResponse(of: self, failure: failure)
        }
    }

    /// The connection is going before the response ended: the client left (`client_closed`), the
    /// proxy stopped (`shutdown`), or the proxy refused another request on the connection. The
    /// request's end goes on record, once, whichever client leg carried it.
    func connectionEnded(_ cause: FlowCause, _ detail: String, status: Int? = nil) {
        guard !hasEnded else { return }
        hasEnded = true
        wasCut = true
        responseTimer?.cancel()
        recordError(cause, detail, status: status)
    }

    /// Why the connection's end cut this exchange, as `connectionEnded` records it.
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

    // MARK: The response timer

    /// (Re-)arms the response timer: re-armed by every upstream read, so an upstream silent for
    /// `responseTimeout`, before the head or mid-body, ends the exchange with a 504 or an abort.
    func armResponseTimer() {
        let timer = responseTimer ?? LoopTimer(loop: context.loop) { [weak self] in
            guard let self, !self.isComplete else { return }
            self.responder?.responseTimerFired(for: self)
        }
        responseTimer = timer
        timer.arm(after: context.core.configuration.responseTimeout)
    }

    func cancelResponseTimer() {
        responseTimer?.cancel()
    }

    /// What a response timeout is reported as.
    var timeoutFailure: UpstreamFailure {
        .timeout("waiting \(Int(context.core.configuration.responseTimeout)) s for a response from \(context.target?.host ?? "upstream")")
    }
}
