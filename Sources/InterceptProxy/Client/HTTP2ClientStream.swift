import FoundationEssentials
import Dispatch

/// One HTTP/2 stream of the client leg: its `HTTPExchange` (records, timer, local answers,
/// 502/504) goes upstream as a stream of its own on an h2 connection, or as HTTP/1.1 on a pooled
/// connection (or is answered locally), and the response comes back as HEADERS, DATA and
/// trailers on the same stream. Sees its connection only through `ExchangeContext`.
/// Confined to the connection's loop (the `@unchecked Sendable` only lets timers carry it there).
/// Its upstream side (pooled HTTP/1.1 or an h2 stream, and draining a reset stream's response)
/// is in HTTP2ClientStream+Upstream.swift; its state is the stream's own, for these two files only.
final class HTTP2ClientStream: ExchangeResponder, @unchecked Sendable {
    enum Upstream {
        case none
        /// HTTP/1.1 on a pooled connection, the response framed by `responses`.
        case http1(UpstreamConnection)
        /// A stream of its own on the leg's multiplexed h2 connection.
        case http2(HTTP2UpstreamConnection, stream: Int32)
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
    var upstream = Upstream.none
    /// Response DATA from an h2 upstream not yet acknowledged, because the client has not taken it.
    var unconsumedResponse = 0
    /// How often the upstream refused the stream unprocessed (it is then sent again on a new connection).
    var refusals = 0
    var responses = HTTPResponseDecoder()
    var chunkedRequest = false
    var requestComplete = false
    var trailers: [(name: String, value: String)] = []
    /// Set once nothing more goes to the client on this stream (answered, aborted, or draining).
    var finished = false
    var upstreamPaused = false
    var upstreamKeepsAlive = true
    /// Request body that arrived while the stream waited for an upstream connection.
    var bufferedBody: [[UInt8]] = []
    /// Request-body bytes received but not yet acknowledged to the client (see `acknowledgeBody`).
    var unacknowledged = 0
    var awaitingUpstream = false
    /// Attached to an HTTP/1.1 connection that is still connecting: nothing was sent on it yet.
    var awaitingConnect = false
    /// Reading and dropping the rest of a reset stream's response (see `startDraining`).
    var draining = false
    var drainedBytes = 0
    var drainTimer: LoopTimer?
    /// The request as an HTTP/1.1 head, for whichever connection the stream gets.
    var http1Head: [UInt8] = []

    /// Records the request (the exchange's request event).
    init(stream: Int32, head received: HTTP2RequestHead, leg: HTTP2ClientLeg, context: ExchangeContext) {
        var head = received
        refusal = head.resolveAuthority()
        self.stream = stream
        self.head = head
        self.leg = leg
        self.context = context
        let origin = head.authority.isEmpty ? context.target?.host ?? "" : head.authority
        exchange = HTTPExchange(context: context, method: head.method, url: "\(head.scheme)://\(origin)\(head.path)",
                                clientVersion: "HTTP/2", streamId: stream, keepAlive: true,
                                // Pseudo-headers first, as browsers' HAR exports show h2 requests.
                                requestHeaders: FlowHeaders([(":method", head.method), (":scheme", head.scheme), (":authority", head.authority),
                                                             (":path", head.path)] + head.headers))
        exchange.responder = self
    }

    var session: HTTP2ClientLegSession { leg.session }
    var url: String { exchange.url }

    func begin(endStream: Bool) {
        context.loop.assertInEventLoop()
        context.requestArrived()
        requestComplete = endStream

        if let refusal {
            exchange.recordError(.badRequest, refusal, status: 400)
            exchange.answer(HTTPResponse.text(400, "intercept-proxy: \(refusal)"))
            return
        }
        if head.method == "CONNECT" {
            exchange.answer(HTTPResponse.text(501, "intercept-proxy: CONNECT inside an HTTP/2 tunnel (RFC 8441 WebSockets over h2) is not supported; use HTTP/1.1 for WebSockets"))
            return
        }
        if context.answersLocally {
            if endStream { exchange.answer(exchange.localAnswer) }
            return
        }
        awaitingUpstream = true
        leg.pool.acquire(for: self)
        if awaitingUpstream { exchange.armResponseTimer() }  // also bounds the wait for a connection (a stalled upstream handshake)
    }

