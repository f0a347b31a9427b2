import Foundation

/// One HTTP/2 stream of an intercepted tunnel: the request goes upstream as HTTP/1.1 (or is
/// answered locally) and the response comes back as HEADERS, DATA and trailers on the same stream.
/// Confined to the connection's loop (the `@unchecked Sendable` only lets timers carry it there).
final class HTTP2StreamExchange: UpstreamConnectionDelegate, @unchecked Sendable {
    let stream: Int32
    let head: HTTP2RequestHead
    /// Strong: a stream's work can end its connection (and the owner's last reference to the leg)
    /// while the stream is still unwinding. The leg drops its streams when they close.
    let leg: HTTP2ClientLeg
    private var upstream: UpstreamConnection?
    private var responses = HTTPResponseDecoder()
    private var chunkedRequest = false
    private var requestComplete = false
    private var status: Int?
    private var responseHeaders: [(name: String, value: String)] = []
    private var trailers: [(name: String, value: String)] = []
    private var requestBodyBytes = 0
    private var responseBodyBytes = 0
    private var finished = false
    private var upstreamPaused = false
    private var upstreamKeepsAlive = true
    private var responseTimer: DispatchWorkItem?
    /// Request body that arrived while the stream waited for an upstream connection.
    private var bufferedBody: [[UInt8]] = []
    /// Request-body bytes received but not yet acknowledged to the client (see `acknowledgeBody`).
    private var unacknowledged = 0
    private var awaitingUpstream = false
    /// The request as an HTTP/1.1 head, for whichever connection the stream gets.
    private var http1Head: [UInt8] = []
    private let started = Date()

    init(stream: Int32, head: HTTP2RequestHead, leg: HTTP2ClientLeg) {
        self.stream = stream
        self.head = head
        self.leg = leg
    }

    private var owner: ProxyConnection { leg.owner }
    private var session: HTTP2ServerSession { leg.session }
    var url: String { "\(head.scheme)://\(head.authority.isEmpty ? owner.target?.host ?? "" : head.authority)\(head.path)" }

    func begin(endStream: Bool) {
        var request = owner.event(.request)
        request.method = head.method
        request.url = url
        // Pseudo-headers first, as browsers' HAR exports show h2 requests.
        request.headers = [[":method", head.method], [":scheme", head.scheme], [":authority", head.authority], [":path", head.path]]
            + head.headers.map { [$0.name, $0.value] }
        request.httpVersion = "HTTP/2"
        request.streamId = Int(stream)
        owner.core.recorder.record(request)
        owner.sawRequest = true
        requestComplete = endStream

        if head.method == "CONNECT" {
            respondLocally(HTTPResponse.text(501, "intercept-proxy: CONNECT inside an HTTP/2 tunnel (RFC 8441 WebSockets over h2) is not supported; use HTTP/1.1 for WebSockets"))
            return
        }
        if owner.answersLocally {
            if endStream { respondLocally(owner.localResponse(method: head.method, url: url, keepAlive: true)) }
            return
        }
        let translated = head.http1(hasBody: !endStream)
        http1Head = translated.bytes
        chunkedRequest = translated.chunked
        awaitingUpstream = true
        leg.acquireUpstream(for: self)
    }

    /// The leg hands over a connection (new, idle or freed by another stream): the request goes out.
    func attach(_ upstream: UpstreamConnection) {
        awaitingUpstream = false
        self.upstream = upstream
        upstream.delegate = self
        responses = HTTPResponseDecoder()
        responses.expectResponse(toMethod: head.method)
        upstream.send(http1Head)
        bufferedBody.forEach(sendBody)
        bufferedBody = []
        acknowledgeBody()
        if requestComplete && chunkedRequest { upstream.send(Array("0\r\n\r\n".utf8)) }
        armResponseTimer()
    }

    func requestBody(_ bytes: [UInt8]) {
        requestBodyBytes += bytes.count
        unacknowledged += bytes.count
        if awaitingUpstream {
            bufferedBody.append(bytes)  // bounded by the stream's window: nothing is acknowledged yet
            return
        }
        sendBody(bytes)
        acknowledgeBody()
    }

    /// Lets the client send more once the upstream socket has room (or nothing goes upstream).
    /// Returns whether a window update is now due.
    @discardableResult
    private func acknowledgeBody() -> Bool {
        guard unacknowledged > 0 else { return false }
        if let upstream, upstream.pendingOutbound > ProxyConnection.backpressureLimit { return false }  // upstreamDrained retries
        session.consumed(unacknowledged, stream: stream)
        unacknowledged = 0
        return true
    }

    private func sendBody(_ bytes: [UInt8]) {
        upstream?.send(chunkedRequest ? Array("\(String(bytes.count, radix: 16))\r\n".utf8) + bytes + [13, 10] : bytes)
    }

    func requestEnded() {
        requestComplete = true
        if owner.answersLocally, status == nil {
            respondLocally(owner.localResponse(method: head.method, url: url, keepAlive: true))
        } else if chunkedRequest && !awaitingUpstream {
            upstream?.send(Array("0\r\n\r\n".utf8))
        }
    }

    /// Gives the connection back to the leg; only a connection between responses is reusable.
    private func detachUpstream(reusable: Bool) {
        guard let upstream else { return }
        self.upstream = nil
        leg.releaseUpstream(upstream, reusable: reusable)
    }

