import CertForge
import Foundation

/// The HTTP/1.1 exchanges of a connection: requests parsed from the client, answered offline or
/// forwarded upstream; responses relayed verbatim as they stream in, in request order.
extension ClientConnection: HTTP1UpstreamLegDelegate, ExchangeResponder {
    /// Plaintext from a client that is not (yet) in a TLS tunnel.
    func requestBytes(_ bytes: [UInt8]) {
        feedRequests(bytes)
    }

    /// Decrypted bytes from the client inside a tunnel.
    func clientPlaintextArrived(from tls: TLSServerSession) {
        let (plaintext, closed, _) = tls.engine.readPlaintext()
        connection.write(tls.engine.takeOutput())
        if let http2 = state.http2Leg {
            if !plaintext.isEmpty { http2.receive(plaintext) }
            if closed { closeClient() }
            return
        }
        if state.isRelaying {
            upstream?.send(plaintext)
        } else {
            feedRequests(plaintext)
        }
        if closed && outstanding.isEmpty { closeClient() }
    }

    private func feedRequests(_ bytes: [UInt8]) {
        do {
            for event in try requests.feed(bytes) {
                guard !state.isClosing else { return }
                try handle(event)
                // The rest belongs to the TLS handshake, or waits for the tunnel to open.
                if state.isHandshaking || deferredConnect != nil { return }
            }
        } catch let refusal as RequestRefusal {
            reject(refusal)
        } catch let error as HTTPParseError {
            reject(RequestRefusal(status: error.status, cause: error.cause, reason: error.reason))
        } catch {
            reject(RequestRefusal(status: 400, cause: "bad_request", reason: "\(error)"))
        }
    }

    private func handle(_ event: HTTPRequestDecoder.Event) throws {
        switch event {
        case let .head(head):
            if clientTLS == nil, !authorizesProxyRequest(head) { return }  // --proxy-auth
            if clientTLS == nil && head.method == "CONNECT" {
                if outstanding.isEmpty {
                    try switchToTunnel(head)
                } else {
                    // Pipelined behind plain requests: answer those first, reading nothing more meanwhile.
                    deferredConnect = head
                    connection.pauseReading()
                }
                return
            }
            try begin(head)
        case let .body(bytes):
            guard let current = outstanding.last else { return }
            current.requestBodyBytes += bytes.count
            guard !answersLocally, let upstream else { return }
            upstream.send(requestIsChunked ? HTTPWire.chunk(bytes) : bytes)
            if upstream.pendingOutbound > Self.backpressureLimit { connection.pauseReading() }
        case .end:
            guard let current = outstanding.last else { return }
            if answersLocally {
                current.answer(current.localAnswer)
            } else if requestIsChunked {
                upstream?.send(HTTPWire.lastChunk())
            }
        }
    }

    /// Opens a tunnel on a connection that may have carried plain requests before.
    private func switchToTunnel(_ head: HTTPRequestHead) throws {
        if upstream != nil {
            upstream?.close()
            upstream = nil
            responses = HTTPResponseDecoder()
        }
        try openTunnel(head)
    }

    /// After a response: a CONNECT that waited behind it opens its tunnel now.
    private func openDeferredTunnel() {
        guard outstanding.isEmpty, let head = deferredConnect, !state.isClosing else { return }
        deferredConnect = nil
        connection.resumeReading()
        do {
            try switchToTunnel(head)
        } catch let refusal as RequestRefusal {
            reject(refusal)
        } catch {
            reject(RequestRefusal(status: 400, cause: "bad_request", reason: "\(error)"))
        }
    }

    /// Starts a request: records it and, when forwarding, sends its head upstream.
    private func begin(_ received: HTTPRequestHead) throws {
        sawRequest = true
        var head = received
        var upstreamTarget = head.target
        if clientTLS == nil {
            // A plain proxy request must name its origin: http://host[:port]/path.
            guard let (host, port, path) = Self.absoluteHTTP(head.target) else {
                throw RequestRefusal(status: 400, cause: "bad_request",
                                     reason: "this is a proxy: send CONNECT host:port or an absolute http:// URL, not '\(head.method) \(head.target.prefix(200))'")
            }
            if !answersLocally(host: host) { try refuseLoop(core.route(host: host, port: port), what: "\(head.method) \(head.target.prefix(200))") }
            if target.map({ $0.host != host || $0.port != port }) ?? true, upstream != nil {
                guard outstanding.isEmpty else {
                    throw RequestRefusal(status: 400, cause: "bad_request", reason: "pipelined requests to different hosts on one connection are not supported")
                }
                upstream?.close()
                upstream = nil
                responses = HTTPResponseDecoder()
            }
            target = (host, port)
            upstreamTarget = path
            state = .plainHTTP
            // Meant for this proxy: neither the origin nor the flow events see it (credentials).
            head.headers.removeAll { $0.name.equalsIgnoringASCIICase("Proxy-Authorization") }
            // The URL names the origin; a proxy replaces Host with its authority (RFC 9112 3.2.2), so
            // the origin reads the same host as the proxy did, and a request without Host gets one.
            head.headers.removeAll { $0.name.equalsIgnoringASCIICase("Host") }
            head.headers.insert((name: "Host", value: HTTPWire.authority(host: host, port: port, defaultPort: 80)), at: 0)
        } else {
            try checkTunnelRequest(head)
        }
        // The request event shows what goes upstream, Host as rewritten.
        let exchange = HTTPExchange(context: self, method: head.method, url: url(for: head), clientVersion: head.version,
                                    keepAlive: head.keepAlive, requestHeaders: head.headers.map { [$0.name, $0.value] })
        exchange.responder = self
        outstanding.append(exchange)
        requestIsChunked = head.headerContains("Transfer-Encoding", token: "chunked")

        if answersLocally {
            if head.headerContains("Expect", token: "100-continue") { sendToClient(Array("HTTP/1.1 100 Continue\r\n\r\n".utf8)) }
            return
        }
        guard let origin = target else { return }  // set above, or by the tunnel
        let upstream = upstreamConnection(to: origin)
        responses.expectResponse(toMethod: head.method)
        upstream.send(head.serialized(target: upstreamTarget, droppingHeaders: clientTLS == nil ? ["proxy-connection", "proxy-authorization"] : []))
        outstanding[0].armResponseTimer()  // the response due first
    }

