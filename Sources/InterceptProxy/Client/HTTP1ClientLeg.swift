import CertForge
import FoundationEssentials
import EssentialsSupport
import Dispatch

/// The HTTP/1.1 client leg: plain proxy requests (CONNECT or absolute-form), or the requests inside
/// a tunnel whose client chose HTTP/1.1. Requests parsed from the client become `HTTPExchange`s,
/// answered offline or forwarded over one `HTTP1UpstreamLeg`; responses are relayed verbatim as
/// they stream in, in request order. After `101 Switching Protocols` (and for a spliced tunnel)
/// it relays bytes both ways untouched. Held by its connection's state; confined to its loop.
final class HTTP1ClientLeg: HTTP1UpstreamLegDelegate, ExchangeResponder, @unchecked Sendable {
    /// The connection: its client stream, its tunnel, and the transitions between legs. Strong,
    /// like the connection's state holding the leg: the cycle ends when the state moves on.
    let host: ClientConnection
    var requests = HTTPRequestDecoder()
    var responses = HTTPResponseDecoder()
    var upstream: HTTP1UpstreamLeg?
    /// Exchanges sent upstream (or being answered) whose responses have not ended, oldest first:
    /// HTTP/1.1 answers in request order, so only the first one's response is ever on the wire.
    var outstanding: [HTTPExchange] = []
    var requestIsChunked = false
    var closesAfterResponse = false
    /// A CONNECT that came pipelined behind plain requests: the tunnel opens once they are answered.
    var deferredConnect: HTTPRequestHead?
    /// Whether a request arrived on this leg.
    var sawRequest = false
    /// Response bytes not yet handed to the client (see `batchForClient`); empty between reads.
    private var clientBatch: [UInt8] = []
    /// The one timer bounding how long the client keeps the proxy waiting (see HTTP1ClientLeg+Waiting.swift).
    var waiting: ClientWait?
    /// Armed for `waiting`'s timeout; made at the first wait.
    var waitTimer: LoopTimer?

    init(host: ClientConnection) {
        self.host = host
    }

    /// Plaintext from the client (decrypted inside a tunnel).
    func receive(_ bytes: [UInt8]) {
        feedRequests(bytes)
    }

    /// The exchange whose request is being received (its head in, its body or trailers not yet):
    /// an error that refuses it is its end.
    var receiving: HTTPExchange? {
        guard requests.isInMessage, let last = outstanding.last, !last.hasEnded else { return nil }
        return last
    }

    /// The client connection is gone: so is the upstream, and no timer is left. Every request whose
    /// response had not ended gets its end on record (the client left, the proxy stopped, or it
    /// refused another request here).
    func close() {
        waitTimer?.cancel()
        waiting = nil
        outstanding.forEach { $0.connectionEnded($0.cutShort.cause, $0.cutShort.detail) }
        outstanding = []  // each holds its context (the connection) strongly
        upstream?.close()
        upstream = nil
    }

    private func feedRequests(_ bytes: [UInt8]) {
        do {
            for event in try requests.feed(bytes) {
                guard !host.state.isClosing else { return }
                try handle(event)
                // The rest belongs to the tunnel (this leg is done), or waits for it to open.
                if host.state.http1Leg !== self || deferredConnect != nil { return }
            }
        } catch let refusal as RequestRefusal {
            host.reject(refusal)
        } catch let error as HTTPParseError {
            host.reject(RequestRefusal(status: error.status, cause: error.cause, reason: error.reason))
        } catch {
            host.reject(RequestRefusal(status: 400, cause: .badRequest, reason: "\(error)"))
        }
    }

