import CertForge
import Dispatch
import FoundationEssentials

/// The tunnel: CONNECT answered, the client's TLS handshake with a forged certificate (or the
/// bytes spliced to the origin untouched), then the client leg ALPN chose.
extension ClientConnection {
    /// Answers a CONNECT and opens its tunnel; `early` is what the client sent after the CONNECT.
    func openTunnel(_ head: HTTPRequestHead, early: [UInt8]) throws {
        guard let (host, port) = Self.authority(head.target) else {
            throw RequestRefusal(status: 400, cause: .badRequest, reason: "CONNECT needs host:port, got '\(head.target.prefix(200))'")
        }
        try openTunnel(host: host, port: port, early: early, what: "CONNECT \(head.target)", redirected: nil)
    }

    /// Opens the tunnel to host:port: after a CONNECT (answered 200 here), or for a connection the
    /// kernel redirected (`redirectedTo`), whose client never asked a proxy for anything.
    func openTunnel(host: String, port: Int, early: [UInt8], what: String, redirected: SocketAddress?) throws {
        redirectedRoute = redirected
        if !core.configuration.offline { try refuseLoop(route(to: (host, port)), what: what) }
        target = (host, port)
        let (treatment, world) = core.treatment(host: host, port: port)
        tunnel = Tunnel(treatment: treatment, world: world)
        var opened = event(.tunnelOpened)
        opened.method = redirected == nil ? "CONNECT" : nil
        opened.destination = redirected?.description
        opened.interception = treatment.interception(in: world)
        opened.world = world
        switch treatment {
        case .intercepted: if let redirected { opened.detail = "redirected to the proxy on its way to \(redirected) (--transparent)" }
        case let .publicSite(why): opened.detail = "not intercepted (\(why)): the site's own certificate, from the public stand-in root"
        case let .spliced(why): opened.detail = "spliced (\(why)): not intercepted, the bytes are relayed to the upstream"
        }
        core.recorder.record(opened)
        if redirected == nil { connection.write(Array("HTTP/1.1 200 Connection established\r\n\r\n".utf8)) }
        if case let .spliced(why) = treatment {
            splice(early: early, why: why)
            return
        }
        do {
            let tls = try TLSServerSession(context: core.tlsContext)
            tls.delegate = self
            tunnel?.tls = tls
            let timer = connection.loop.schedule(after: core.configuration.handshakeTimeout) { [weak self] in
                guard let self, self.state.isHandshaking else { return }
                self.failHandshake(.timeout, detail: "no complete handshake within \(Int(self.core.configuration.handshakeTimeout)) s")
            }
            var handshake = Handshake(timer: timer)
            if keepsClientHello(treatment) { handshake.clientBytes = [] }
            state = .handshaking(handshake)
            if !early.isEmpty { handshakeBytes(early) }
        } catch {
            recordError(.tlsSetup, "\(error)")
            connection.close()
        }
    }

    /// Relays the tunnel byte for byte to the origin: no TLS termination, no forged certificate.
    func splice(early: [UInt8], why: String) {
        guard let target else { return }
        guard !core.configuration.offline else {
            recordError(.splicedOffline, "\(why) matched \(target.host), but --offline contacts no upstream")
            connection.close()
            return
        }
        // No TLS, no ALPN: the bytes pass as they are.
        let transport = RouteDialer(route: route(to: target), tls: nil, loop: connection.loop,
                                    connectTimeout: core.configuration.connectTimeout).dial(alpn: nil)
        let leg = HTTP1ClientLeg(host: self)
        state = .relaying(leg)
        leg.splice(to: transport, early: early)
    }

    /// `host:port` with a DNS name, IPv4 or bracketed IPv6 host; the host validated as CertForge would.
    static func authority(_ target: String) -> (String, Int)? {
        guard let (host, port) = splitHostPort(target), let name = try? ServerName(host) else { return nil }
        return (name.text, port)
    }

