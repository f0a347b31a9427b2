import CertForge
import FoundationEssentials

/// Where the tunnel's upstream connections go, and what they offer.
extension ClientConnection {
    /// A new transport to `target` (TLS inside a tunnel, offering the client's ALPN protocols), not started.
    func dial(_ target: (host: String, port: Int)) -> UpstreamConnection {
        UpstreamConnection(route: upstreamRoute(for: target), tls: clientTLS == nil ? nil : upstreamTLS,
                           loop: connection.loop, alpn: upstreamProtocols)
    }

    /// How the tunnel's upstreams are reached: verified, unless the gateway re-signed a bad
    /// certificate with its untrusted CA (then the site is reached as it is, as the gateway does).
    var upstreamTLS: TLSClientContext? {
        tunnel?.upstreamUnverified == true ? core.unverifiedUpstreamTLS : core.upstreamTLS
    }

    /// Whether the upstream is dialled during the client's handshake, before the leaf is chosen:
    /// --mimic-upstream copies its certificate; resign-untrusted and pass act on its verdict.
    var dialsUpstreamFirst: Bool {
        guard tunnel?.treatment == .intercepted, !answersLocally else { return false }
        return core.configuration.mimicUpstream || core.configuration.alpn == .origin
            || (core.untrustedUpstream.decidesBeforeHandshake && core.upstreamTLS?.verifies == true)
    }

    /// Whether the client's bytes are kept during the handshake: `pass` relays them to the site
    /// when its certificate fails verification.
    func keepsClientHello(_ treatment: TunnelTreatment) -> Bool {
        core.untrustedUpstream == .pass && core.upstreamTLS?.verifies == true && treatment == .intercepted && !answersLocally
    }

    /// The route to the tunnel's target, verified for the name the client's TLS asked for.
    func upstreamRoute(for target: (host: String, port: Int)) -> UpstreamRoute {
        route(to: target, serverName: clientServerName?.text)
    }

    /// The proxy's route to host:port; a redirected connection goes on to the address it was
    /// headed for (not to what DNS says the name is), unless --map-remote or --upstream-proxy decide.
    func route(to target: (host: String, port: Int), serverName: String? = nil) -> UpstreamRoute {
        var route = core.route(host: target.host, port: target.port, serverName: serverName)
        if let redirectedRoute, !route.viaProxy, route.dial == target { route.dial = (redirectedRoute.host, redirectedRoute.port) }
        return route
    }

    /// ALPN for upstream connections: the protocols the client offered that the proxy speaks, in the
    /// client's order (h2 only when enabled); nil when it offered none (the TLS context's http/1.1).
    var upstreamProtocols: [String]? {
        let usable = (clientTLS?.offeredProtocols ?? []).filter { $0 == "http/1.1" || ($0 == "h2" && core.configuration.http2) }
        return usable.isEmpty ? nil : usable
    }
}

/// The connection dialled during the client's handshake (--mimic-upstream, --alpn origin,
/// --untrusted-upstream resign-untrusted or pass): its certificate shapes the leaf, its ALPN the
/// client's, its verdict who signs; what it sends before a client leg takes it over is kept (an h2
/// origin speaks first).
extension ClientConnection: UpstreamConnectionDelegate {
    func upstreamReady(_ upstream: UpstreamTransport) {
        connection.loop.assertInEventLoop()
        guard case var .handshaking(handshake) = state, let dial = handshake.dial, dial === upstream,
              let first = handshake.upstreamFirst, let session = clientTLS else { return }
        handshake.upstreamFirst = nil
        handshake.clientBytes = nil  // verified: intercepted as usual
        state = .handshaking(handshake)
        if core.configuration.alpn == .origin { session.originSelection = dial.negotiatedProtocol.map { .selected($0) } ?? .nothing }
        forgeAsync(first.name, failure: first.failure, mimicking: first.copiesCertificate ? dial.peerCertificate : nil, for: session)
    }

    func upstream(_ upstream: UpstreamTransport, received plaintext: [UInt8]) {
        connection.loop.assertInEventLoop()
        guard case var .handshaking(handshake) = state, handshake.dial === upstream else { return }
        // Bounded: the origin's first flight (h2 SETTINGS) before the client's handshake ends.
        guard handshake.heldInput.count + plaintext.count <= Self.backpressureLimit else {
            return upstream.fail(.protocolError("the upstream sent more than \(Self.backpressureLimit) bytes before any request"))
        }
        handshake.heldInput += plaintext
        state = .handshaking(handshake)
    }

    func upstreamDrained(_ upstream: UpstreamTransport) {}

    func upstreamClosed(_ upstream: UpstreamTransport, failure: UpstreamFailure?) {
        connection.loop.assertInEventLoop()
        guard case var .handshaking(handshake) = state, handshake.dial === upstream else { return }
        handshake.dial = nil
        handshake.heldInput = []
        let first = handshake.upstreamFirst
        handshake.upstreamFirst = nil
        let clientBytes = handshake.clientBytes
        handshake.clientBytes = nil
        state = .handshaking(handshake)
        guard let first, let session = clientTLS else { return }
        if case let .tls(_, detail) = failure, actOnUntrustedUpstream(first, session: session, reason: detail,
                                                                      clientBytes: handshake.answered ? nil : clientBytes) {
            return
        }
        // Nothing to copy or judge: forge as usual so the client still meets the CA; requests then get the 502.
        if first.copiesCertificate {
            recordError(.mimicFailed, failure?.message ?? "the upstream closed before its certificate was seen")
        }
        forgeAsync(first.name, failure: first.failure, mimicking: nil, for: session)
    }

    /// The upstream's certificate failed verification during the client's handshake: re-sign with
    /// the untrusted CA, or relay the client's handshake to the site (`clientBytes`: what it sent,
    /// nil when the proxy's TLS already answered). False: the tunnel is intercepted as usual.
    private func actOnUntrustedUpstream(_ first: UpstreamFirst, session: TLSServerSession, reason: String, clientBytes: [UInt8]?) -> Bool {
        let host = target?.host ?? first.name.text
        switch core.untrustedUpstream {
        case .resignUntrusted:
            guard let untrusted = core.untrustedForges else { return false }
            tunnel?.upstreamUnverified = true
            recordError(.upstreamUntrusted, "the certificate of \(host) failed verification (\(reason)): re-signed with the untrusted CA "
                        + "(--untrusted-upstream resign-untrusted), which no client trusts")
            forgeAsync(first.name, failure: first.failure, mimicking: nil, for: session, forges: untrusted)
            return true
        case .pass:
            guard let clientBytes, case let .handshaking(handshake) = state else {
                recordError(.upstreamUntrusted, "the certificate of \(host) failed verification (\(reason)), but the client's handshake "
                            + "was past relaying (over \(Self.backpressureLimit) bytes, or answered): intercepted instead")
                return false
            }
            handshake.timer.cancel()
            recordError(.upstreamUntrusted, "the certificate of \(host) failed verification (\(reason)): passed through "
                        + "(--untrusted-upstream pass), the client sees the site's own certificate")
            tunnel?.tls = nil
            tunnel?.treatment = .spliced(why: "--untrusted-upstream pass")
            splice(early: clientBytes, why: "--untrusted-upstream pass")
            return true
        case .block, .reject:
            return false
        }
    }
}
