import CertForge
import Dispatch
import Foundation

/// One client connection through its life: the proxy request (CONNECT or absolute-form), then for a
/// tunnel the TLS handshake with a forged certificate, then the HTTP/1.1 requests inside it.
/// Confined to its connection's event loop.
final class ProxyConnection: ConnectionDelegate, TLSServerSessionDelegate, @unchecked Sendable {
    private enum State {
        case awaitingRequest
        case handshaking(TLSServerSession)
        case intercepting(TLSServerSession)
        case closed
    }

    let id: Int
    private let connection: Connection
    private let core: ProxyCore
    private var state = State.awaitingRequest
    private var proxyRequests = HTTPRequestDecoder()
    private var tunnelRequests = HTTPRequestDecoder()
    private var target: (host: String, port: Int)?
    private var inFlight: (head: HTTPRequestHead, bodyBytes: Int, started: Date)?
    private var handshakeTimer: DispatchWorkItem?
    private var tunnelOpened: Date?

    init(id: Int, connection: Connection, core: ProxyCore) {
        self.id = id
        self.connection = connection
        self.core = core
    }

    func start() {
        connection.delegate = self
        connection.start()
    }

    /// Closes the connection from outside (shutdown); runs on the connection's loop.
    func shutdown() {
        connection.loop.execute { [self] in
            if case let .intercepting(tls) = state, inFlight == nil {
                tls.engine.shutdown()
                connection.write(tls.engine.takeOutput())
            }
            connection.closeWhenDrained()
        }
    }

    // MARK: ConnectionDelegate

    func connection(_ connection: Connection, received bytes: [UInt8]) {
        switch state {
        case .awaitingRequest: proxyRequestBytes(bytes)
        case let .handshaking(tls): handshakeBytes(bytes, tls)
        case let .intercepting(tls): tunnelBytes(bytes, tls)
        case .closed: break
        }
    }

    func connectionReadEOF(_ connection: Connection) {
        if case .handshaking = state {
            failHandshake(.closedDuringHandshake, detail: "the client closed the connection before finishing the handshake")
        } else {
            connection.closeWhenDrained()
        }
    }

    func connectionDrained(_ connection: Connection) {}

    func connectionClosed(_ connection: Connection, error: SocketError?) {
        handshakeTimer?.cancel()
        if tunnelOpened != nil {
            var event = event(.tunnelClosed)
            event.detail = error?.description
            event.durationMs = tunnelOpened.map { Date().timeIntervalSince($0) * 1000 }
            core.recorder.record(event)
        }
        state = .closed
        core.release(id)
    }

    // MARK: The proxy request

    private func proxyRequestBytes(_ bytes: [UInt8]) {
        let events: [HTTPRequestDecoder.Event]
        do {
            events = try proxyRequests.feed(bytes)
        } catch let error as HTTPParseError {
            reject(error.status, error.reason)
            return
        } catch {
            reject(400, "\(error)")
            return
        }
        for case let .head(head) in events {
            if head.method == "CONNECT" {
                openTunnel(head)
                return
            }
            reject(501, "intercept-proxy answers CONNECT tunnels; plain-HTTP forwarding of '\(head.method) \(head.target)' is not available in this build")
            return
        }
    }

    private func openTunnel(_ head: HTTPRequestHead) {
        guard let (host, port) = Self.authority(head.target) else {
            reject(400, "CONNECT needs host:port, got '\(head.target.prefix(200))'")
            return
        }
        target = (host, port)
        tunnelOpened = Date()
        var opened = event(.tunnelOpened)
        opened.method = "CONNECT"
        core.recorder.record(opened)
        connection.write(Array("HTTP/1.1 200 Connection established\r\n\r\n".utf8))
        do {
            let tls = try TLSServerSession(context: core.tlsContext)
            tls.delegate = self
            state = .handshaking(tls)
            handshakeTimer = connection.loop.schedule(after: core.configuration.handshakeTimeout) { [weak self] in
                guard let self, case .handshaking = self.state else { return }
                self.failHandshake(.timeout, detail: "no complete handshake within \(Int(self.core.configuration.handshakeTimeout)) s")
            }
            let early = proxyRequests.takeBuffered()
            if !early.isEmpty { handshakeBytes(early, tls) }
        } catch {
            recordError("tls_setup", "\(error)")
            connection.close()
        }
    }

