import CertForge
import Dispatch
import FoundationEssentials

/// One client connection through its life (`State`): the proxy request (CONNECT or
/// absolute-form); for a tunnel the TLS handshake with a forged certificate
/// (ClientConnection+Tunnel.swift); then the HTTP/1.1 exchanges (HTTP1ClientLeg.swift) or the
/// h2 leg (HTTP2ClientLeg), answered locally or forwarded upstream. Confined to its
/// connection's event loop.
final class ClientConnection: TLSServerSessionDelegate, ExchangeContext, @unchecked Sendable {
    let id: Int
    /// The client's socket (or, in unit tests, an in-memory stream).
    let connection: ClientTransport
    let core: ProxyCore
    var state = State.closed  // awaitingRequest once the leg exists (init)
    /// The CONNECT tunnel, once opened (kept to the end for its `tunnelClosed` event).
    var tunnel: Tunnel?
    /// The TLS session with the client, for intercepted tunnels.
    var clientTLS: TLSServerSession? { tunnel?.tls }
    /// The host and port of the tunnel (or of the current plain-HTTP request).
    var target: (host: String, port: Int)?
    /// The upstream connections of the tunnel, or of the current plain-HTTP origin: shared by the
    /// exchanges of either client leg, closed with the connection.
    var upstreams: UpstreamPool?
    /// The client's address as events and log lines show it, formatted once (every request's
    /// events carry it).
    let clientAddress: String?
    /// Where the client was headed when the kernel redirected it here (`--transparent`).
    let redirectedTo: SocketAddress?
    /// A redirected connection's first bytes, kept until they tell TLS (and its server name) from
    /// plain HTTP; nil once decided, and for every other connection.
    var redirectedPrelude: [UInt8]?
    var redirectedReads = 0
    /// Where the current target is dialled when the client never named a proxy (its TLS or an
    /// origin-form request on a redirected connection): the address it was headed for. Nil for an
    /// explicit request, even on a redirected connection (a client whose own proxy setting the
    /// kernel redirected here), which goes where it names.
    var redirectedRoute: SocketAddress?

    /// Beyond this many bytes queued towards one side, the other side stops being read.
    static let backpressureLimit = 1 << 20

    init(id: Int, connection: ClientTransport, core: ProxyCore) {
        self.id = id
        self.connection = connection
        self.core = core
        clientAddress = connection.peer?.description
        redirectedTo = core.configuration.transparent ? connection.redirectedDestination : nil
        if redirectedTo != nil { redirectedPrelude = [] }
        state = .awaitingRequest(HTTP1ClientLeg(host: self))
    }

    /// Once the transport delivers to this connection: a client that never sends anything counts too.
    func start() {
        state.http1Leg?.updateClientWait()
    }

    /// The HTTP/1.1 exchanges in flight, oldest first (none on h2).
    private var outstanding: [HTTPExchange] { state.http1Leg?.outstanding ?? [] }

    /// Set by a graceful shutdown: finish what is in flight, accept nothing new, then close.
    var isDraining = false

    /// Begins a graceful close (proxy shutdown); runs on the connection's loop.
    func shutdown() {
        connection.loop.execute { [self] in
            isDraining = true
            if let http2 = state.http2Leg {
                http2.goAway()
                if !http2.hasOpenStreams { closeClient() }
                return
            }
            if !state.exchangesHTTP1 || outstanding.isEmpty { closeClient() }
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
            connection.close()  // the legs record what they cut (HTTP1ClientLeg.close, HTTP2ClientStream.abandon)
        }
    }

    /// After a response: a draining connection closes once nothing is outstanding.
    func closeIfDrained() {
        if isDraining && outstanding.isEmpty && !state.isClosing { closeClient() }
    }

    // MARK: The client transport's events (ClientTransport.swift)

    func clientReceived(_ bytes: [UInt8]) {
        connection.loop.assertInEventLoop()
        if redirectedPrelude != nil {
            redirectedPrelude!.append(contentsOf: bytes)
            redirectedReads += 1
            return redirectedBytesArrived()
        }
        switch state {
        case .awaitingRequest, .plainHTTP, .http1, .http2:
            if let tls = clientTLS {
                tls.engine.receive(bytes)
                clientPlaintextArrived(from: tls)
            } else {
                state.http1Leg?.receive(bytes)
            }
        case .handshaking:
            handshakeBytes(bytes)
        case let .relaying(leg):
            if let tls = clientTLS {
                tls.engine.receive(bytes)
                let (plaintext, closed, _) = tls.engine.readPlaintext()
                leg.receive(plaintext)
                if closed { closeClient() }
            } else {
                leg.receive(bytes)
            }
        case .closing, .closed:
            break
        }
        state.http1Leg?.updateClientWait()
    }

