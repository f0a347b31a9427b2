/// One exchange's upstream side, as the pool sees it: what it hands connections to.
protocol PooledExchange: AnyObject {
    /// An HTTP/1.1 connection (new, idle or freed by another exchange), possibly still connecting.
    func attach(_ leg: HTTP1UpstreamLeg)
    /// The tunnel's h2 connection: the exchange opens a stream of its own on it.
    func attach(_ connection: HTTP2UpstreamConnection)
    /// No connection could be had (the first one's connect or handshake failed).
    func upstreamUnavailable(_ failure: UpstreamFailure)
}

/// Told once a batch of input from the multiplexed connection is processed (flush the client
/// side once per read).
protocol UpstreamPoolOwner: AnyObject {
    func upstreamPoolInputProcessed()
}

/// The upstream connections of one tunnel (or of one plain-HTTP origin) and the policy that
/// shares them among its exchanges, whichever HTTP version the client speaks. The first
/// connection (the probe) offers the client's ALPN protocols and its answer decides for the
/// tunnel: h2 carries every exchange on that one connection, one stream each; HTTP/1.1 gets a
/// pool of at most `maxUpstreams` connections, exchanges beyond that waiting for a free one, and
/// a connection between responses serving the next. A request that switches protocols gets an
/// HTTP/1.1 connection of its own whatever the origin chose. Confined to the loop.
final class UpstreamPool: UpstreamConnectionDelegate, HTTP2UpstreamConnectionOwner {
    static let maxUpstreams = 8

    private let dialer: UpstreamDialer
    private let loop: EventLoop
    /// What the probe offers by ALPN: the client's protocols that the proxy speaks.
    private let probeProtocols: [String]?
    weak var owner: UpstreamPoolOwner?

    /// HTTP/1.1 connections whose last response allowed reuse, ready for the next exchange.
    private var idle: [HTTP1UpstreamLeg] = []
    /// Connections reading a reset stream's response to its end before serving again.
    private var draining: [ObjectIdentifier: HTTP1UpstreamLeg] = [:]
    /// HTTP/1.1 connections opened and not yet closed (busy, idle or draining).
    private(set) var http1Count = 0
    /// Exchanges waiting for a connection, oldest first.
    private var waiting: [PooledExchange] = []
    /// Set once the origin chose HTTP/1.1 (or no ALPN) on the probe: exchanges then use the pool.
    /// Until then, and while an h2 connection serves (`multiplexed`), they wait for a probe.
    private var originSpeaksHTTP1 = false
    /// The connection whose ALPN answer is awaited; exchanges wait for it.
    private var probe: UpstreamTransport?
    /// The h2 connection exchanges go to, while it takes new streams. One that stopped (GOAWAY)
    /// lives on through its streams until they end.
    private var multiplexed: HTTP2UpstreamConnection?

    init(dialer: UpstreamDialer, loop: EventLoop, probeProtocols: [String]?) {
        self.dialer = dialer
        self.loop = loop
        self.probeProtocols = probeProtocols
    }

    /// Exchanges waiting for a connection now.
    var waitingCount: Int { waiting.count }

    /// Gives the exchange a connection now (`attach`) or once one is free. `http1`: the request
    /// switches protocols (WebSocket), which h2 cannot carry.
    func acquire(for exchange: PooledExchange, http1: Bool = false) {
        loop.assertInEventLoop()
        if http1 && !originSpeaksHTTP1 {
            http1Count += 1
            return exchange.attach(HTTP1UpstreamLeg(transport: dialer.dial(alpn: ["http/1.1"])))
        }
        if let multiplexed, multiplexed.acceptsStreams {
            return exchange.attach(multiplexed)
        }
        guard originSpeaksHTTP1 else {
            waiting.append(exchange)
            if probe == nil { openProbe() }
            return
        }
        while let leg = idle.popLast() {
            if leg.transport.isClosed { http1Count -= 1; continue }  // the origin closed it while idle
            return exchange.attach(leg)
        }
        guard http1Count < Self.maxUpstreams else { return waiting.append(exchange) }
        http1Count += 1
        exchange.attach(HTTP1UpstreamLeg(transport: dialer.dial(alpn: ["http/1.1"])))
    }

    /// An exchange is done with its HTTP/1.1 connection: reused by a waiting exchange, kept idle,
    /// or closed when it cannot serve again.
    func release(_ leg: HTTP1UpstreamLeg) {
        loop.assertInEventLoop()
        leg.user = nil
        guard leg.isReusable, originSpeaksHTTP1 else { return discard(leg) }
        if waiting.isEmpty {
            idle.append(leg)
        } else {
            waiting.removeFirst().attach(leg)
        }
    }

