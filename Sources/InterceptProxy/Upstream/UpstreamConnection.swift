import CertForge
import COpenSSL
import FoundationEssentials

/// Where to connect for a target, after --map-remote and --upstream-proxy are applied.
struct UpstreamRoute: Equatable {
    /// The host and port the client asked for (SNI and Host stay these).
    var target: (host: String, port: Int)
    /// The TCP endpoint actually dialled.
    var dial: (host: String, port: Int)
    /// Set when `dial` is a proxy that must be asked to CONNECT to `target`.
    var viaProxy: Bool
    /// The name sent as SNI and verified in the upstream's certificate: the name the client's own
    /// TLS asked for (the leaf it was shown names it), else the target's host. The CONNECT target
    /// only decides the address, as in mitmproxy.
    var serverName: String

    init(target: (host: String, port: Int), dial: (host: String, port: Int), viaProxy: Bool, serverName: String? = nil) {
        self.target = target
        self.dial = dial
        self.viaProxy = viaProxy
        self.serverName = serverName ?? target.host
    }

    static func == (lhs: UpstreamRoute, rhs: UpstreamRoute) -> Bool {
        lhs.target == rhs.target && lhs.dial == rhs.dial && lhs.viaProxy == rhs.viaProxy && lhs.serverName == rhs.serverName
    }
}

/// One connection to an origin, with TLS when the tunnel was HTTPS: TCP, then (with
/// `--upstream-proxy`) the CONNECT step (`UpstreamProxyTunnel`), then TLS. The transport under
/// every upstream leg, bytes only (HTTP1UpstreamLeg and HTTP2UpstreamConnection frame HTTP over
/// it). Bytes sent before it is ready are queued. Confined to its loop.
final class UpstreamConnection: UpstreamTransport, ConnectionDelegate, @unchecked Sendable {
    private enum State {
        case connecting
        case proxyHandshake(UpstreamProxyTunnel)
        case tlsHandshake(TLSClientSession)
        case ready(TLSClientSession?)
        case closed
    }

    weak var delegate: UpstreamConnectionDelegate?
    let route: UpstreamRoute
    let loop: EventLoop
    private let tlsContext: TLSClientContext?
    private var state = State.connecting
    private var connection: Connection?
    private var queued: [UInt8] = []
    private var readingPaused = false
    /// The upstream's certificate once TLS is up (what --mimic-upstream copies).
    private(set) var peerCertificate: Certificate?
    /// The ALPN protocols offered (nil: the TLS context's http/1.1).
    private let alpn: [String]?
    /// What the upstream chose by ALPN once TLS is up ("h2", "http/1.1"), nil without ALPN or TLS.
    private(set) var negotiatedProtocol: String?

    init(route: UpstreamRoute, tls: TLSClientContext?, loop: EventLoop, alpn: [String]? = nil) {
        self.route = route
        self.tlsContext = tls
        self.loop = loop
        self.alpn = alpn
    }

    func start(timeout: TimeInterval) {
        loop.assertInEventLoop()
        TCPConnector.connect(host: route.dial.host, port: route.dial.port, loop: loop, timeout: timeout) { [self] result in
            switch result {
            case let .failure(failure): fail(failure)
            case let .success(connection): connected(connection)
            }
        }
    }

    /// Bytes waiting for the upstream socket, for backpressure on the client side.
    var pendingOutbound: Int { (connection?.pendingOutbound ?? 0) + queued.count }

    var isReady: Bool { if case .ready = state { return true } else { return false } }
    var isClosed: Bool { if case .closed = state { return true } else { return false } }

    func send(_ plaintext: [UInt8]) {
        loop.assertInEventLoop()
        guard !plaintext.isEmpty else { return }
        switch state {
        case let .ready(tls):
            send(raw: plaintext, tls: tls)
        case .closed:
            return
        default:
            queued.append(contentsOf: plaintext)
        }
    }

    private func send(raw plaintext: [UInt8], tls: TLSClientSession?) {
        guard !plaintext.isEmpty else { return }
        if let tls {
            do {
                try tls.engine.write(plaintext)
            } catch {
                return fail(.tlsSetup(host: route.serverName, detail: "\(error)"))
            }
            connection?.write(tls.engine.takeOutput())
        } else {
            connection?.write(plaintext)
        }
    }

    func pauseReading() {
        loop.assertInEventLoop()
        readingPaused = true
        connection?.pauseReading()
    }

    func resumeReading() {
        loop.assertInEventLoop()
        readingPaused = false
        if isReady { connection?.resumeReading() }
    }

    func close() {
        loop.assertInEventLoop()
        if case let .ready(tls?) = state {
            tls.engine.shutdown()
            connection?.write(tls.engine.takeOutput())
        }
        state = .closed
        connection?.delegate = nil
        connection?.closeWhenDrained()
    }