    func clientReadEOF() {
        connection.loop.assertInEventLoop()
        if case .handshaking = state {
            failHandshake(.closedDuringHandshake, detail: "the client closed the connection before finishing the handshake")
        } else if state.http2Leg != nil {
            connection.closeWhenDrained()  // h2 has no half-close: the client is gone, and so are its streams
        } else if !awaitingResponse, let cut = truncatedRequest {
            reject(RequestRefusal(status: 400, cause: .badRequest, reason: cut))  // never a half request taken as whole
        } else if outstanding.isEmpty || state.isRelaying {
            connection.closeWhenDrained()
        } else if clientTLS != nil {
            leftMidResponse()
        } else {
            // A plain-HTTP client half-closed after sending its requests: they are answered first.
            state.http1Leg?.clientFinishedSending()
        }
    }

    /// Whether the HTTP/1.1 exchange under way has its whole request and awaits its response: what
    /// the decoder still holds is pipelined requests, not a request cut short.
    private var awaitingResponse: Bool {
        guard let leg = state.http1Leg, leg.current != nil else { return false }
        return !leg.requests.isInMessage
    }

    /// A client inside a tunnel closed (close_notify or FIN) while responses were due: HTTP clients
    /// do not half-close TLS, so it is gone (curl --max-time, a browser tab closed), as nginx takes
    /// it; its exchanges are recorded as cut (`client_closed`) and their upstreams closed.
    private func leftMidResponse() {
        connection.close()
    }

    /// What was cut off when the client leaves now: a request head, body or trailers half received.
    private var truncatedRequest: String? {
        switch state {
        case let .awaitingRequest(leg), let .plainHTTP(leg), let .http1(leg): return leg.requests.truncation
        default: return nil
        }
    }

    func clientDrained() {
        connection.loop.assertInEventLoop()
        state.http1Leg?.clientDrained()
        state.http2Leg?.flush()
        if state.isClosing { connection.close() }
    }

    func clientClosed(error: SocketError?) {
        connection.loop.assertInEventLoop()
        // A reset (no FIN) in the middle of a request: say so, as for a close there (connectionReadEOF).
        if let error, let cut = truncatedRequest { recordError(.clientClosed, "\(cut); \(error)") }
        if case let .handshaking(handshake) = state {
            handshake.timer.cancel()
            handshake.dial?.close()
        }
        state.http1Leg?.close()
        state.http2Leg?.closeAll()
        upstreams?.closeAll()
        upstreams = nil
        if let tunnel {
            var event = event(.tunnelClosed)
            event.detail = error?.description
            if tunnel.handshakeCompleted, !tunnel.sawRequest, tunnel.tls != nil {
                // Host names are often checked after the handshake (curl, s_client): no alert arrives,
                // and the client may hang up with a reset rather than a clean close.
                event.detail = "no request after the TLS handshake: the client may have rejected the certificate after the handshake (for example a host-name mismatch)"
                    + (error.map { "; \($0)" } ?? "")
            }
            event.durationMs = Date().timeIntervalSince(tunnel.opened) * 1000
            core.recorder.record(event)
        }
        state = .closed
        core.release(id)
    }

    /// Decrypted bytes from the client inside a tunnel, for the leg ALPN chose.
    func clientPlaintextArrived(from tls: TLSServerSession) {
        clientPlaintextArrived(tls.engine.readPlaintext(), from: tls)
    }

    /// Ciphertext from the client in the loop's read buffer (see ConnectionDelegate): inside a
    /// tunnel it is decrypted before anything else may touch the buffer; otherwise it is copied.
    func clientReceived(inPlace bytes: UnsafeRawBufferPointer) {
        guard let tls = clientTLS, state.feedsALeg else { return clientReceived(Array(bytes)) }
        clientPlaintextArrived(tls.engine.readPlaintext(receivedInPlace: bytes), from: tls)
        state.http1Leg?.updateClientWait()
    }

    private func clientPlaintextArrived(_ read: (bytes: [UInt8], closed: Bool, error: String?), from tls: TLSServerSession) {
        let (plaintext, closed, _) = read
        connection.write(tls.engine.takeOutput())
        if let http2 = state.http2Leg {
            if !plaintext.isEmpty { http2.receive(plaintext) }
            if closed { closeClient() }
            return
        }
        guard let leg = state.http1Leg else { return }
        leg.receive(plaintext)
        guard closed, !state.isClosing else { return }
        if leg.outstanding.isEmpty || state.isRelaying {
            closeClient()
        } else if truncatedRequest == nil {
            leftMidResponse()
        }  // a request cut short: the FIN that follows gets its 400 (clientReadEOF)
    }

    // MARK: Writing to the client

    /// Sends bytes to the client, encrypted when inside a tunnel.
    func sendToClient(_ bytes: [UInt8]) {
        connection.loop.assertInEventLoop()
        if let tls = clientTLS {
            do {
                try tls.engine.write(bytes)
            } catch {
                recordError(.tlsWrite, "\(error)")
                connection.close()
                return
            }
            connection.write(tls.engine.takeOutput())
        } else {
            connection.write(bytes)
        }
        if connection.pendingOutbound > Self.backpressureLimit { state.http1Leg?.clientBackedUp() }
    }