    /// An exchange gives up its connection mid-response (a reset stream, a client gone): the
    /// rest is read and dropped so that the connection serves again, when that is possible.
    func abandon(_ leg: HTTP1UpstreamLeg) {
        loop.assertInEventLoop()
        guard leg.canDrain, originSpeaksHTTP1 else { return discard(leg) }
        let key = ObjectIdentifier(leg)
        draining[key] = leg
        leg.drain { [weak self, leg] reusable in
            guard let self else { return }
            self.draining[key] = nil
            if reusable { self.release(leg) } else { self.discard(leg) }
        }
    }

    /// Closes a connection that cannot serve again; a waiting exchange may have a new one.
    func discard(_ leg: HTTP1UpstreamLeg) {
        loop.assertInEventLoop()
        leg.user = nil
        leg.transport.close()
        forget(leg)
    }

    /// A connection left the pool (closed, or handed over after `101 Switching Protocols`).
    func forget(_ leg: HTTP1UpstreamLeg) {
        http1Count -= 1
        if !waiting.isEmpty { acquire(for: waiting.removeFirst()) }
    }

    /// An exchange that went away while waiting for a connection.
    func stopWaiting(_ exchange: PooledExchange) {
        waiting.removeAll { $0 === exchange }
    }

    /// Takes over a connection the tunnel already has (the one `--mimic-upstream` dialled for the
    /// certificate), so it serves exchanges instead of idling until the tunnel closes; `received`
    /// is what it sent before (an h2 origin's SETTINGS).
    func adopt(_ transport: UpstreamTransport, received: [UInt8]) {
        loop.assertInEventLoop()
        if transport.isReady {
            settle(transport)
            if let multiplexed, !received.isEmpty { multiplexed.upstream(transport, received: received) }
        } else if !transport.isClosed {
            probe = transport
            transport.delegate = self
        }
    }

    /// The tunnel is going: no exchange waits any more.
    func cancelWaiting() {
        waiting = []
    }

    /// The tunnel is gone: every connection goes too.
    func closeAll() {
        waiting = []
        idle.forEach { $0.transport.close() }
        idle = []
        draining.values.forEach { $0.transport.close() }
        draining = [:]
        probe?.close()
        probe = nil
        multiplexed?.close()
        multiplexed = nil
    }

    private func openProbe() {
        let made = dialer.dial(alpn: probeProtocols)
        made.delegate = self
        probe = made
    }

    /// The origin's ALPN answer decides: h2 multiplexes every exchange on this connection; anything
    /// else makes it the first of the HTTP/1.1 pool. Waiting exchanges then go out.
    private func settle(_ transport: UpstreamTransport) {
        let queued = waiting
        waiting = []
        if transport.negotiatedProtocol == "h2" {
            do {
                let connection = try HTTP2UpstreamConnection(adopting: transport)
                connection.owner = self
                multiplexed = connection
            } catch {
                transport.close()
                queued.forEach { $0.upstreamUnavailable(.protocolError("\(error)")) }
                return
            }
        } else {
            originSpeaksHTTP1 = true
            http1Count += 1
            idle.append(HTTP1UpstreamLeg(transport: transport))
        }
        queued.forEach { acquire(for: $0) }
    }

    // MARK: The probe's UpstreamConnectionDelegate

    func upstreamReady(_ upstream: UpstreamTransport) {
        loop.assertInEventLoop()
        guard upstream === probe else { return }
        probe = nil
        settle(upstream)
    }

    func upstreamClosed(_ upstream: UpstreamTransport, failure: UpstreamFailure?) {
        loop.assertInEventLoop()
        guard upstream === probe else { return }
        probe = nil
        let queued = waiting
        waiting = []
        let reason = failure ?? .closedEarly("the upstream closed the connection before it was ready")
        queued.forEach { $0.upstreamUnavailable(reason) }
    }

    func upstream(_ upstream: UpstreamTransport, received plaintext: [UInt8]) {}  // nothing is sent before it is ready
    func upstreamDrained(_ upstream: UpstreamTransport) {}

    // MARK: HTTP2UpstreamConnectionOwner

    func multiplexedInputProcessed(_ connection: HTTP2UpstreamConnection) {
        loop.assertInEventLoop()
        owner?.upstreamPoolInputProcessed()  // once per upstream read, so a stream's last DATA and END_STREAM share a frame
    }

    func multiplexedConnectionEnded(_ connection: HTTP2UpstreamConnection) {
        loop.assertInEventLoop()
        if multiplexed === connection {
            multiplexed = nil  // the next exchange asks again, on a new connection
        }
    }
}