    func requestBody(_ bytes: [UInt8]) {
        context.loop.assertInEventLoop()
        exchange.requestBodyBytes += bytes.count
        unacknowledged += bytes.count
        if awaitingUpstream || awaitingConnect {
            bufferedBody.append(bytes)  // bounded by the stream's window: nothing is acknowledged yet
            return
        }
        sendBody(bytes)
        acknowledgeBody()
    }

    /// Lets the client send more once the upstream socket has room (or nothing goes upstream).
    /// Returns whether a window update is now due.
    @discardableResult
    func acknowledgeBody() -> Bool {
        guard unacknowledged > 0 else { return false }
        switch upstream {  // upstreamDrained / upstreamStreamWritable retry
        case let .http1(connection) where connection.pendingOutbound > ClientConnection.backpressureLimit: return false
        case let .http2(connection, id) where connection.queuedBytes(stream: id) > ClientConnection.backpressureLimit: return false
        default: break
        }
        session.consumed(unacknowledged, stream: stream)
        unacknowledged = 0
        return true
    }

    func sendBody(_ bytes: [UInt8]) {
        switch upstream {
        case let .http1(connection):
            connection.send(chunkedRequest ? HTTPWire.chunk(bytes) : bytes)
        case let .http2(connection, id):
            connection.send(bytes, stream: id)
            connection.flush()
        case .none:
            break
        }
    }

    func requestEnded() {
        context.loop.assertInEventLoop()
        requestComplete = true
        if context.answersLocally, exchange.status == nil {
            exchange.answer(exchange.localAnswer)
        } else if case let .http1(connection) = upstream, chunkedRequest, !awaitingConnect {
            connection.send(HTTPWire.lastChunk())
        } else if case let .http2(connection, id) = upstream {
            connection.finish(stream: id)
            connection.flush()
        }
    }

    /// Gives the connection back to the leg; only a connection between responses is reusable.
    /// On h2, the stream is released when complete and cancelled (RST_STREAM) otherwise.
    func detachUpstream(reusable: Bool) {
        switch upstream {
        case .none:
            return
        case let .http1(connection):
            upstream = .none
            awaitingConnect = false
            leg.pool.release(connection, reusable: reusable)
        case let .http2(connection, id):
            upstream = .none
            if reusable { connection.release(stream: id) } else { connection.cancel(stream: id) }
        }
    }

    /// The client reset the stream, or the stream completed.
    func streamClosed(errorCode: UInt32) {
        context.loop.assertInEventLoop()
        exchange.cancelResponseTimer()
        session.consumed(unacknowledged, stream: stream)  // a closed stream's bytes still count for the connection
        unacknowledged = 0
        if awaitingUpstream { leg.pool.stopWaiting(self) }
        if !finished {
            context.recordError(.h2StreamReset, "stream \(stream) was reset (\(HTTP2Session.errorName(errorCode))) before its response ended",
                                status: nil, url: url, streamId: stream)
            if case .http1 = upstream, requestComplete, !awaitingConnect, !responses.readsUntilClose {
                startDraining()
                return
            }
            // Mid-request, the connection cannot carry another one; one still connecting carried nothing.
            detachUpstream(reusable: awaitingConnect)
        }
    }

    /// The client connection is gone. `quietly`: the proxy ended it and recorded why (a flood,
    /// rapid resets), so the streams cut short need no event each.
    func abandon(quietly: Bool = false) {
        context.loop.assertInEventLoop()
        exchange.cancelResponseTimer()
        drainTimer?.cancel()
        if !finished && !quietly {
            let cut = exchange.cutShort
            exchange.connectionEnded(cut.cause, cut.detail)
        }
        switch upstream {
        case let .http1(connection): connection.close()
        case let .http2(connection, id): connection.cancel(stream: id)
        case .none: break
        }
        upstream = .none
    }