    private func connected(_ connection: Connection) {
        guard case .connecting = state else { connection.close(); return }
        self.connection = connection
        connection.delegate = self
        connection.start()
        if route.viaProxy {
            let tunnel = UpstreamProxyTunnel(target: route.target)
            state = .proxyHandshake(tunnel)
            connection.write(tunnel.request)
        } else {
            beginTLSOrReady()
        }
    }

    private func beginTLSOrReady() {
        guard let tlsContext else { becomeReady(nil); return }
        do {
            let session = try TLSClientSession(context: tlsContext, serverName: route.serverName, alpn: alpn)
            state = .tlsHandshake(session)
            advanceTLS(session)
        } catch {
            fail(.tlsSetup(host: route.serverName, detail: "\(error)"))
        }
    }

    private func advanceTLS(_ session: TLSClientSession) {
        let step = session.engine.handshake()
        connection?.write(session.engine.takeOutput())
        switch step {
        case .needsInput, .awaitingCertificate: return
        case .done: becomeReady(session)
        case let .failed(reason, detail):
            switch reason {
            case SSL_R_TLSV1_ALERT_NO_APPLICATION_PROTOCOL:
                fail(.alpnRefused(host: route.serverName, offered: alpn ?? ["http/1.1"]))
            case SSL_R_CERTIFICATE_VERIFY_FAILED:
                fail(.tls(host: route.serverName, detail: session.verificationError ?? detail))
            default:
                fail(.tlsHandshake(host: route.serverName, detail: detail))
            }
        }
    }

    private func becomeReady(_ tls: TLSClientSession?) {
        if let tls, let peer = tls.peerCertificate { peerCertificate = peer }
        negotiatedProtocol = tls?.engine.alpn
        state = .ready(tls)
        if readingPaused { connection?.pauseReading() }
        delegate?.upstreamReady(self)
        let pending = queued
        queued = []
        send(pending)
    }

    /// Ends the connection at once and reports `failure` (a leg above found the bytes unusable too).
    func fail(_ failure: UpstreamFailure) {
        guard !isClosed else { return }
        state = .closed
        connection?.delegate = nil
        connection?.close()
        delegate?.upstreamClosed(self, failure: failure)
    }

    // MARK: ConnectionDelegate

    func connection(_ connection: Connection, received bytes: [UInt8]) {
        loop.assertInEventLoop()
        switch state {
        case var .proxyHandshake(tunnel):
            let step = tunnel.receive(bytes)
            state = .proxyHandshake(tunnel)
            switch step {
            case .needsMore: return
            case let .refused(why): fail(.proxy(why))
            case let .established(rest):
                beginTLSOrReady()
                if !rest.isEmpty { self.connection(connection, received: rest) }
            }
        case let .tlsHandshake(session):
            session.engine.receive(bytes)
            advanceTLS(session)
            if case let .ready(tls?) = state { deliver(from: tls) }
        case let .ready(tls):
            if let tls {
                tls.engine.receive(bytes)
                deliver(from: tls)
            } else {
                delegate?.upstream(self, received: bytes)
            }
        case .connecting, .closed:
            return
        }
    }

    /// Ciphertext in the loop's read buffer (see ConnectionDelegate): once the session is up it is
    /// decrypted before anything else may touch the buffer; otherwise it is copied.
    func connection(_ connection: Connection, receivedInPlace bytes: UnsafeRawBufferPointer) {
        guard case let .ready(tls?) = state else { return self.connection(connection, received: Array(bytes)) }
        loop.assertInEventLoop()
        deliver(tls.engine.readPlaintext(receivedInPlace: bytes), from: tls)
    }

    private func deliver(from tls: TLSClientSession) {
        deliver(tls.engine.readPlaintext(), from: tls)
    }

    private func deliver(_ read: (bytes: [UInt8], closed: Bool, error: String?), from tls: TLSClientSession) {
        let (plaintext, closed, error) = read
        connection?.write(tls.engine.takeOutput())
        if !plaintext.isEmpty { delegate?.upstream(self, received: plaintext) }
        if let error, !isClosed {
            fail(.tlsRejected(host: route.serverName, detail: error))
        } else if closed, !isClosed {
            state = .closed
            connection?.close()
        }
    }

    func connectionReadEOF(_ connection: Connection) {
        loop.assertInEventLoop()
        switch state {
        case .tlsHandshake: fail(.closedEarly("the upstream closed the connection during the TLS handshake"))
        case .proxyHandshake: fail(.proxy("the upstream proxy closed the connection"))
        default: connection.close()
        }
    }

    func connectionDrained(_ connection: Connection) {
        loop.assertInEventLoop()
        delegate?.upstreamDrained(self)
    }

    func connectionClosed(_ connection: Connection, error: SocketError?) {
        loop.assertInEventLoop()
        let wasClosed = isClosed
        state = .closed
        if !wasClosed || error != nil {
            delegate?.upstreamClosed(self, failure: error.map { .closedEarly($0.description) })
        } else {
            delegate?.upstreamClosed(self, failure: nil)
        }
    }
}
