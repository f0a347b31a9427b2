import CertForge
import Dispatch
import Foundation

/// One client connection through its life: the proxy request (CONNECT or absolute-form), for a
/// tunnel the TLS handshake with a forged certificate, then the HTTP/1.1 exchanges, answered
/// locally (offline) or forwarded upstream. Confined to its connection's event loop.
final class ClientConnection: ConnectionDelegate, TLSServerSessionDelegate, ExchangeContext, @unchecked Sendable {
    enum Phase {
        case awaitingRequest
        case handshaking
        /// HTTP/1.1 requests and responses, inside a TLS tunnel or as plain proxy requests.
        case exchanging
        /// After `101 Switching Protocols`: bytes flow both ways untouched.
        case relaying
        case closed
    }

    let id: Int
    let connection: Connection
    let core: ProxyCore
    var phase = Phase.awaitingRequest
    /// The TLS session with the client, for tunnels.
    var clientTLS: TLSServerSession?
    /// The host and port of the tunnel (or of the current plain-HTTP request).
    var target: (host: String, port: Int)?
    var tunnelOpened: Date?
    private var handshakeTimer: DispatchWorkItem?
    private var sawTLSRecord = false
    private var handshakeCompleted = false
    /// Whether any HTTP request arrived (inside the tunnel or as a plain proxy request).
    var sawRequest = false
    /// The one timer bounding how long the client keeps the proxy waiting (see ClientConnection+Waiting.swift).
    var waiting: (kind: ClientWait, timer: DispatchWorkItem)?
    /// A CONNECT that came pipelined behind plain requests: the tunnel opens once they are answered.
    var deferredConnect: HTTPRequestHead?

    // The exchange (see HTTP1ClientLeg.swift).
    var requests = HTTPRequestDecoder()
    var responses = HTTPResponseDecoder()
    var upstream: UpstreamConnection?
    /// Exchanges sent upstream (or being answered) whose responses have not ended, oldest first:
    /// HTTP/1.1 answers in request order, so only the first one's response is ever on the wire.
    var outstanding: [HTTPExchange] = []
    var requestIsChunked = false
    /// Set while the handshake waits for the upstream whose certificate the leaf will copy.
    var mimicking: (name: ServerName, failure: FailureMode?)?
    var closesAfterResponse = false
    /// Set when the client negotiated h2 (ALPN): its streams replace the HTTP/1.1 exchange.
    var http2: HTTP2ClientLeg?

    /// Beyond this many bytes queued towards one side, the other side stops being read.
    static let backpressureLimit = 1 << 20

    init(id: Int, connection: Connection, core: ProxyCore) {
        self.id = id
        self.connection = connection
        self.core = core
    }

    func start() {
        connection.delegate = self
        connection.start()
        updateClientWait()  // a connection that never sends anything counts too
    }

    /// Set by a graceful shutdown: finish what is in flight, accept nothing new, then close.
    var isDraining = false

    /// Begins a graceful close (proxy shutdown); runs on the connection's loop.
    func shutdown() {
        connection.loop.execute { [self] in
            isDraining = true
            if let http2 {
                http2.goAway()
                if !http2.hasOpenStreams { closeClient() }
                return
            }
            if phase != .exchanging || outstanding.isEmpty { closeClient() }
            // Otherwise the response in flight finishes first (see closeIfDrained).
        }
    }

    /// Set by `forceClose`: exchanges cut now end with a `shutdown` error event.
    var isForcedClosed = false

    /// Closes at once, whatever is in flight (the grace period is over). Every request whose
    /// response had not ended gets its `error` event (cause `shutdown`), so none is left without an end.
    func forceClose() {
        connection.loop.execute { [self] in
            isForcedClosed = true
            for cut in outstanding {
                cut.cancelResponseTimer()
                recordError("shutdown", "the proxy stopped before the response to \(cut.method) \(cut.url) ended (grace period over)",
                            url: cut.url)
            }
            outstanding = []
            connection.close()  // h2 streams still open are recorded by their exchanges (abandon)
        }
    }

    /// After a response: a draining connection closes once nothing is outstanding.
    func closeIfDrained() {
        if isDraining && outstanding.isEmpty && phase != .closed { closeClient() }
    }