    private func handle(_ event: HTTPRequestDecoder.Event) throws {
        switch event {
        case let .head(head):
            if host.clientTLS == nil, !host.authorizesProxyRequest(head) { return }  // --proxy-auth
            if host.clientTLS == nil && head.method == "CONNECT" {
                if outstanding.isEmpty {
                    try switchToTunnel(head)
                } else {
                    // Pipelined behind plain requests: answer those first, reading nothing more meanwhile.
                    deferredConnect = head
                    host.connection.pauseReading()
                }
                return
            }
            try begin(head)
        case let .body(bytes):
            guard let current = outstanding.last else { return }
            current.requestBodyBytes += bytes.count
            guard !host.answersLocally, let upstream else { return }
            upstream.send(requestIsChunked ? HTTPWire.chunk(bytes) : bytes)
            if upstream.pendingOutbound > ClientConnection.backpressureLimit { host.connection.pauseReading() }
        case .end:
            guard let current = outstanding.last else { return }
            if host.answersLocally {
                current.answer(current.localAnswer)
            } else if requestIsChunked {
                upstream?.send(HTTPWire.lastChunk())
            }
        }
    }

    /// Opens a tunnel on a connection that may have carried plain requests before: this leg ends
    /// (its upstream and wait timer with it), and what the client sent after the CONNECT belongs
    /// to the tunnel.
    private func switchToTunnel(_ head: HTTPRequestHead) throws {
        upstream?.close()
        upstream = nil
        responses = HTTPResponseDecoder()
        waitTimer?.cancel()
        waiting = nil
        try host.openTunnel(head, early: requests.takeBuffered())
    }

    /// After a response: a CONNECT that waited behind it opens its tunnel now.
    private func openDeferredTunnel() {
        guard outstanding.isEmpty, let head = deferredConnect, !host.state.isClosing else { return }
        deferredConnect = nil
        host.connection.resumeReading()
        do {
            try switchToTunnel(head)
        } catch let refusal as RequestRefusal {
            host.reject(refusal)
        } catch {
            host.reject(RequestRefusal(status: 400, cause: .badRequest, reason: "\(error)"))
        }
    }

    /// Starts a request: records it and, when forwarding, sends its head upstream.
    private func begin(_ received: HTTPRequestHead) throws {
        sawRequest = true
        host.requestArrived()
        var head = received
        var upstreamTarget = head.target
        if host.clientTLS == nil {
            // A plain proxy request must name its origin: http://host[:port]/path.
            guard let (name, port, path) = Self.absoluteHTTP(head.target) else {
                throw RequestRefusal(status: 400, cause: .badRequest,
                                     reason: "this is a proxy: send CONNECT host:port or an absolute http:// URL, not '\(head.method) \(head.target.prefix(200))'")
            }
            if !host.answersLocally(host: name) { try host.refuseLoop(host.core.route(host: name, port: port), what: "\(head.method) \(head.target.prefix(200))") }
            if host.target.map({ $0.host != name || $0.port != port }) ?? true, upstream != nil {
                guard outstanding.isEmpty else {
                    throw RequestRefusal(status: 400, cause: .badRequest, reason: "pipelined requests to different hosts on one connection are not supported")
                }
                upstream?.close()
                upstream = nil
                responses = HTTPResponseDecoder()
            }
            host.target = (name, port)
            upstreamTarget = path
            host.state = .plainHTTP(self)
            // Meant for this proxy: neither the origin nor the flow events see it (credentials).
            head.headers.removeAll { $0.name.equalsIgnoringASCIICase("Proxy-Authorization") }
            // The URL names the origin; a proxy replaces Host with its authority (RFC 9112 3.2.2), so
            // the origin reads the same host as the proxy did, and a request without Host gets one.
            head.headers.removeAll { $0.name.equalsIgnoringASCIICase("Host") }
            head.headers.insert((name: "Host", value: HTTPWire.authority(host: name, port: port, defaultPort: 80)), at: 0)
        } else {
            try checkTunnelRequest(head)
        }
        // The request event shows what goes upstream, Host as rewritten.
        let exchange = HTTPExchange(context: host, method: head.method, url: url(for: head), clientVersion: head.version,
                                    keepAlive: head.keepAlive, requestHeaders: FlowHeaders(head.headers))
        exchange.responder = self
        outstanding.append(exchange)
        requestIsChunked = head.headerContains("Transfer-Encoding", token: "chunked")

        if host.answersLocally {
            if head.headerContains("Expect", token: "100-continue") { host.sendToClient(Array("HTTP/1.1 100 Continue\r\n\r\n".utf8)) }
            return
        }
        guard let origin = host.target else { return }  // set above, or by the tunnel
        let upstream = upstreamConnection(to: origin)
        responses.expectResponse(toMethod: head.method)
        upstream.send(head.serialized(target: upstreamTarget, droppingHeaders: host.clientTLS == nil ? ["proxy-connection", "proxy-authorization"] : []))
        outstanding[0].armResponseTimer()  // the response due first
    }