    /// The upstream connection for the current target, opened on first use (after the client's handshake).
    func upstreamConnection(to target: (host: String, port: Int)) -> HTTP1UpstreamLeg {
        if let upstream { return upstream }
        let transport = dial(target)
        let made = HTTP1UpstreamLeg(transport: transport, delegate: self)
        upstream = made
        transport.start(timeout: core.configuration.connectTimeout)
        return made
    }

    /// A new transport to `target` (TLS inside a tunnel, offering the client's ALPN protocols), not started.
    func dial(_ target: (host: String, port: Int)) -> UpstreamConnection {
        UpstreamConnection(route: upstreamRoute(for: target), tls: clientTLS == nil ? nil : core.upstreamTLS,
                           loop: connection.loop, alpn: upstreamProtocols)
    }

    /// The route to the tunnel's target, verified for the name the client's TLS asked for.
    func upstreamRoute(for target: (host: String, port: Int)) -> UpstreamRoute {
        core.route(host: target.host, port: target.port, serverName: clientServerName?.text)
    }

    // MARK: HTTP1UpstreamLegDelegate

    func upstream(_ upstream: HTTP1UpstreamLeg, received plaintext: [UInt8]) {
        connection.loop.assertInEventLoop()
        guard upstream === self.upstream else { return }
        defer { updateClientWait() }  // a finished response starts the keep-alive wait
        if state.isRelaying {
            sendToClient(plaintext)
            return
        }
        outstanding.first?.armResponseTimer()
        do {
            for event in try responses.feed(plaintext) { relay(event) }
        } catch let error as HTTPParseError {
            upstream.close()
            self.upstream = nil
            upstreamFailed(.protocolError(error.reason))
        } catch {
            upstreamFailed(.protocolError("\(error)"))
        }
    }

    func upstreamDrained(_ upstream: HTTP1UpstreamLeg) {
        connection.loop.assertInEventLoop()
        if deferredConnect == nil { connection.resumeReading() }  // a deferred CONNECT keeps the client paused
    }

    func upstreamClosed(_ upstream: HTTP1UpstreamLeg, failure: UpstreamFailure?) {
        connection.loop.assertInEventLoop()
        guard upstream === self.upstream else { return }
        defer { updateClientWait() }
        if state.isRelaying {
            if let failure { recordError(failure.cause, failure.message, url: target.map { "\($0.host):\($0.port)" }) }
            self.upstream = nil
            closeClient()
            return
        }
        if let events = try? responses.finish() { events.forEach(relay) }
        self.upstream = nil
        responses = HTTPResponseDecoder()
        guard !outstanding.isEmpty else { return }
        upstreamFailed(failure ?? .closedEarly("the connection closed before the response to \(outstanding[0].method) \(outstanding[0].url) was complete"))
    }

    /// The oldest outstanding exchange, whose response was due, fails (502/504, or an abort).
    private func upstreamFailed(_ failure: UpstreamFailure) {
        outstanding.first?.fail(failure)
    }

    private func relay(_ event: HTTPResponseDecoder.Event) {
        guard let current = outstanding.first else { return }
        switch event {
        case let .head(head, raw):
            sendToClient(raw)
            if (100..<200).contains(head.status) && head.status != 101 { return }
            current.responseStarted(status: head.status, headers: head.headers)
            current.upstreamVersion = upstream?.negotiatedProtocol == "h2" ? "HTTP/2" : head.version
            closesAfterResponse = !head.keepAliveResponse
        case let .body(bytes):
            sendToClient(bytes)
            current.responseBodyBytes += bytes.count
        case let .framing(bytes):
            sendToClient(bytes)
        case let .trailer(_, _, raw):
            sendToClient(raw)
        case .end:
            let finished = outstanding.removeFirst()
            finished.complete()
            outstanding.first?.armResponseTimer()  // the next response is due now
            if finished.status == 101 {
                state = .relaying
                let early = requests.takeBuffered()
                if !early.isEmpty { upstream?.send(early) }
                return
            }
            if closesAfterResponse || responses.readsUntilClose {
                upstream?.close()
                upstream = nil
                responses = HTTPResponseDecoder()
            }
            if !finished.keepAlive { closeClient() } else { closeIfDrained() }
            openDeferredTunnel()
        }
    }