    /// The client reset the stream, or the stream completed.
    func streamClosed(errorCode: UInt32) {
        responseTimer?.cancel()
        session.consumed(unacknowledged, stream: stream)  // a closed stream's bytes still count for the connection
        unacknowledged = 0
        if awaitingUpstream { leg.stopWaiting(self) }
        if !finished {
            owner.recordError("h2_stream_reset", "stream \(stream) was reset (HTTP/2 error code \(errorCode)) before its response ended", url: url)
            detachUpstream(reusable: false)  // mid-response: the connection cannot carry another request
        }
    }

    /// The client connection is gone.
    func abandon() {
        responseTimer?.cancel()
        if !finished {
            owner.recordError("client_closed", "the client closed the connection before the response on stream \(stream) ended", url: url)
        }
        upstream?.close()
        upstream = nil
    }

    /// Resumes reading the upstream once the client has taken most of what was queued.
    func resumeIfDrained() {
        if upstreamPaused, session.queuedBytes(stream: stream) < ProxyConnection.backpressureLimit / 2 {
            upstreamPaused = false
            upstream?.resumeReading()
        }
    }

    private func respondLocally(_ response: HTTPResponse) {
        finished = true  // before nghttp2 may send (and close) the stream
        let isHEAD = head.method == "HEAD"
        status = response.status
        responseHeaders = response.headers.map { (name: $0.0, value: $0.1) } + [("content-length", String(response.body.count))]
        session.respond(stream: stream, status: response.status, headers: responseHeaders, endStream: isHEAD || response.body.isEmpty)
        if !isHEAD && !response.body.isEmpty {
            session.send(response.body, stream: stream)
            session.finish(stream: stream)
        }
        responseBodyBytes = isHEAD ? 0 : response.body.count
        complete()
    }

    private func complete() {
        finished = true
        responseTimer?.cancel()
        var responded = owner.event(.response)
        responded.status = status
        responded.method = head.method
        responded.url = url
        responded.bodyBytes = responseBodyBytes
        responded.requestBodyBytes = requestBodyBytes
        responded.httpVersion = "HTTP/2"
        responded.streamId = Int(stream)
        responded.headers = responseHeaders.map { [$0.name, $0.value] }
        responded.durationMs = Date().timeIntervalSince(started) * 1000
        owner.core.recorder.record(responded)
        leg.flush()
    }

    private func armResponseTimer() {
        responseTimer?.cancel()
        let timeout = owner.core.configuration.responseTimeout
        responseTimer = owner.connection.loop.schedule(after: timeout) { [weak self] in
            guard let self, !self.finished else { return }
            self.detachUpstream(reusable: false)
            self.failed(.timeout("waiting \(Int(timeout)) s for a response from \(self.owner.target?.host ?? "upstream")"))
        }
    }

    /// Before the response started: a 502/504 on the stream. After: RST_STREAM, so the client sees
    /// a broken transfer on this stream only.
    private func failed(_ failure: UpstreamFailure) {
        guard !finished else { return }
        owner.recordError(failure.cause, failure.message, status: status == nil ? failure.status : nil, url: url)
        if status == nil {
            respondLocally(HTTPResponse.text(failure.status, "intercept-proxy: \(failure.message)"))
        } else {
            finished = true
            session.reset(stream: stream)
            leg.flush()
        }
    }

    // MARK: UpstreamConnectionDelegate

    func upstream(_ upstream: UpstreamConnection, received plaintext: [UInt8]) {
        guard upstream === self.upstream else { return }
        armResponseTimer()
        do {
            for event in try responses.feed(plaintext) { relay(event) }
            // Once per read, not per event: the last body bytes and the end then share one DATA
            // frame with END_STREAM (curl resets streams whose END_STREAM trails the body).
            leg.flush()
        } catch let error as HTTPParseError {
            detachUpstream(reusable: false)
            failed(.protocolError(error.reason))
        } catch {
            detachUpstream(reusable: false)
            failed(.protocolError("\(error)"))
        }
    }

    func upstreamDrained(_ upstream: UpstreamConnection) {
        // The WINDOW_UPDATE goes out from a socket event, never inside nghttp2's own callbacks.
        if acknowledgeBody() { leg.flush() }
    }

    func upstreamClosed(_ upstream: UpstreamConnection, failure: UpstreamFailure?) {
        guard upstream === self.upstream else { return }
        if let events = try? responses.finish() { events.forEach(relay) }
        detachUpstream(reusable: false)
        guard !finished else { return }
        failed(failure ?? .closedEarly("the connection closed before the response to \(head.method) \(url) was complete"))
    }

    private func relay(_ event: HTTPResponseDecoder.Event) {
        guard !finished else { return }
        switch event {
        case let .head(head, _):
            guard !(100..<200).contains(head.status) else { return }  // interim responses stay on the HTTP/1.1 leg
            status = head.status
            responseHeaders = head.headers
            upstreamKeepsAlive = head.keepAliveResponse
            let bodyless = self.head.method == "HEAD" || head.status == 204 || head.status == 304
            session.respond(stream: stream, status: head.status, headers: head.headers, endStream: bodyless)
        case let .body(raw, payload):
            if payload > 0 {
                responseBodyBytes += payload
                let queued = session.send(raw, stream: stream)
                if queued > ProxyConnection.backpressureLimit, !upstreamPaused {
                    upstreamPaused = true
                    upstream?.pauseReading()
                }
            }
        case let .trailer(name, value, _):
            trailers.append((name, value))
        case .end:
            finished = true  // before anything flushes the END_STREAM and closes the stream
            let bodyless = head.method == "HEAD" || status == 204 || status == 304
            if !bodyless { session.finish(stream: stream, trailers: trailers) }
            detachUpstream(reusable: upstreamKeepsAlive && !responses.readsUntilClose && requestComplete)
            complete()
        }
    }
}