    // MARK: ConnectionDelegate

    func connection(_ connection: Connection, received bytes: [UInt8]) {
        connection.loop.assertInEventLoop()
        switch phase {
        case .awaitingRequest, .exchanging:
            if let tls = clientTLS {
                tls.engine.receive(bytes)
                clientPlaintextArrived(from: tls)
            } else {
                requestBytes(bytes)
            }
        case .handshaking:
            handshakeBytes(bytes)
        case .relaying:
            if let tls = clientTLS {
                tls.engine.receive(bytes)
                let (plaintext, closed, _) = tls.engine.readPlaintext()
                upstream?.send(plaintext)
                if closed { closeClient() }
            } else {
                upstream?.send(bytes)
            }
        case .closed:
            break
        }
        updateClientWait()
    }

    func connectionReadEOF(_ connection: Connection) {
        connection.loop.assertInEventLoop()
        if phase == .handshaking {
            failHandshake(.closedDuringHandshake, detail: "the client closed the connection before finishing the handshake")
        } else if http2 != nil {
            connection.closeWhenDrained()  // h2 has no half-close: the client is gone, and so are its streams
        } else if let cut = truncatedRequest {
            reject(RequestRefusal(status: 400, cause: "bad_request", reason: cut))  // never a half request taken as whole
        } else if outstanding.isEmpty || phase == .relaying {
            connection.closeWhenDrained()
        }
        // Otherwise the client half-closed after sending its requests: answer them first.
    }

    /// What was cut off when the client leaves now: a request head, body or trailers half received.
    private var truncatedRequest: String? {
        guard http2 == nil, phase == .awaitingRequest || phase == .exchanging else { return nil }
        return requests.truncation
    }

    func connectionDrained(_ connection: Connection) {
        connection.loop.assertInEventLoop()
        upstream?.resumeReading()
        http2?.flush()
        if phase == .closed { connection.close() }
    }

    func connectionClosed(_ connection: Connection, error: SocketError?) {
        connection.loop.assertInEventLoop()
        // A reset (no FIN) in the middle of a request: say so, as for a close there (connectionReadEOF).
        if let error, let cut = truncatedRequest { recordError("client_closed", "\(cut); \(error)") }
        handshakeTimer?.cancel()
        waiting?.timer.cancel()
        waiting = nil
        outstanding.forEach { $0.cancelResponseTimer() }
        outstanding = []  // each holds its context (this connection) strongly
        upstream?.close()
        upstream = nil
        http2?.closeAll()
        http2 = nil
        if tunnelOpened != nil {
            var event = event(.tunnelClosed)
            event.detail = error?.description
            if handshakeCompleted, !sawRequest, clientTLS != nil {
                // Host names are often checked after the handshake (curl, s_client): no alert arrives,
                // and the client may hang up with a reset rather than a clean close.
                event.detail = "no request after the TLS handshake: the client may have rejected the certificate after the handshake (for example a host-name mismatch)"
                    + (error.map { "; \($0)" } ?? "")
            }
            event.durationMs = tunnelOpened.map { Date().timeIntervalSince($0) * 1000 }
            core.recorder.record(event)
        }
        phase = .closed
        core.release(id)
    }

    // MARK: The tunnel

    func openTunnel(_ head: HTTPRequestHead) throws {
        guard let (host, port) = Self.authority(head.target) else {
            throw RequestRefusal(status: 400, cause: "bad_request", reason: "CONNECT needs host:port, got '\(head.target.prefix(200))'")
        }
        if !core.configuration.offline { try refuseLoop(core.route(host: host, port: port), what: "CONNECT \(head.target)") }
        target = (host, port)
        tunnelOpened = Date()
        sawRequest = false  // from now on: requests inside the tunnel
        let spliced = core.isIgnored(host: host, port: port) && !BadSSLCatalogue.contains(host)
        var opened = event(.tunnelOpened)
        opened.method = "CONNECT"
        if spliced { opened.detail = "spliced (--ignore-hosts): not intercepted" }
        core.recorder.record(opened)
        connection.write(Array("HTTP/1.1 200 Connection established\r\n\r\n".utf8))
        if spliced {
            splice()
            return
        }
        do {
            let tls = try TLSServerSession(context: core.tlsContext)
            tls.delegate = self
            clientTLS = tls
            phase = .handshaking
            handshakeTimer = connection.loop.schedule(after: core.configuration.handshakeTimeout) { [weak self] in
                guard let self, self.phase == .handshaking else { return }
                self.failHandshake(.timeout, detail: "no complete handshake within \(Int(self.core.configuration.handshakeTimeout)) s")
            }
            let early = requests.takeBuffered()
            if !early.isEmpty { handshakeBytes(early) }
        } catch {
            recordError("tls_setup", "\(error)")
            connection.close()
        }
    }