    // MARK: ExchangeResponder

    /// A response without an upstream (offline mode, errors), as HTTP/1.1 bytes.
    func writeLocal(_ response: HTTPResponse, for exchange: HTTPExchange) -> (headers: [(name: String, value: String)], bodyBytes: Int) {
        if let index = outstanding.lastIndex(where: { $0 === exchange }) { outstanding.remove(at: index) }
        sendToClient(response.serialized(forHEAD: exchange.isHEAD))
        return (response.headers.map { (name: $0.0, value: $0.1) } + [("Content-Length", String(response.body.count))], response.body.count)
    }

    func localAnswerEnded(_ exchange: HTTPExchange, closeConnection: Bool) {
        if closeConnection { closeClient() } else { closeIfDrained() }
        openDeferredTunnel()
    }

    /// Part of the response is out: the client must see a truncated transfer.
    func abortResponse(of exchange: HTTPExchange, failure: UpstreamFailure) {
        connection.close()
    }

    /// Re-armed by every upstream read: after the head too, an upstream silent this long cuts the
    /// transfer (a stall mid-body), unless the wait is on the client (bytes it has not taken yet).
    func responseTimerFired(for exchange: HTTPExchange) {
        guard exchange === outstanding.first, state.exchangesHTTP1 else { return }
        guard connection.pendingOutbound == 0 else { return exchange.armResponseTimer() }
        upstream?.close()
        upstream = nil
        exchange.fail(exchange.timeoutFailure)
    }

    /// ALPN for upstream connections: the protocols the client offered that the proxy speaks, in the
    /// client's order (h2 only when enabled); nil when it offered none (the TLS context's http/1.1).
    var upstreamProtocols: [String]? {
        let usable = (clientTLS?.offeredProtocols ?? []).filter { $0 == "http/1.1" || ($0 == "h2" && core.configuration.http2) }
        return usable.isEmpty ? nil : usable
    }

    /// A request inside a tunnel goes to the tunnel's origin, whatever it names: one naming another
    /// origin in absolute form would be logged under a host it never reached, so it is refused (421).
    private func checkTunnelRequest(_ head: HTTPRequestHead) throws {
        if head.version == "HTTP/1.1" && head.header("Host") == nil {  // two of them the decoder refused
            throw RequestRefusal(status: 400, cause: "bad_request", reason: "an HTTP/1.1 request needs a Host header field")
        }
        let lowered = head.target.lowercased()
        guard lowered.hasPrefix("https://") || lowered.hasPrefix("http://"), let target else { return }
        let rest = head.target.dropFirst(lowered.hasPrefix("https://") ? 8 : 7)
        let authority = String(rest[..<(rest.firstIndex { $0 == "/" || $0 == "?" } ?? rest.endIndex)])
        let named = splitHostPort(authority) ?? (authority.trimmingCharacters(in: CharacterSet(charactersIn: "[]")), target.port)
        guard named.0.lowercased() == target.host.lowercased(), named.1 == target.port else {
            throw RequestRefusal(status: 421, cause: "misdirected_request",
                                 reason: "this tunnel leads to \(HTTPWire.authority(host: target.host, port: target.port)), not to \(authority.prefix(200))")
        }
    }


    private func url(for head: HTTPRequestHead) -> String {
        if head.target.hasPrefix("https://") || head.target.hasPrefix("http://") { return head.target }
        guard let target else { return head.target }
        return "https://\(HTTPWire.authority(host: target.host, port: target.port))\(head.target)"
    }

    /// Splits `http://host[:port]/path` into its parts.
    static func absoluteHTTP(_ target: String) -> (String, Int, String)? {
        guard target.lowercased().hasPrefix("http://") else { return nil }
        let rest = target.dropFirst(7)
        let slash = rest.firstIndex(of: "/") ?? rest.endIndex
        let authority = String(rest[..<slash])
        let path = slash == rest.endIndex ? "/" : String(rest[slash...])
        let parsed: (String, Int)
        if let (host, port) = splitHostPort(authority) {
            parsed = (host, port)
        } else {
            guard !authority.isEmpty, !authority.contains(":") || authority.hasPrefix("[") else { return nil }
            parsed = (authority.trimmingCharacters(in: CharacterSet(charactersIn: "[]")), 80)
        }
        // The host must be one a strict origin reads the same way: no userinfo, spaces or odd bytes.
        guard let name = try? ServerName(parsed.0) else { return nil }
        return (name.text, parsed.1, path)
    }
}

extension HTTPResponseHead {
    /// Whether the upstream connection may carry another request after this response.
    var keepAliveResponse: Bool {
        if headerContains("Connection", token: "close") { return false }
        return version == "HTTP/1.1" || headerContains("Connection", token: "keep-alive")
    }
}
