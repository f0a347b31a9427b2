import FoundationEssentials

/// The stream's upstream side: the pool hands it an HTTP/1.1 connection (the request translated,
/// the response decoded) or the tunnel's h2 connection (a stream of its own); a reset stream
/// drains its HTTP/1.1 response so the connection serves the next.
extension HTTP2ClientStream: PooledExchange, UpstreamConnectionDelegate, HTTP2UpstreamStreamDelegate {
    /// The pool hands over an HTTP/1.1 connection (new, idle or freed by another stream): the request
    /// goes out once it is connected. Until then it carries nothing, so a stream reset meanwhile
    /// hands it back for the next stream instead of closing it (a rapid reset costs no new dials).
    func attach(_ upstream: UpstreamConnection) {
        context.loop.assertInEventLoop()
        awaitingUpstream = false
        self.upstream = .http1(upstream)
        exchange.upstreamVersion = "HTTP/1.1"
        upstream.delegate = self
        if upstream.isReady {
            sendRequest(on: upstream)
        } else {
            awaitingConnect = true  // request body waits in `bufferedBody`
        }
        exchange.armResponseTimer()
    }

    func upstreamReady(_ upstream: UpstreamConnection) {
        context.loop.assertInEventLoop()
        guard isCurrent(upstream), awaitingConnect else { return }
        awaitingConnect = false
        sendRequest(on: upstream)
    }

    func sendRequest(on upstream: UpstreamConnection) {
        if http1Head.isEmpty {
            let translated = head.http1(hasBody: !requestComplete || !bufferedBody.isEmpty)
            http1Head = translated.bytes
            chunkedRequest = translated.chunked
        }
        responses = HTTPResponseDecoder()
        responses.expectResponse(toMethod: head.method)
        upstream.send(http1Head)
        bufferedBody.forEach(sendBody)
        bufferedBody = []
        // The WINDOW_UPDATE for what waited must go out now: this runs from the upstream's event, and
        // no later "drained" will find anything left to acknowledge (writes are sent at the event's end).
        if acknowledgeBody() { leg.flush() }
        if requestComplete && chunkedRequest { upstream.send(HTTPWire.lastChunk()) }
    }

    /// The tunnel's h2 connection to the origin takes the request as a stream of its own.
    func attach(_ connection: HTTP2UpstreamConnection) {
        context.loop.assertInEventLoop()
        let endStream = requestComplete && bufferedBody.isEmpty
        guard let id = connection.open(h2RequestFields, endStream: endStream, delegate: self) else {
            upstreamUnavailable(.closedEarly("the upstream's HTTP/2 connection took no new stream"))
            return
        }
        awaitingUpstream = false
        upstream = .http2(connection, stream: id)
        exchange.upstreamVersion = "HTTP/2"
        bufferedBody.forEach { connection.send($0, stream: id) }
        bufferedBody = []
        if requestComplete && !endStream { connection.finish(stream: id) }
        if acknowledgeBody() { leg.flush() }  // as in `sendRequest`
        exchange.armResponseTimer()
        connection.flush()
    }

    /// No connection could be had for the stream (the first one's connect or handshake failed).
    func upstreamUnavailable(_ failure: UpstreamFailure) {
        context.loop.assertInEventLoop()
        awaitingUpstream = false
        failed(failure)
    }

    /// The client's request as the upstream stream's fields: pseudo-headers first, the rest as sent.
    var h2RequestFields: [(String, String)] {
        let authority = head.authority.isEmpty ? context.target.map { HTTPWire.authority(host: $0.host, port: $0.port) } ?? "" : head.authority
        return [(":method", head.method), (":scheme", head.scheme), (":authority", authority), (":path", head.path.isEmpty ? "/" : head.path)]
            + head.headers.compactMap(HTTP2Session.h2Field)
    }

    // MARK: Draining a reset stream's HTTP/1.1 response