    /// Relays the tunnel byte for byte to the origin: no TLS termination, no forged certificate.
    private func splice() {
        guard let target else { return }
        guard !core.configuration.offline else {
            recordError("spliced_offline", "--ignore-hosts matched \(target.host), but --offline contacts no upstream")
            connection.close()
            return
        }
        let upstream = UpstreamConnection(route: core.route(host: target.host, port: target.port), tls: nil, loop: connection.loop)
        upstream.delegate = self
        self.upstream = upstream
        phase = .relaying
        upstream.start(timeout: core.configuration.connectTimeout)
        let early = requests.takeBuffered()
        if !early.isEmpty { upstream.send(early) }
    }

    /// `host:port` with a DNS name, IPv4 or bracketed IPv6 host; the host validated as CertForge would.
    static func authority(_ target: String) -> (String, Int)? {
        guard let (host, port) = splitHostPort(target), let name = try? ServerName(host) else { return nil }
        return (name.text, port)
    }

    private func handshakeBytes(_ bytes: [UInt8]) {
        guard let tls = clientTLS else { return }
        // A TLS connection starts with a handshake record (0x16); anything else is plaintext in a tunnel.
        if !sawTLSRecord, bytes.first != 0x16 {
            failHandshake(.notTLS, detail: "first bytes: \(String(decoding: bytes.prefix(16), as: UTF8.self).debugDescription)")
            return
        }
        sawTLSRecord = true
        tls.engine.receive(bytes)
        advanceHandshake(tls)
    }

    private func advanceHandshake(_ tls: TLSServerSession) {
        let progress = tls.advanceHandshake()
        connection.write(tls.engine.takeOutput())
        switch progress {
        case .needsInput, .awaitingCertificate:
            return
        case let .failed(failure, detail):
            failHandshake(failure, detail: detail)
        case .established:
            handshakeTimer?.cancel()
            handshakeCompleted = true
            phase = .exchanging
            var established = event(.tlsEstablished)
            established.sni = tls.serverName
            established.tlsVersion = tls.engine.protocolVersion
            established.cipher = tls.engine.cipher
            established.alpn = tls.engine.alpn
            core.recorder.record(established)
            if tls.engine.alpn == "h2" {
                do {
                    let leg = try HTTP2ClientLeg(owner: self)
                    http2 = leg
                    if let dialled = upstream {  // --mimic-upstream's connection
                        upstream = nil
                        leg.adopt(dialled)
                        dialled.holdsInput = false
                    }
                    leg.flush()  // our SETTINGS go first
                } catch {
                    recordError("h2_setup", "\(error)")
                    closeClient()
                    return
                }
            } else if let dialled = upstream {  // --mimic-upstream's connection serves this HTTP/1.1 leg
                dialled.speaksHTTP1 = true
                dialled.holdsInput = false
            }
            clientPlaintextArrived(from: tls)  // application data may have come with the client's Finished
        }
    }

    /// The client's SNI when it is a valid name: the leaf is forged for it, and the upstream is verified for it.
    var clientServerName: ServerName? { clientTLS?.serverName.flatMap { try? ServerName($0) } }

    func tlsSession(_ session: TLSServerSession, certificateFor serverName: String?) -> ForgedChain? {
        connection.loop.assertInEventLoop()
        guard let name = clientServerName ?? target.flatMap({ try? ServerName($0.host) }) else { return nil }
        let failure = core.failureMode(for: name.text)
        if core.configuration.mimicUpstream && !answersLocally {
            // Dial the upstream first; its certificate shapes the leaf (see upstreamReady).
            mimicking = (name, failure)
            _ = upstreamConnection()
            return nil
        }
        if let cached = core.forges.cached(name, failure: failure) { return cached }
        forgeAsync(name, failure: failure, mimicking: nil, for: session)
        return nil
    }

