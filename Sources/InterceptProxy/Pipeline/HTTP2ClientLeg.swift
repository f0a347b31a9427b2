import Foundation

/// A tunnel whose client negotiated h2: each stream becomes one exchange, answered locally
/// (offline, catalogue) or forwarded as HTTP/1.1 over a small pool of upstream connections:
/// at most `maxUpstreams` per client connection, streams beyond that wait for a free one.
/// Owned by its ProxyConnection and confined to that connection's loop.
final class HTTP2ClientLeg: HTTP2ServerSessionDelegate {
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
    }

    // MARK: Upstream pool

    /// Gives the exchange a connection now (`attach`) or once one is free.
    func acquireUpstream(for exchange: HTTP2StreamExchange) {
        while let idle = idleUpstreams.popLast() {
            if idle.isClosed { upstreamCount -= 1; continue }  // the origin closed it while idle
            exchange.attach(idle)
            return
        }
        guard upstreamCount < Self.maxUpstreams else {
            waiting.append(exchange)
            return
        }
        let core = owner.core, target = owner.target!
        let made = UpstreamConnection(route: core.route(host: target.host, port: target.port), tls: core.upstreamTLS, loop: owner.connection.loop)
        upstreamCount += 1
        exchange.attach(made)
        made.start(timeout: core.configuration.connectTimeout)
    }

    /// Takes over a connection the tunnel already has (the one `--mimic-upstream` dialled for the
    /// certificate), so it serves streams instead of idling until the tunnel closes.
    func adopt(_ upstream: UpstreamConnection) {
        upstreamCount += 1
        releaseUpstream(upstream, reusable: true)
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
