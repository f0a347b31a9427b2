import FoundationEssentials

/// Who an HTTP/1.1 upstream connection serves now (one exchange at a time). Called on the loop.
protocol HTTP1UpstreamUser: AnyObject {
    func upstream(_ leg: HTTP1UpstreamLeg, received part: ResponsePart)
    /// One read from the origin is relayed (the client side may flush now).
    func upstreamReadProcessed(_ leg: HTTP1UpstreamLeg)
    /// The request bytes queued towards the origin are gone.
    func upstreamTookRequest(_ leg: HTTP1UpstreamLeg)
    /// The connection broke, or closed before the response was complete.
    func upstream(_ leg: HTTP1UpstreamLeg, failed failure: UpstreamFailure)
}

/// HTTP/1.1 over one upstream connection, both ways, for both client legs: request parts become
/// a request line, fields (Host first) and a body (chunked when its length is unknown); the
/// response is decoded strictly into parts that keep their bytes, so an HTTP/1.1 client gets them
/// verbatim. Serves one exchange at a time (`user`); between them the pool keeps it. A reset
/// stream's response can be read to its end and dropped (`drain`), so the connection serves the
/// next exchange instead of costing the origin a new one. Confined to the loop.
final class HTTP1UpstreamLeg: UpstreamConnectionDelegate {
    let transport: UpstreamTransport
    weak var user: HTTP1UpstreamUser?
    private var responses = HTTPResponseDecoder()
    private var chunkedRequest = false
    private var requestComplete = true
    private var responseComplete = true
    /// Whether the last response allows another request on the connection.
    private var keepsAlive = true
    private var draining: Drain?

    private struct Drain {
        var bytes = 0
        let timer: LoopTimer
        let done: (Bool) -> Void
    }

    /// A reset stream's response is read and dropped up to this many bytes and seconds.
    static let drainLimit = 256 * 1024
    static let drainTimeout: TimeInterval = 2

    /// Takes over `transport`, connecting or ready.
    init(transport: UpstreamTransport) {
        self.transport = transport
        transport.delegate = self
    }

    /// Whether the connection may serve another exchange: both messages complete, the response
    /// neither said close nor ran until the close.
    var isReusable: Bool {
        requestComplete && responseComplete && keepsAlive && draining == nil && !transport.isClosed
    }

    /// Whether the response being received can be read to its end and dropped (it is framed and
    /// the request is complete).
    var canDrain: Bool { requestComplete && !responses.readsUntilClose && keepsAlive && !transport.isClosed }

    var pendingOutbound: Int { transport.pendingOutbound }

    // MARK: The request

    func send(_ part: RequestPart) {
        switch part {
        case let .head(request):
            let (head, chunked) = request.http1Head()
            chunkedRequest = chunked
            requestComplete = false
            responseComplete = false
            keepsAlive = true
            responses.expectResponse(toMethod: request.method)
            transport.send(head)
        case let .body(bytes):
            guard !bytes.isEmpty else { return }
            transport.send(chunkedRequest ? HTTPWire.chunk(bytes) : bytes)
        case .end:
            if chunkedRequest { transport.send(HTTPWire.lastChunk()) }
            requestComplete = true
        }
    }

    /// After `101 Switching Protocols`: the connection leaves HTTP, with what the origin sent
    /// after the 101's head. The leg is done.
    func takeTransport() -> (UpstreamTransport, [UInt8]) {
        transport.delegate = nil
        user = nil
        return (transport, responses.takeBuffered())
    }

    // MARK: Draining

    /// Reads the rest of the response and drops it; `done(true)` once it ended within the bounds
    /// and the connection may serve again, `done(false)` when it is closed instead.
    func drain(then done: @escaping (Bool) -> Void) {
        user = nil
        let timer = LoopTimer(loop: transport.loop) { [weak self] in self?.endDrain(reusable: false) }
        timer.arm(after: Self.drainTimeout)
        draining = Drain(timer: timer, done: done)
        transport.resumeReading()
    }