    func handshakeBytes(_ bytes: [UInt8]) {
        guard let tls = clientTLS, case var .handshaking(handshake) = state else { return }
        // A TLS connection starts with a handshake record (0x16); anything else is plaintext in a tunnel.
        if !handshake.sawTLSRecord, bytes.first != 0x16 {
            failHandshake(.notTLS, detail: "first bytes: \(String(decoding: bytes.prefix(16), as: UTF8.self).debugDescription)")
            return
        }
        handshake.sawTLSRecord = true
        if let kept = handshake.clientBytes {  // for `pass`, until the upstream's verdict
            handshake.clientBytes = kept.count + bytes.count <= Self.backpressureLimit ? kept + bytes : nil
        }
        if let hello = handshake.helloBytes {  // the fingerprint, read once the whole ClientHello is in
            handshake.helloAttempts += 1
            switch ClientHello.parse(hello + bytes) {
            case .needsMore: handshake.helloBytes = handshake.helloAttempts < ClientHello.maximumAttempts ? hello + bytes : nil
            case let .parsed(parsed):
                tunnel?.fingerprint = ClientFingerprint(parsed)
                handshake.helloBytes = nil
            case .notTLS, .invalid: handshake.helloBytes = nil
            }
        }
        state = .handshaking(handshake)
        tls.engine.receive(bytes)
        advanceHandshake(tls)
    }

    func advanceHandshake(_ tls: TLSServerSession) {
        let progress = tls.advanceHandshake()
        let output = tls.engine.takeOutput()
        if !output.isEmpty, case var .handshaking(handshake) = state, !handshake.answered {
            handshake.answered = true
            state = .handshaking(handshake)
        }
        connection.write(output)
        switch progress {
        case .needsInput, .awaitingCertificate:
            return
        case let .failed(failure, detail):
            failHandshake(failure, detail: detail)
        case .established:
            guard case let .handshaking(handshake) = state, let target else { return }
            handshake.timer.cancel()
            tunnel?.handshakeCompleted = true
            var established = event(.tlsEstablished)
            established.sni = tls.serverName
            established.tlsVersion = tls.engine.protocolVersion
            established.cipher = tls.engine.cipher
            established.alpn = tls.engine.alpn
            established.ja4 = tunnel?.fingerprint?.ja4
            established.tlsStack = tunnel?.fingerprint?.stack
            established.chain = tls.presentedChain
            core.recorder.record(established)
            // The tunnel's upstream connections, for whichever leg ALPN chose.
            let pool = upstreamTLS.map { tls in
                UpstreamPool(dialer: core.dialer(upstreamRoute(for: target), tls, connection.loop), loop: connection.loop,
                             probeProtocols: upstreamProtocols)
            }
            upstreams = pool
            if tls.engine.alpn == "h2" {
                do {
                    let leg = try HTTP2ClientLeg(host: self, pool: pool)
                    state = .http2(leg)
                    leg.flush()  // our SETTINGS go first
                } catch {
                    recordError(.h2Setup, "\(error)")
                    closeClient()
                    return
                }
            } else {
                state = .http1(HTTP1ClientLeg(host: self))
            }
            if let dialled = handshake.dial {  // --mimic-upstream's connection serves the tunnel's exchanges
                if let pool { pool.adopt(dialled, received: handshake.heldInput) } else { dialled.close() }
            }
            clientPlaintextArrived(from: tls)  // application data may have come with the client's Finished
        }
    }

    /// The client's SNI when it is a valid DNS name: the leaf is forged for it, and the upstream is
    /// verified for it. An IP literal is not a host name (RFC 6066 3 forbids it in SNI) and is
    /// ignored: the CONNECT target names the leaf, so a client cannot get a leaf for one address
    /// while its request goes to another.
    var clientServerName: ServerName? {
        guard let name = clientTLS?.serverName.flatMap({ try? ServerName($0) }), case .dns = name else { return nil }
        return name
    }