    /// The rest of the response, up to `drainLimit` bytes and `drainTimeout`, is read and dropped
    /// so that the connection serves the next stream: closing it instead would make every reset
    /// stream cost the origin a new connection (a rapid reset spread over many reads).
    func startDraining() {
        draining = true
        finished = true  // nothing more reaches the client
        leg.keepDraining(self)
        if case let .http1(connection) = upstream, upstreamPaused {
            upstreamPaused = false
            connection.resumeReading()
        }
        exchange.cancelResponseTimer()
        drainTimer = context.loop.schedule(after: Self.drainTimeout) { [weak self] in
            if self?.draining == true { self?.stopDraining(reusable: false) }
        }
    }

    static let drainLimit = 256 * 1024
    static let drainTimeout: TimeInterval = 2

    func drain(_ plaintext: [UInt8]) {
        drainedBytes += plaintext.count
        guard drainedBytes <= Self.drainLimit, let events = try? responses.feed(plaintext) else {
            stopDraining(reusable: false)
            return
        }
        for event in events {
            if case let .head(head, _) = event, !(100..<200).contains(head.status) { upstreamKeepsAlive = head.keepAliveResponse }
            if case .end = event {
                stopDraining(reusable: upstreamKeepsAlive && !responses.readsUntilClose)
                return
            }
        }
    }

    func stopDraining(reusable: Bool) {
        draining = false
        drainTimer?.cancel()
        detachUpstream(reusable: reusable)
        leg.stopDraining(self)
    }

    // MARK: UpstreamConnectionDelegate

    func isCurrent(_ connection: UpstreamConnection) -> Bool {
        if case let .http1(current) = upstream { return current === connection }
        return false
    }

    func upstream(_ upstream: UpstreamConnection, received plaintext: [UInt8]) {
        context.loop.assertInEventLoop()
        guard isCurrent(upstream) else { return }
        if draining { return drain(plaintext) }
        exchange.armResponseTimer()
        do {
            for event in try responses.feed(plaintext) { if let part = event.part { relay(part) } }
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
        context.loop.assertInEventLoop()
        // The WINDOW_UPDATE goes out from a socket event, never inside nghttp2's own callbacks.
        if acknowledgeBody() { leg.flush() }
    }

    func upstreamClosed(_ upstream: UpstreamConnection, failure: UpstreamFailure?) {
        context.loop.assertInEventLoop()
        guard isCurrent(upstream) else { return }
        if draining { return stopDraining(reusable: false) }
        if let events = try? responses.finish() { events.forEach { if let part = $0.part { relay(part) } } }
        detachUpstream(reusable: false)
        guard !finished else { return }
        failed(failure ?? .closedEarly("the connection closed before the response to \(head.method) \(url) was complete"))
    }

    // MARK: HTTP2UpstreamStreamDelegate

    func isCurrent(_ id: Int32) -> Bool {
        if case let .http2(_, current) = upstream { return current == id }
        return false
    }

    func upstreamStream(_ id: Int32, received part: ResponsePart) {
        context.loop.assertInEventLoop()
        guard isCurrent(id) else { return }
        exchange.armResponseTimer()
        relay(part)  // the leg flushes once the upstream's read is processed
    }

    func upstreamStream(_ id: Int32, failed failure: UpstreamFailure, refused: Bool) {
        context.loop.assertInEventLoop()
        guard case let .http2(connection, current) = upstream, current == id else { return }
        upstream = .none
        if StreamRetry.mayResend(unprocessed: refused, responseStarted: exchange.status != nil, requestBodyBytes: exchange.requestBodyBytes,
                                 clientGone: finished, earlierRefusals: refusals, connectionMadeProgress: connection.madeProgress) {
            refusals += 1
            awaitingUpstream = true
            leg.pool.acquire(for: self)
            return
        }
        failed(failure)
    }

    func upstreamStreamWritable(_ id: Int32) {
        context.loop.assertInEventLoop()
        if acknowledgeBody() { leg.flush() }
    }
}