    private func drain(_ plaintext: [UInt8]) {
        guard var drain = draining else { return }
        drain.bytes += plaintext.count
        draining = drain
        guard drain.bytes <= Self.drainLimit, let events = try? responses.feed(plaintext) else { return endDrain(reusable: false) }
        for event in events {
            if case let .head(head, _) = event, !(100..<200).contains(head.status) { keepsAlive = head.keepAliveResponse }
            if case .end = event {
                responseComplete = true
                return endDrain(reusable: keepsAlive && !responses.readsUntilClose)
            }
        }
    }

    private func endDrain(reusable: Bool) {
        guard let drain = draining else { return }
        draining = nil
        drain.timer.cancel()
        if !reusable { responseComplete = false }  // not reusable from here on
        drain.done(reusable)
    }

    // MARK: UpstreamConnectionDelegate

    func upstream(_ upstream: UpstreamTransport, received plaintext: [UInt8]) {
        if draining != nil { return drain(plaintext) }
        guard user != nil else {
            // Bytes between exchanges: nothing may come now (RFC 9112 9.3).
            keepsAlive = false
            return transport.close()
        }
        do {
            let events = try responses.feed(plaintext)
            var index = 0
            while index < events.count {
                // A bodyless response (HEAD, 204, 304, 101) ends with its head: its user may give
                // the connection back (reusable) while the head is delivered, and the next
                // exchange's request go out on it; the end is then that user's no more.
                if case .head = events[index], index + 1 < events.count, case .end = events[index + 1] {
                    responseComplete = true
                    let served = user
                    deliver(events[index])
                    if let served, served === user { deliver(.end) }
                    index += 2
                    continue
                }
                deliver(events[index])
                index += 1
            }
        } catch let error as HTTPParseError {
            return fail(.protocolError(error.reason))
        } catch {
            return fail(.protocolError("\(error)"))
        }
        user?.upstreamReadProcessed(self)
    }

    /// Hands `event` to the user; the connection's own state follows it even when the user has
    /// let go (a response that ended with its head).
    private func deliver(_ event: HTTPResponseDecoder.Event) {
        switch event {
        case let .head(head, raw):
            if !(100..<200).contains(head.status) { keepsAlive = head.keepAliveResponse }
            user?.upstream(self, received: .head(head, raw: raw))
        case let .body(bytes): user?.upstream(self, received: .body(bytes))
        case let .framing(bytes): user?.upstream(self, received: .framing(bytes))
        case let .trailer(name, value, raw): user?.upstream(self, received: .trailer(name: name, value: value, raw: raw))
        case .end:
            responseComplete = true
            if responses.readsUntilClose { keepsAlive = false }
            user?.upstream(self, received: .end)
        }
    }

    private func fail(_ failure: UpstreamFailure) {
        keepsAlive = false
        let user = self.user
        self.user = nil
        transport.fail(failure)  // its close reaches no one: the user hears it here
        user?.upstream(self, failed: failure)
    }

    func upstreamDrained(_ upstream: UpstreamTransport) {
        user?.upstreamTookRequest(self)
    }

    func upstreamClosed(_ upstream: UpstreamTransport, failure: UpstreamFailure?) {
        keepsAlive = false
        if draining != nil { return endDrain(reusable: false) }
        guard let user else { return }
        if failure == nil, let events = try? responses.finish() {
            events.forEach(deliver)  // a body delimited by the close ends here
            if responseComplete {
                self.user?.upstreamReadProcessed(self)
                return
            }
        }
        self.user = nil
        user.upstream(self, failed: failure ?? .closedEarly("the connection closed before the response was complete"))
    }
}

extension HTTPResponseHead {
    /// Whether the upstream connection may carry another request after this response.
    var keepAliveResponse: Bool {
        if headerContains("Connection", token: "close") { return false }
        return version == "HTTP/1.1" || headerContains("Connection", token: "keep-alive")
    }
}