    func tlsSession(_ session: TLSServerSession, certificateFor serverName: String?) -> ForgedChain? {
        connection.loop.assertInEventLoop()
        guard let name = clientServerName ?? target.flatMap({ try? ServerName($0.host) }) else { return nil }
        let failure = core.failureMode(for: name.text)
        let forges = leafForges
        if dialsUpstreamFirst, case var .handshaking(handshake) = state, handshake.dial == nil, let target {
            // Dial the upstream first; its certificate shapes the leaf, or its verdict decides
            // who signs it (see upstreamReady). The client leg ALPN picks takes the connection
            // over once the handshake is done.
            let dialled = dial(target)
            dialled.delegate = self
            handshake.upstreamFirst = UpstreamFirst(name: name, failure: failure, copiesCertificate: core.configuration.mimicUpstream)
            handshake.dial = dialled
            state = .handshaking(handshake)
            dialled.start(timeout: core.configuration.connectTimeout)
            return nil
        }
        if let cached = forges.cached(name, failure: failure, quirks: hostQuirks(for: name)) { return cached }
        forgeAsync(name, failure: failure, mimicking: nil, for: session)
        return nil
    }

    /// The `--host-quirk` quirks of the gateway's leaf for `name` (none for the public stand-in's).
    func hostQuirks(for name: ServerName) -> [Quirk] {
        tunnel?.treatment.presentsPublicLeaf == true ? [] : core.hostQuirks(for: name.text)
    }

    /// The gateway's forge, or for a host it does not inspect the public stand-in's.
    var leafForges: ForgeCoordinator {
        tunnel?.treatment.presentsPublicLeaf == true ? core.publicForges : core.forges
    }

    func forgeAsync(_ name: ServerName, failure: FailureMode?, mimicking upstream: Certificate?, for session: TLSServerSession,
                    forges: ForgeCoordinator? = nil) {
        let loop = connection.loop
        let quirks = forges == nil ? hostQuirks(for: name) : []  // the untrusted CA's leaves are textbook
        (forges ?? leafForges).chain(for: name, failure: failure, quirks: quirks, mimicking: upstream) { [weak self] result in
            guard let self else { return }
            loop.execute { self.certificateReady(result, for: session) }
        }
    }

    func certificateReady(_ result: Result<ForgedChain, Error>, for session: TLSServerSession) {
        connection.loop.assertInEventLoop()
        guard state.isHandshaking, clientTLS === session else { return }
        switch result {
        case let .success(chain):
            session.provide(chain)
            advanceHandshake(session)
        case let .failure(error):
            recordError(.forgeFailed, "\(error)")
            connection.close()
        }
        state.http1Leg?.updateClientWait()  // the handshake may have finished: the tunnel's leg waits for a request
    }

    func failHandshake(_ failure: HandshakeFailure, detail: String) {
        if case let .handshaking(handshake) = state {
            handshake.timer.cancel()
            handshake.dial?.close()
        }
        var failed = event(.tlsFailed)
        failed.cause = failure.cause
        failed.detail = detail
        failed.sni = clientTLS?.serverName
        failed.ja4 = tunnel?.fingerprint?.ja4
        failed.tlsStack = tunnel?.fingerprint?.stack
        failed.chain = clientTLS?.presentedChain
        core.recorder.record(failed)
        let client = clientAddress ?? "client"
        let hint: String
        if tunnel?.treatment.presentsPublicLeaf == true {
            hint = failure.publicSiteHint(rootFile: core.publicRootCertificateFile)
        } else {
            hint = core.forges.constraintViolation(for: clientServerName?.text ?? target?.host)
                .map { "the certificate is outside the CA's name constraints (\($0)), see ca init --name-constraints" } ?? failure.hint(rootFile: core.rootCertificateFile)
        }
        core.logger.warning("\(client) rejected the certificate for \(target?.host ?? "?"): \(failure.cause); \(hint)")
        state = .closing(nil)
        if failure == .notTLS {
            let response = HTTPResponse.text(400, "intercept-proxy: the tunnel to \(target?.host ?? "the host") expects TLS, but plaintext arrived; use https:// URLs through this proxy", close: true)
            connection.write(response.serialized())
        }
        connection.closeWhenDrained()
    }
}