    /// The upstream connection for the current target, opened on first use (after the client's handshake).
    func upstreamConnection(to target: (host: String, port: Int)) -> HTTP1UpstreamLeg {
        if let upstream { return upstream }
        let transport = host.dial(target)
        let made = HTTP1UpstreamLeg(transport: transport, delegate: self)
        upstream = made
        transport.start(timeout: host.core.configuration.connectTimeout)
        return made
    }

    // MARK: HTTP1UpstreamLegDelegate

    func upstream(_ upstream: HTTP1UpstreamLeg, received plaintext: [UInt8]) {
        host.connection.loop.assertInEventLoop()
        guard upstream === self.upstream else { return }
        defer { updateClientWait() }  // a finished response starts the keep-alive wait
        if host.state.isRelaying {
            host.sendToClient(plaintext)
            return
        }
        outstanding.first?.armResponseTimer()
        // What one read yields for the client (a head and a small body) leaves as one TLS record.
        defer { flushClientBatch() }
        do {
            for event in try responses.feed(plaintext) { relay(event) }
        } catch let error as HTTPParseError {
            flushClientBatch()
            upstream.close()
            self.upstream = nil
            upstreamFailed(.protocolError(error.reason))
        } catch {
            flushClientBatch()
            upstreamFailed(.protocolError("\(error)"))
        }
    }

    func upstreamDrained(_ upstream: HTTP1UpstreamLeg) {
        host.connection.loop.assertInEventLoop()
        if deferredConnect == nil { host.connection.resumeReading() }  // a deferred CONNECT keeps the client paused
    }