    func forgeAsync(_ name: ServerName, failure: FailureMode?, mimicking upstream: Certificate?, for session: TLSServerSession) {
        let loop = connection.loop
        core.forges.chain(for: name, failure: failure, mimicking: upstream) { [weak self] result in
            guard let self else { return }
            loop.execute { self.certificateReady(result, for: session) }
        }
    }

    func certificateReady(_ result: Result<ForgedChain, Error>, for session: TLSServerSession) {
        connection.loop.assertInEventLoop()
        guard phase == .handshaking, clientTLS === session else { return }
        switch result {
        case let .success(chain):
            session.provide(chain)
            advanceHandshake(session)
        case let .failure(error):
            recordError("forge_failed", "\(error)")
            connection.close()
        }
        updateClientWait()
    }

    private func failHandshake(_ failure: HandshakeFailure, detail: String) {
        handshakeTimer?.cancel()
        var failed = event(.tlsFailed)
        failed.cause = failure.rawValue
        failed.detail = detail
        failed.sni = clientTLS?.serverName
        core.recorder.record(failed)
        let client = connection.peer?.description ?? "client"
        let hint = core.forges.constraintViolation(for: clientServerName?.text ?? target?.host)
            .map { "the certificate is outside the CA's name constraints (\($0)), see ca init --name-constraints" } ?? failure.hint(rootFile: core.rootCertificateFile)
        core.logger.warning("\(client) rejected the certificate for \(target?.host ?? "?"): \(failure.rawValue); \(hint)")
        phase = .closed
        if failure == .notTLS {
            let response = HTTPResponse.text(400, "intercept-proxy: the tunnel to \(target?.host ?? "the host") expects TLS, but plaintext arrived; use https:// URLs through this proxy", close: true)
            connection.write(response.serialized())
        }
        connection.closeWhenDrained()
    }

    // MARK: Writing to the client

    /// Sends bytes to the client, encrypted when inside a tunnel.
    func sendToClient(_ bytes: [UInt8]) {
        connection.loop.assertInEventLoop()
        if let tls = clientTLS {
            do {
                try tls.engine.write(bytes)
            } catch {
                recordError("tls_write", "\(error)")
                connection.close()
                return
            }
            connection.write(tls.engine.takeOutput())
        } else {
            connection.write(bytes)
        }
        if connection.pendingOutbound > Self.backpressureLimit { upstream?.pauseReading() }
    }

    /// Ends the client connection after what is queued (close_notify first inside a tunnel).
    func closeClient() {
        connection.loop.assertInEventLoop()
        if let tls = clientTLS, phase != .handshaking {
            tls.engine.shutdown()
            connection.write(tls.engine.takeOutput())
        }
        phase = .closed
        connection.closeWhenDrained()
    }

    // MARK: Answers and events

    /// Answers with an error and closes.
    func reject(_ refusal: RequestRefusal) {
        recordError(refusal.cause, refusal.reason, status: refusal.status)
        sendToClient(HTTPResponse.text(refusal.status, "intercept-proxy: \(refusal.reason)", close: true).serialized())
        closeClient()
    }

    func recordError(_ cause: String, _ detail: String, status: Int? = nil, url: String? = nil, streamId: Int32? = nil) {
        var error = event(.error)
        error.streamId = streamId.map(Int.init)
        error.cause = cause
        error.detail = detail
        error.status = status
        error.url = url
        core.recorder.record(error)
        core.logger.notice("\(connection.peer?.description ?? "client"): \(cause): \(detail)")
    }

    // MARK: ExchangeContext

    var loop: EventLoop { connection.loop }
    var isTunnel: Bool { clientTLS != nil }
    func requestArrived() { sawRequest = true }

    func event(_ kind: FlowEvent.Kind) -> FlowEvent {
        var event = FlowEvent(type: kind, connection: id)
        event.client = connection.peer?.description
        event.host = target?.host
        event.port = target?.port
        return event
    }
}