    /// `host:port` with a DNS name, IPv4 or bracketed IPv6 host; the host validated as CertForge would.
    static func authority(_ target: String) -> (String, Int)? {
        guard let colon = target.lastIndex(of: ":"), let port = Int(target[target.index(after: colon)...]),
              (1...65535).contains(port) else { return nil }
        let host = String(target[..<colon])
        guard let name = try? ServerName(host) else { return nil }
        if case let .ip(address) = name, address.contains(":") && !host.hasPrefix("[") { return nil }
        return (name.text, port)
    }

    // MARK: TLS with the client

    private func handshakeBytes(_ bytes: [UInt8], _ tls: TLSServerSession) {
        // A TLS connection starts with a handshake record (0x16); anything else is plaintext in a tunnel.
        if tunnelRequests.bufferedCount == 0, bytes.first != 0x16, !hasReceivedTLS {
            failHandshake(.notTLS, detail: "first bytes: \(String(decoding: bytes.prefix(16), as: UTF8.self).debugDescription)")
            return
        }
        hasReceivedTLS = true
        tls.engine.receive(bytes)
        advanceHandshake(tls)
    }
    private var hasReceivedTLS = false

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
            state = .intercepting(tls)
            var established = event(.tlsEstablished)
            established.sni = tls.serverName
            established.tlsVersion = tls.engine.protocolVersion
            established.cipher = tls.engine.cipher
            established.alpn = tls.engine.alpn
            core.recorder.record(established)
            tunnelBytes([], tls)  // application data may have arrived with the client's Finished
        }
    }

    func tlsSession(_ session: TLSServerSession, certificateFor serverName: String?) -> ForgedChain? {
        let name = (serverName.flatMap { try? ServerName($0) }) ?? target.flatMap { try? ServerName($0.host) }
        guard let name else { return nil }
        if let cached = core.forges.cached(name, failure: nil) { return cached }
        let loop = connection.loop
        core.forges.chain(for: name, failure: nil) { [weak self] result in
            guard let self else { return }
            loop.execute { self.certificateReady(result, for: session) }
        }
        return nil
    }

    private func certificateReady(_ result: Result<ForgedChain, Error>, for session: TLSServerSession) {
        guard case let .handshaking(tls) = state, tls === session else { return }
        switch result {
        case let .success(chain):
            tls.provide(chain)
            advanceHandshake(tls)
        case let .failure(error):
            recordError("forge_failed", "\(error)")
            connection.close()
        }
    }

    private func failHandshake(_ failure: HandshakeFailure, detail: String) {
        handshakeTimer?.cancel()
        var failed = event(.tlsFailed)
        failed.cause = failure.rawValue
        failed.detail = detail
        if case let .handshaking(tls) = state { failed.sni = tls.serverName }
        core.recorder.record(failed)
        let client = connection.peer?.description ?? "client"
        core.logger.warning("\(client) rejected the certificate for \(target?.host ?? "?"): \(failure.rawValue); \(failure.hint(rootFile: core.rootCertificateFile))")
        state = .closed
        if failure == .notTLS {
            let response = HTTPResponse.text(400, "intercept-proxy: the tunnel to \(target?.host ?? "the host") expects TLS, but plaintext arrived; use https:// URLs through this proxy", close: true)
            connection.write(response.serialized())
        }
        connection.closeWhenDrained()
    }

    // MARK: HTTP inside the tunnel

    private func tunnelBytes(_ bytes: [UInt8], _ tls: TLSServerSession) {
        if !bytes.isEmpty { tls.engine.receive(bytes) }
        let (plaintext, closed) = tls.engine.readPlaintext()
        connection.write(tls.engine.takeOutput())
        do {
            for event in try tunnelRequests.feed(plaintext) { try handleTunnelEvent(event, tls) }
        } catch let error as HTTPParseError {
            respond(HTTPResponse.text(error.status, "intercept-proxy: \(error.reason)", close: true), tls, head: nil)
            recordError("bad_request", error.reason)
            return
        } catch {
            recordError("tunnel", "\(error)")
        }
        if closed {
            tls.engine.shutdown()
            connection.write(tls.engine.takeOutput())
            connection.closeWhenDrained()
        }
    }

    private func handleTunnelEvent(_ event: HTTPRequestDecoder.Event, _ tls: TLSServerSession) throws {
        switch event {
        case let .head(head):
            inFlight = (head, 0, Date())
            var request = self.event(.request)
            request.method = head.method
            request.url = url(for: head)
            request.headers = head.headers.map { [$0.name, $0.value] }
            core.recorder.record(request)
            if head.headerContains("Expect", token: "100-continue") {
                tls.engine.write(Array("HTTP/1.1 100 Continue\r\n\r\n".utf8))
                connection.write(tls.engine.takeOutput())
            }
        case let .body(bytes):
            inFlight?.bodyBytes += bytes.count
        case .end:
            guard let current = inFlight else { return }
            respond(offlineResponse(for: current.head), tls, head: current.head)
        }
    }

    private func offlineResponse(for head: HTTPRequestHead) -> HTTPResponse {
        let profile = core.authority.profile.storageName
        let text = """
            intercept-proxy offline: the TLS handshake for \(target?.host ?? "?") succeeded, so this client trusts the \(profile) root CA.
            No upstream was contacted (--offline).
            request: \(head.method) \(url(for: head))
            """
        return HTTPResponse.text(200, text, close: !head.keepAlive)
    }

    private func respond(_ response: HTTPResponse, _ tls: TLSServerSession, head: HTTPRequestHead?) {
        tls.engine.write(response.serialized(forHEAD: head?.method == "HEAD"))
        connection.write(tls.engine.takeOutput())
        var responded = event(.response)
        responded.status = response.status
        responded.method = head?.method
        responded.url = head.map(url(for:))
        responded.bodyBytes = response.body.count
        responded.durationMs = inFlight.map { Date().timeIntervalSince($0.started) * 1000 }
        core.recorder.record(responded)
        inFlight = nil
        if response.closeConnection {
            tls.engine.shutdown()
            connection.write(tls.engine.takeOutput())
            connection.closeWhenDrained()
        }
    }

    private func url(for head: HTTPRequestHead) -> String {
        if head.target.hasPrefix("https://") || head.target.hasPrefix("http://") { return head.target }
        guard let target else { return head.target }
        let host = target.host.contains(":") ? "[\(target.host)]" : target.host
        return "https://\(host)\(target.port == 443 ? "" : ":\(target.port)")\(head.target)"
    }

    // MARK: Answers and events

    /// Answers the proxy request with an error and closes.
    private func reject(_ status: Int, _ reason: String) {
        recordError(status == 431 ? "head_too_large" : "bad_request", reason, status: status)
        connection.write(HTTPResponse.text(status, "intercept-proxy: \(reason)", close: true).serialized())
        state = .closed
        connection.closeWhenDrained()
    }

    private func recordError(_ cause: String, _ detail: String, status: Int? = nil) {
        var error = event(.error)
        error.cause = cause
        error.detail = detail
        error.status = status
        core.recorder.record(error)
        core.logger.notice("\(connection.peer?.description ?? "client"): \(cause): \(detail)")
    }

    private func event(_ kind: FlowEvent.Kind) -> FlowEvent {
        var event = FlowEvent(type: kind, connection: id)
        event.client = connection.peer?.description
        event.host = target?.host
        event.port = target?.port
        return event
    }
}