    /// Ends the client connection after what is queued (close_notify first inside a tunnel).
    func closeClient() {
        connection.loop.assertInEventLoop()
        if let tls = clientTLS, !state.isHandshaking {
            tls.engine.shutdown()
            connection.write(tls.engine.takeOutput())
        }
        state = .closing(state.leg)
        connection.closeWhenDrained()
    }

    // MARK: Answers and events

    /// Answers with an error and closes.
    /// Set by `reject`: exchanges the close then cuts short say so (`HTTPExchange.cutShort`).
    var refusal: RequestRefusal?

    func reject(_ refusal: RequestRefusal) {
        self.refusal = refusal
        if let receiving = state.http1Leg?.receiving {
            receiving.connectionEnded(refusal.cause, refusal.reason, status: refusal.status)  // the request refused is this one
        } else {
            recordError(refusal.cause, refusal.reason, status: refusal.status)
        }
        sendToClient(HTTPResponse.text(refusal.status, "intercept-proxy: \(refusal.reason)", close: true).serialized())
        closeClient()
    }

    func recordError(_ cause: FlowCause, _ detail: String, status: Int? = nil, url: String? = nil, streamId: Int32? = nil) {
        var error = event(.error)
        error.streamId = streamId.map(Int.init)
        error.cause = cause
        error.detail = detail
        error.status = status
        error.url = url
        core.recorder.record(error)
        core.logger.notice("\(clientAddress ?? "client"): \(cause): \(detail)")
    }

    // MARK: ExchangeContext

    var loop: EventLoop { connection.loop }
    var isTunnel: Bool { clientTLS != nil }
    var treatment: TunnelTreatment? { clientTLS == nil ? nil : tunnel?.treatment }
    var responseTimeout: TimeInterval { core.configuration.responseTimeout }
    func requestArrived() { tunnel?.sawRequest = true }
    func record(_ event: FlowEvent) { core.recorder.record(event) }
    func makeTimer(_ handler: @escaping () -> Void) -> ExchangeTimer { core.exchangeTimers(loop, handler) }

    /// Offline mode, the badssl catalogue, the CA's own site and blocked hosts are answered by the proxy itself.
    var answersLocally: Bool {
        target.map { answersLocally(host: $0.host) } ?? core.configuration.offline
    }

    func answersLocally(host: String) -> Bool {
        core.configuration.offline || BadSSLCatalogue.contains(host) || TrustAnchorSite.contains(host) || core.blockPage(for: host) != nil
    }

    func untrustedUpstreamAnswer(_ failure: UpstreamFailure, url: String, keepAlive: Bool) -> HTTPResponse? {
        guard case let .tls(host, detail) = failure, case let .block(vendor) = core.untrustedUpstream else { return nil }
        return (vendor ?? BlockPageVendor.forProfile(core.authority.profile.name))
            .certificateErrorPage(host: host, url: url, reason: detail, keepAlive: keepAlive)
    }

    /// What the proxy answers itself (offline mode, the badssl catalogue, http://intercept-proxy.test/ca.pem).
    func localAnswer(method: String, url: String, keepAlive: Bool) -> HTTPResponse {
        let profile = core.authority.profile.storageName
        let host = target?.host
        if let host, TrustAnchorSite.contains(host) {
            return TrustAnchorSite.response(method: method, url: url, authority: core.authority, keepAlive: keepAlive)
        }
        if let host, let vendor = core.blockPage(for: host) {
            return BlockRule.page(vendor, host: host, url: url, keepAlive: keepAlive)
        }
        if let host, BadSSLCatalogue.contains(host) {
            return HTTPResponse.text(200, BadSSLCatalogue.answer(host: host, profile: profile), close: !keepAlive)
        }
        let handshake: String
        switch treatment {
        case nil: handshake = "plain HTTP request for \(host ?? "?") (no TLS involved)"
        case let .publicSite(why)?:
            handshake = "\(host ?? "?") is not intercepted (\(why)); the TLS handshake with the site's own certificate "
                + "(public stand-in root) succeeded, so this client still trusts the public roots"
        case .intercepted?, .spliced?: handshake = "the TLS handshake for \(host ?? "?") succeeded, so this client trusts the \(profile) root CA"
        }
        let text = """
            intercept-proxy offline: \(handshake).
            No upstream was contacted (--offline).
            request: \(method) \(url)
            """
        return HTTPResponse.text(200, text, close: !keepAlive)
    }

    func event(_ kind: FlowEvent.Kind) -> FlowEvent {
        var event = FlowEvent(type: kind, connection: id)
        event.client = clientAddress
        event.host = target?.host
        event.port = target?.port
        return event
    }
}