    /// Resumes reading the upstream once the client has taken most of what was queued.
    func resumeIfDrained() {
        guard upstreamPaused, session.queuedBytes(stream: stream) < ClientConnection.backpressureLimit / 2 else { return }
        upstreamPaused = false
        switch upstream {
        case let .http1(connection):
            connection.resumeReading()
        case let .http2(connection, id):
            connection.consumed(unconsumedResponse, stream: id)  // WINDOW_UPDATE: the upstream may send again
            unconsumedResponse = 0
            connection.flush()
        case .none:
            break
        }
    }

    // MARK: ExchangeResponder

    func writeLocal(_ response: HTTPResponse, for exchange: HTTPExchange) -> (headers: [(name: String, value: String)], bodyBytes: Int) {
        finished = true  // before nghttp2 may send (and close) the stream
        let headers = response.headers.map { (name: $0.0, value: $0.1) } + [("content-length", String(response.body.count))]
        session.respond(stream: stream, status: response.status, headers: headers, endStream: exchange.isHEAD || response.body.isEmpty)
        if !exchange.isHEAD && !response.body.isEmpty {
            session.send(response.body, stream: stream)
            session.finish(stream: stream)
        }
        return (headers, exchange.isHEAD ? 0 : response.body.count)
    }

    func localAnswerEnded(_ exchange: HTTPExchange, closeConnection: Bool) {
        leg.flush()  // h2 answers on the stream; the connection stays
    }

    /// RST_STREAM, so the client sees a broken transfer on this stream only.
    func abortResponse(of exchange: HTTPExchange, failure: UpstreamFailure) {
        finished = true
        session.reset(stream: stream, errorCode: failure.http2ErrorCode)
        leg.flush()
    }

    func responseTimerFired(for exchange: HTTPExchange) {
        guard !finished else { return }
        if awaitingUpstream {
            awaitingUpstream = false
            leg.pool.stopWaiting(self)
        }
        detachUpstream(reusable: false)
        failed(exchange.timeoutFailure)
    }

    func failed(_ failure: UpstreamFailure) {
        guard !finished else { return }
        exchange.fail(failure)
    }

    func relay(_ part: ResponsePart) {
        guard !finished else { return }
        switch part {
        case let .head(head):
            guard !(100..<200).contains(head.status) else { return }  // interim responses stay on the HTTP/1.1 leg
            exchange.responseStarted(status: head.status, headers: head.headers)
            upstreamKeepsAlive = head.keepAliveResponse
            let bodyless = self.head.method == "HEAD" || head.status == 204 || head.status == 304
            session.respond(stream: stream, status: head.status, headers: head.headers, endStream: bodyless)
        case let .body(bytes):
            let payload = bytes.count
            if payload > 0 {
                exchange.responseBodyBytes += payload
                let queued = session.send(bytes, stream: stream)
                switch upstream {
                case let .http2(connection, id):
                    // Only this stream is held back: its DATA is acknowledged once the client takes it.
                    if queued > ClientConnection.backpressureLimit { upstreamPaused = true }
                    if upstreamPaused { unconsumedResponse += payload } else { connection.consumed(payload, stream: id) }
                case let .http1(connection) where queued > ClientConnection.backpressureLimit && !upstreamPaused:
                    upstreamPaused = true
                    connection.pauseReading()
                default:
                    break
                }
            }
        case let .trailer(name, value):
            trailers.append((name, value))
        case .end:
            finished = true  // before anything flushes the END_STREAM and closes the stream
            let bodyless = head.method == "HEAD" || exchange.status == 204 || exchange.status == 304
            if !bodyless { session.finish(stream: stream, trailers: trailers) }
            if case .http2 = upstream {
                detachUpstream(reusable: requestComplete)
            } else {
                detachUpstream(reusable: upstreamKeepsAlive && !responses.readsUntilClose && requestComplete)
            }
            exchange.complete()
            leg.flush()
        }
    }
}
