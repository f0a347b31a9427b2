import Foundation

/// A tunnel whose client negotiated h2: each stream becomes one exchange, answered locally
/// (offline, catalogue) or forwarded. The first upstream connection offers the client's ALPN
/// protocols and its answer decides for the tunnel: h2 carries every stream on that one
/// connection, one to one; HTTP/1.1 gets a small pool, at most `maxUpstreams` per client
/// connection, streams beyond that waiting for a free one.
/// Owned by its ProxyConnection and confined to that connection's loop.
final class HTTP2ClientLeg: HTTP2ServerSessionDelegate, HTTP2UpstreamConnectionOwner, UpstreamConnectionDelegate {
    /// Strong, like the owner's reference to the leg: `ProxyConnection.connectionClosed` breaks the cycle.
    let owner: ProxyConnection
    let session: HTTP2ServerSession
    private(set) var streams: [Int32: HTTP2StreamExchange] = [:]
    /// Upstream connections whose last response ended with keep-alive, ready for the next stream.
    private var idleUpstreams: [UpstreamConnection] = []
    /// Connections opened and not yet closed (busy or idle).
    private var upstreamCount = 0
    /// Streams waiting for a connection, oldest first.
    private var waiting: [HTTP2StreamExchange] = []
    static let maxUpstreams = 8

    /// Set once the origin chose HTTP/1.1 (or no ALPN) on the first connection: streams then use
    /// the pool. Until then, and while an h2 connection serves (`multiplexed`), they wait for a probe.
    private var originSpeaksHTTP1 = false
    /// The connection whose ALPN answer is awaited; streams wait for it.
    private var probe: UpstreamConnection?
    /// The h2 connection streams go to, while it takes new ones. One that stopped (GOAWAY) lives on
    /// through its streams' exchanges until they end.
    private var multiplexed: HTTP2UpstreamConnection?

    init(owner: ProxyConnection) throws {
        self.owner = owner
        session = try HTTP2ServerSession()
        session.delegate = self
    }

    /// Set while nghttp2 parses input: its callbacks start streams that may answer at once, and
    /// nghttp2 must not be asked for output from inside its own callbacks.
    private var receiving = false

    /// Decrypted bytes from the client.
    func receive(_ bytes: [UInt8]) {
        receiving = true
        do {
            try session.feed(bytes)
        } catch {
            owner.recordError("h2_protocol_error", "the client broke HTTP/2: \(error)")
        }
        receiving = false
        flush()
    }

    /// Moves whatever nghttp2 has ready to the client, unless the socket is backed up (the
    /// connection's drain calls this again) or nghttp2 is mid-parse (`receive` flushes after).
    func flush() {
        guard !receiving, owner.connection.pendingOutbound < ProxyConnection.backpressureLimit else { return }
        let output = session.takeOutput()
        if !output.isEmpty { owner.sendToClient(output) }
        for exchange in streams.values { exchange.resumeIfDrained() }
        if !session.isAlive && owner.phase != .closed { owner.closeClient() }
    }

    /// Graceful shutdown: no new streams, open ones finish.
    func goAway() {
        session.goAway()
        flush()
    }

    var hasOpenStreams: Bool { !streams.isEmpty }

    /// The client connection is gone: every upstream goes too.
    func closeAll() {
        waiting = []
        for exchange in streams.values { exchange.abandon() }
        streams = [:]
        idleUpstreams.forEach { $0.close() }
        idleUpstreams = []
        probe?.close()
        probe = nil
        multiplexed?.close()
        multiplexed = nil
    }

    // MARK: Upstream pool

    /// Gives the exchange a connection now (`attach`) or once one is free.
    func acquireUpstream(for exchange: HTTP2StreamExchange) {
        if let multiplexed, multiplexed.acceptsStreams {
            exchange.attach(multiplexed)
            return
        }
        guard originSpeaksHTTP1 else {
            waiting.append(exchange)
            if probe == nil { openProbe() }
            return
        }
        while let idle = idleUpstreams.popLast() {
            if idle.isClosed { upstreamCount -= 1; continue }  // the origin closed it while idle
            exchange.attach(idle)
            return
        }
        guard upstreamCount < Self.maxUpstreams else {
            waiting.append(exchange)
            return
        }
        upstreamCount += 1
        exchange.attach(dial(alpn: ["http/1.1"]))
    }

