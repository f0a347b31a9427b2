import FoundationEssentials

/// What a client leg needs from its connection: the exchange context (flow events, where the
/// tunnel leads), and the client's byte stream: writing (encrypted in a tunnel), how much waits,
/// and ending it. The h2 leg sees the connection only through this.
protocol ClientLegHost: ExchangeContext {
    /// Writes to the client, encrypted inside a tunnel.
    func sendToClient(_ bytes: [UInt8])
    /// Bytes written but not yet taken by the client.
    var clientPendingOutbound: Int { get }
    /// Closing or closed: nothing new is read or started.
    var isClosing: Bool { get }
    /// close_notify (in a tunnel) and FIN once what is queued is written; what the client still
    /// sends is read and dropped until its EOF, and a client that does not stop is cut off after
    /// `grace` seconds.
    func finishWriting(closingAfter grace: TimeInterval)
    var http2IdleTimeout: TimeInterval { get }
}

/// What the HTTP/1.1 leg may ask of its connection, beyond writing: the transitions only the
/// connection makes (a tunnel, a relay, a refusal, the end), reading paused and resumed, and the
/// upstream pool for a request's origin. The leg never sees the connection's state itself.
protocol HTTP1LegHost: ClientLegHost {
    /// Whether `leg` reads requests now (not relaying, not handed over to a tunnel, not closing).
    func isServing(_ leg: HTTP1ClientLeg) -> Bool
    /// `--proxy-auth`: false when the request was answered 407 (and recorded).
    func authorizesProxyRequest(_ head: HTTPRequestHead) -> Bool
    /// Answers a CONNECT and opens its tunnel; `early` is what the client sent after it.
    func openTunnel(_ head: HTTPRequestHead, early: [UInt8]) throws
    /// For a connection the kernel redirected: an origin-form request's origin (its Host, else the
    /// address the client was headed for, on that port) and path.
    func redirectedOrigin(_ head: HTTPRequestHead) -> (String, Int, String)?
    /// Where the current plain-HTTP target is dialled: set by `redirectedOrigin`, cleared for an absolute URL.
    var redirectedRoute: SocketAddress? { get set }
    /// A plain-HTTP request to `host:port`: the connection's target from now on. Returns the
    /// pool for that origin (nil when the proxy answers itself); refuses a request that would loop.
    func plainRequest(to host: String, port: Int, what: String) throws -> UpstreamPool?
    /// The tunnel's pool (nil offline).
    var tunnelPool: UpstreamPool? { get }
    /// Bytes flow both ways untouched from now on (after `101 Switching Protocols`).
    func beginRelaying(_ leg: HTTP1ClientLeg)
    /// Answers with an error and closes.
    func reject(_ refusal: RequestRefusal)
    /// Ends the connection after what is queued (close_notify first inside a tunnel).
    func closeClient()
    /// Closes at once: a response cut short must look truncated to the client.
    func abortClient()
    /// After a response: a draining connection (the proxy is stopping) closes now.
    func closeIfDrained()
    func pauseClientReading()
    func resumeClientReading()
    var requestHeadTimeout: TimeInterval { get }
    var keepAliveTimeout: TimeInterval { get }
}

extension ClientConnection: HTTP1LegHost {
    var clientPendingOutbound: Int { connection.pendingOutbound }
    var isClosing: Bool { state.isClosing }
    var http2IdleTimeout: TimeInterval { core.configuration.http2IdleTimeout }
    var requestHeadTimeout: TimeInterval { core.configuration.requestHeadTimeout }
    var keepAliveTimeout: TimeInterval { core.configuration.keepAliveTimeout }

    func finishWriting(closingAfter grace: TimeInterval) {
        if let tls = clientTLS {
            tls.engine.shutdown()
            connection.write(tls.engine.takeOutput())
        }
        connection.shutdownWriteWhenDrained()
        let connection = connection
        connection.loop.schedule(after: grace) { connection.close() }
    }

    func isServing(_ leg: HTTP1ClientLeg) -> Bool {
        switch state {
        case let .awaitingRequest(serving), let .plainHTTP(serving), let .http1(serving): return serving === leg
        default: return false
        }
    }

    func plainRequest(to host: String, port: Int, what: String) throws -> UpstreamPool? {
        let answers = answersLocally(host: host)
        if !answers { try refuseLoop(route(to: (host, port)), what: what) }
        if target.map({ $0.host != host || $0.port != port }) ?? true {
            upstreams?.closeAll()  // another origin: its connections are of no use any more
            upstreams = nil
        }
        target = (host, port)
        if let leg = state.http1Leg { state = .plainHTTP(leg) }
        guard !answers else { return nil }
        if let upstreams { return upstreams }
        let made = UpstreamPool(dialer: core.dialer(route(to: (host, port)), nil, loop), loop: loop, probeProtocols: nil)
        upstreams = made
        return made
    }

    var tunnelPool: UpstreamPool? { upstreams }

    func beginRelaying(_ leg: HTTP1ClientLeg) {
        state = .relaying(leg)
    }

    func abortClient() {
        connection.close()
    }

    func pauseClientReading() { connection.pauseReading() }
    func resumeClientReading() { connection.resumeReading() }
}
