/// One exchange's upstream side, as the pool sees it: what it hands connections to.
protocol PooledExchange: AnyObject {
    /// An HTTP/1.1 connection (new, idle or freed by another exchange), possibly still connecting.
    func attach(_ upstream: UpstreamConnection)
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

/// The upstream connections of one tunnel and the policy that shares them among its exchanges.
/// The first connection (the probe) offers the client's ALPN protocols and its answer decides for
/// the tunnel: h2 carries every exchange on that one connection, one stream each; HTTP/1.1 gets a
/// pool of at most `maxUpstreams` connections, exchanges beyond that waiting for a free one, and
/// a connection between responses serving the next. Confined to the loop.
final class UpstreamPool: UpstreamConnectionDelegate, HTTP2UpstreamConnectionOwner {
    static let maxUpstreams = 8

    private let route: UpstreamRoute
    private let tls: TLSClientContext?
    private let loop: EventLoop
    private let connectTimeout: Double
    /// What the probe offers by ALPN: the client's protocols that the proxy speaks.
    private let probeProtocols: [String]?
    weak var owner: UpstreamPoolOwner?

    /// Upstream connections whose last response ended with keep-alive, ready for the next exchange.
    private var idleUpstreams: [UpstreamConnection] = []
    /// HTTP/1.1 connections opened and not yet closed (busy or idle).
    private var upstreamCount = 0
    /// Exchanges waiting for a connection, oldest first.
    private var waiting: [PooledExchange] = []
    /// Set once the origin chose HTTP/1.1 (or no ALPN) on the probe: exchanges then use the pool.
    /// Until then, and while an h2 connection serves (`multiplexed`), they wait for a probe.
    private var originSpeaksHTTP1 = false
    /// The connection whose ALPN answer is awaited; exchanges wait for it.
    private var probe: UpstreamConnection?
    /// The h2 connection exchanges go to, while it takes new streams. One that stopped (GOAWAY)
    /// lives on through its streams until they end.
    private var multiplexed: HTTP2UpstreamConnection?

    init(route: UpstreamRoute, tls: TLSClientContext?, loop: EventLoop, connectTimeout: Double, probeProtocols: [String]?) {
        self.route = route
        self.tls = tls
        self.loop = loop
        self.connectTimeout = connectTimeout
        self.probeProtocols = probeProtocols
    }

    /// Gives the exchange a connection now (`attach`) or once one is free.
    func acquire(for exchange: PooledExchange) {
        loop.assertInEventLoop()
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

    /// An exchange is done with its HTTP/1.1 connection: reused by a waiting exchange, kept idle, or closed.
    func release(_ upstream: UpstreamConnection, reusable: Bool) {
        loop.assertInEventLoop()
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
        if !waiting.isEmpty { acquire(for: waiting.removeFirst()) }
    }

    /// An exchange that went away while waiting for a connection.
    func stopWaiting(_ exchange: PooledExchange) {
        waiting.removeAll { $0 === exchange }
    }

    /// Takes over a connection the tunnel already has (the one `--mimic-upstream` dialled for the
    /// certificate), so it serves exchanges instead of idling until the tunnel closes; `received`
    /// is what it sent before (an h2 origin's SETTINGS).
    func adopt(_ upstream: UpstreamConnection, received: [UInt8]) {
        loop.assertInEventLoop()
        if upstream.isReady {
            settle(upstream)
            if let multiplexed, !received.isEmpty { multiplexed.upstream(upstream, received: received) }
        } else if !upstream.isClosed {
            probe = upstream
            upstream.delegate = self
        }
    }

    /// The tunnel is going: no exchange waits any more.
    func cancelWaiting() {
        waiting = []
    }

    /// The tunnel is gone: every connection goes too.
    func closeAll() {
        waiting = []
        idleUpstreams.forEach { $0.close() }
        idleUpstreams = []
        probe?.close()
        probe = nil
        multiplexed?.close()
        multiplexed = nil
    }

    /// A new connection to the tunnel's origin, connecting (its first user sets its delegate).
    private func dial(alpn: [String]?) -> UpstreamConnection {
        let made = UpstreamConnection(route: route, tls: tls, loop: loop, alpn: alpn)
        made.start(timeout: connectTimeout)
        return made
    }

    private func openProbe() {
        let made = dial(alpn: probeProtocols)
        made.delegate = self
        probe = made
    }

    /// The origin's ALPN answer decides: h2 multiplexes every exchange on this connection; anything
    /// else makes it the first of the HTTP/1.1 pool. Waiting exchanges then go out.
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
        queued.forEach(acquire)
    }

    // MARK: The probe's UpstreamConnectionDelegate

    func upstreamReady(_ upstream: UpstreamConnection) {
        loop.assertInEventLoop()
        guard upstream === probe else { return }
        probe = nil
        settle(upstream)
    }

    func upstreamClosed(_ upstream: UpstreamConnection, failure: UpstreamFailure?) {
        loop.assertInEventLoop()
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