    func upstreamClosed(_ upstream: HTTP1UpstreamLeg, failure: UpstreamFailure?) {
        host.connection.loop.assertInEventLoop()
        guard upstream === self.upstream else { return }
        defer { updateClientWait() }
        if host.state.isRelaying {
            if let failure { host.recordError(failure.cause, failure.message, url: host.target.map { "\($0.host):\($0.port)" }) }
            self.upstream = nil
            host.closeClient()
            return
        }
        if let events = try? responses.finish() { events.forEach(relay) }
        flushClientBatch()
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
            batchForClient(raw)
            if (100..<200).contains(head.status) && head.status != 101 { return }
            current.responseStarted(status: head.status, headers: head.headers)
            current.upstreamVersion = upstream?.negotiatedProtocol == "h2" ? "HTTP/2" : head.version
            closesAfterResponse = !head.keepAliveResponse
        case let .body(bytes):
            batchForClient(bytes)
            current.responseBodyBytes += bytes.count
        case let .framing(bytes):
            batchForClient(bytes)
        case let .trailer(_, _, raw):
            batchForClient(raw)
        case .end:
            flushClientBatch()  // before anything else may write, close or change state
            let finished = outstanding.removeFirst()
            finished.complete()
            outstanding.first?.armResponseTimer()  // the next response is due now
            if finished.status == 101 {
                host.state = .relaying(self)
                let early = requests.takeBuffered()
                if !early.isEmpty { upstream?.send(early) }
                return
            }
            if closesAfterResponse || responses.readsUntilClose {
                upstream?.close()
                upstream = nil
                responses = HTTPResponseDecoder()
            }
            if !finished.keepAlive { host.closeClient() } else { host.closeIfDrained() }
            openDeferredTunnel()
        }
    }

    /// Response bytes for the client, gathered while one upstream read is relayed (up to 4 KiB: a
    /// head and a small body; a bulk body goes out as it comes, uncopied).
    private func batchForClient(_ bytes: [UInt8]) {
        if clientBatch.count + bytes.count <= 4 * 1024 {
            clientBatch.append(contentsOf: bytes)
        } else {
            flushClientBatch()
            host.sendToClient(bytes)
        }
    }

    private func flushClientBatch() {
        guard !clientBatch.isEmpty else { return }
        let batch = clientBatch
        clientBatch = []
        host.sendToClient(batch)
    }

    // MARK: ExchangeResponder

    /// A response without an upstream (offline mode, errors), as HTTP/1.1 bytes.
    func writeLocal(_ response: HTTPResponse, for exchange: HTTPExchange) -> (headers: [(name: String, value: String)], bodyBytes: Int) {
        if let index = outstanding.lastIndex(where: { $0 === exchange }) { outstanding.remove(at: index) }
        host.sendToClient(response.serialized(forHEAD: exchange.isHEAD))
        return (response.headers.map { (name: $0.0, value: $0.1) } + [("Content-Length", String(response.body.count))], response.body.count)
    }

    func localAnswerEnded(_ exchange: HTTPExchange, closeConnection: Bool) {
        if closeConnection { host.closeClient() } else { host.closeIfDrained() }
        openDeferredTunnel()
    }

    /// Part of the response is out: the client must see a truncated transfer.
    func abortResponse(of exchange: HTTPExchange, failure: UpstreamFailure) {
        host.connection.close()
    }

    /// Re-armed by every upstream read: after the head too, an upstream silent this long cuts the
    /// transfer (a stall mid-body), unless the wait is on the client (bytes it has not taken yet).
    func responseTimerFired(for exchange: HTTPExchange) {
        guard exchange === outstanding.first, host.state.exchangesHTTP1 else { return }
        guard host.connection.pendingOutbound == 0 else { return exchange.armResponseTimer() }
        upstream?.close()
        upstream = nil
        exchange.fail(exchange.timeoutFailure)
    }

    /// A request inside a tunnel goes to the tunnel's origin, whatever it names: one naming another
    /// origin in absolute form would be logged under a host it never reached, so it is refused (421).
    private func checkTunnelRequest(_ head: HTTPRequestHead) throws {
        if head.version == "HTTP/1.1" && head.header("Host") == nil {  // two of them the decoder refused
            throw RequestRefusal(status: 400, cause: .badRequest, reason: "an HTTP/1.1 request needs a Host header field")
        }
        let lowered = head.target.lowercased()
        guard lowered.hasPrefix("https://") || lowered.hasPrefix("http://"), let target = host.target else { return }
        let rest = head.target.dropFirst(lowered.hasPrefix("https://") ? 8 : 7)
        let authority = String(rest[..<(rest.firstIndex { $0 == "/" || $0 == "?" } ?? rest.endIndex)])
        let named = splitHostPort(authority) ?? (authority.trimming(charactersIn: "[]"), target.port)
        guard named.0.lowercased() == target.host.lowercased(), named.1 == target.port else {
            throw RequestRefusal(status: 421, cause: .misdirectedRequest,
                                 reason: "this tunnel leads to \(HTTPWire.authority(host: target.host, port: target.port)), not to \(authority.prefix(200))")
        }
    }


    private func url(for head: HTTPRequestHead) -> String {
        if head.target.hasPrefix("https://") || head.target.hasPrefix("http://") { return head.target }
        guard let target = host.target else { return head.target }
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
            parsed = (authority.trimming(charactersIn: "[]"), 80)
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