    /// A new connection to the tunnel's target, connecting (the owner sets its delegate meanwhile).
    private func dial(alpn: [String]?) -> UpstreamConnection {
        let core = owner.core, target = owner.target!
        let made = UpstreamConnection(route: owner.upstreamRoute(for: target), tls: core.upstreamTLS,
                                      loop: owner.connection.loop, alpn: alpn)
        made.start(timeout: core.configuration.connectTimeout)
        return made
    }

    /// Takes over a connection the tunnel already has (the one `--mimic-upstream` dialled for the
    /// certificate), so it serves streams instead of idling until the tunnel closes.
    func adopt(_ upstream: UpstreamConnection) {
        if upstream.isReady {
            settle(upstream)
        } else if !upstream.isClosed {
            probe = upstream
            upstream.delegate = self
        }
    }

    /// The first connection, offering what the client offered.
    private func openProbe() {
        let made = dial(alpn: owner.upstreamProtocols)
        made.delegate = self
        probe = made
    }

    /// The origin's ALPN answer decides: h2 multiplexes every stream on this connection; anything
    /// else makes it the first of the HTTP/1.1 pool. Waiting streams then go out.
    private func settle(_ upstream: UpstreamConnection) {
        let queued = waiting
        waiting = []
        if upstream.negotiatedProtocol == "h2" {
            do {
                let connection = try HTTP2UpstreamConnection(adopting: upstream)
                connection.owner = self
                multiplexed = connection
            } catch {
                upstream.close()
                queued.forEach { $0.upstreamUnavailable(.protocolError("\(error)")) }
                return
            }
        } else {
            originSpeaksHTTP1 = true
            upstreamCount += 1
            upstream.delegate = nil
            idleUpstreams.append(upstream)
        }
        queued.forEach(acquireUpstream)
    }

    /// An exchange is done with its connection: reused by a waiting stream, kept idle, or closed.
    func releaseUpstream(_ upstream: UpstreamConnection, reusable: Bool) {
        upstream.delegate = nil
        if reusable && !upstream.isClosed {
            if !waiting.isEmpty {
                waiting.removeFirst().attach(upstream)
            } else {
                idleUpstreams.append(upstream)
            }
            return
        }
        upstream.close()
        upstreamCount -= 1
        if !waiting.isEmpty { acquireUpstream(for: waiting.removeFirst()) }
    }

    /// A stream that went away while waiting for a connection.
    func stopWaiting(_ exchange: HTTP2StreamExchange) {
        waiting.removeAll { $0 === exchange }
    }

    // MARK: The probe's UpstreamConnectionDelegate

    func upstreamReady(_ upstream: UpstreamConnection) {
        guard upstream === probe else { return }
        probe = nil
        settle(upstream)
    }

    func upstreamClosed(_ upstream: UpstreamConnection, failure: UpstreamFailure?) {
        guard upstream === probe else { return }
        probe = nil
        let queued = waiting
        waiting = []
        let reason = failure ?? .closedEarly("the upstream closed the connection before it was ready")
        queued.forEach { $0.upstreamUnavailable(reason) }
    }

    func upstream(_ upstream: UpstreamConnection, received plaintext: [UInt8]) {}  // nothing is sent before it is ready
    func upstreamDrained(_ upstream: UpstreamConnection) {}

    // MARK: HTTP2UpstreamConnectionOwner

    func multiplexedInputProcessed(_ connection: HTTP2UpstreamConnection) {
        flush()  // once per upstream read, so a stream's last DATA and END_STREAM share a frame
    }

    func multiplexedConnectionEnded(_ connection: HTTP2UpstreamConnection) {
        if multiplexed === connection {
            multiplexed = nil  // the next stream asks again, on a new connection
        }
    }

    // MARK: HTTP2ServerSessionDelegate

    func http2Request(_ head: HTTP2RequestHead, stream: Int32, endStream: Bool) {
        let exchange = HTTP2StreamExchange(stream: stream, head: head, leg: self)
        streams[stream] = exchange
        exchange.begin(endStream: endStream)
    }

    func http2RequestData(_ bytes: [UInt8], stream: Int32) {
        streams[stream]?.requestBody(bytes)
    }

    func http2RequestEnded(stream: Int32) {
        streams[stream]?.requestEnded()
    }

    func http2StreamClosed(stream: Int32, errorCode: UInt32) {
        guard let exchange = streams.removeValue(forKey: stream) else { return }
        exchange.streamClosed(errorCode: errorCode)
        // A draining connection is not closed here: nghttp2 reports the close while its last frame
        // still sits in `flush`'s output. `flush` closes once that is sent and the GOAWAY'd session ends.
    }
}
