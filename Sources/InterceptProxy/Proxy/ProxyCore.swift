import CertForge
import FoundationEssentials
import EssentialsSupport
import Logging

/// What every connection of one proxy instance shares: configuration, TLS context, forge, recorder.
final class ProxyCore: @unchecked Sendable {
    let configuration: ProxyConfiguration
    let authority: CertificateAuthority
    let rootCertificateFile: String?
    /// The public stand-in PKI and its root's file (nil when it lives only in memory).
    let publicAuthority: CertificateAuthority
    let publicRootCertificateFile: String?
    let tlsContext: TLSServerContext
    let forges: ForgeCoordinator
    /// Forges what hosts the gateway does not inspect present: leaves of the public stand-in.
    let publicForges: ForgeCoordinator
    let recorder: FlowRecorder
    let logger: Logger
    /// Nil in offline mode, where nothing goes upstream.
    let upstreamTLS: TLSClientContext?
    /// What a tunnel whose upstream fails verification gets (`--untrusted-upstream`, or the vendor's).
    let untrustedUpstream: UntrustedUpstreamPolicy
    /// For `resign-untrusted`: the CA nobody trusts, and the unverified context its tunnels reach
    /// their upstream with (the gateway has let the bad certificate through by then).
    let untrustedForges: ForgeCoordinator?
    let unverifiedUpstreamTLS: TLSClientContext?
    /// How many clients are served at once (`maxConnections`).
    let admission: ConnectionAdmission
    /// Failure and map-remote rules, changeable at run time (control API hook, issue #15).
    let rules: RuntimeRules
    private let ignorePatterns: [Regex<AnyRegexOutput>]
    /// How a tunnel's pool reaches its origin: `RouteDialer`, or in unit tests origins in memory.
    /// Set before the first connection; read on the loops.
    var dialer: (UpstreamRoute, TLSClientContext?, EventLoop) -> UpstreamDialer
    /// The exchanges' timers: `LoopTimer`s, or in unit tests timers on a clock the test advances.
    var exchangeTimers: (EventLoop, @escaping () -> Void) -> ExchangeTimer = { LoopTimer(loop: $0, $1) }

    private let lock = PthreadMutex()
    private var nextID = 0
    private var live: [Int: ClientConnection] = [:]

    init(configuration: ProxyConfiguration, authority: CertificateAuthority, rootCertificateFile: String?,
         publicAuthority: CertificateAuthority, publicRootCertificateFile: String?,
         leafKeys: (gateway: PrivateKey?, publicStandIn: PrivateKey?) = (nil, nil),
         recorder: FlowRecorder, logger: Logger) throws {
        self.configuration = configuration
        self.authority = authority
        self.rootCertificateFile = rootCertificateFile
        self.publicAuthority = publicAuthority
        self.publicRootCertificateFile = publicRootCertificateFile
        self.tlsContext = try TLSServerContext(http2: configuration.http2, alpn: configuration.alpn)
        self.recorder = recorder
        self.logger = logger
        self.rules = RuntimeRules(configuration)
        self.admission = try ConnectionAdmission(
            limit: configuration.maxConnections ?? ProxyConfiguration.defaultMaxConnections,
            allowList: try ClientAllowList.effective(configuration), recorder: recorder, logger: logger)
        let constrained = authority.intermediates.contains { $0.certificate.nameConstraintsText != nil }
        for rule in configuration.hostQuirks {
            do { try Quirk.checkPerHost(rule.quirks, profile: authority.profile) } catch let error as CertForgeError {
                throw ConfigurationError("--host-quirk \(rule.pattern)=...: \(error.description)")
            }
            // Re-signed for some hosts, the intermediates would lose the constraints clients that
            // ignore a root's constraints rely on.
            if constrained, let quirk = rule.quirks.first(where: \.changesACA) {
                throw ConfigurationError("--host-quirk \(rule.pattern)=\(quirk.rawValue): this CA has name constraints, which intermediates "
                                         + "re-signed per host would not carry; give the quirk to the whole CA with --quirk")
            }
        }
        self.ignorePatterns = try configuration.ignoreHosts.map { pattern in
            do { return try icuCompatibleRegex(pattern) } catch {
                throw ConfigurationError("--ignore-hosts '\(pattern)' is not a valid regular expression")
            }
        }
        // Both of these start OpenSSL work on a background thread, so they come last, and a
        // failure of the second waits for the first's: the caller may exit right after a throw.
        let forge = try LeafForge(authority: authority, sharedKey: leafKeys.gateway)
        let publicForge: LeafForge
        do {
            publicForge = try LeafForge(authority: publicAuthority, sharedKey: leafKeys.publicStandIn)
        } catch {
            forge.waitForBackgroundWork()
            throw error
        }
        do {
            self.upstreamTLS = configuration.offline ? nil : try TLSClientContext(
                extraCAFile: configuration.upstreamCAFile, insecure: configuration.upstreamInsecure,
                clientCertificateFile: configuration.clientCertificateFile)
        } catch {
            forge.waitForBackgroundWork()
            publicForge.waitForBackgroundWork()
            throw error
        }
        untrustedUpstream = configuration.untrustedUpstream ?? .vendorDefault(forProfile: authority.profile.name)
        if untrustedUpstream == .resignUntrusted, let verified = upstreamTLS, verified.verifies {
            do {
                let untrusted = try CertificateAuthority.generate(profile: .untrustedUpstream(of: authority.profile))
                untrustedForges = ForgeCoordinator(forge: try LeafForge(authority: untrusted))
                unverifiedUpstreamTLS = try TLSClientContext(extraCAFile: nil, insecure: true,
                                                             clientCertificateFile: configuration.clientCertificateFile)
            } catch {
                forge.waitForBackgroundWork()
                publicForge.waitForBackgroundWork()
                verified.awaitTrustStore()
                throw error
            }
        } else {
            untrustedForges = nil
            unverifiedUpstreamTLS = nil
        }
        let connectTimeout = configuration.connectTimeout
        self.dialer = { RouteDialer(route: $0, tls: $1, loop: $2, connectTimeout: connectTimeout) }
        self.publicForges = ForgeCoordinator(forge: publicForge)
        self.forges = ForgeCoordinator(forge: forge) { [logger] host, reason in
            logger.warning("the certificate forged for \(host) is outside the CA's name constraints (\(reason)): clients that enforce them will reject it")
        }
    }

    /// Blocks until no background thread does OpenSSL work (the trust store load, the shared key,
    /// forges in flight). `exit` runs OpenSSL's cleanup, which must not race such a thread.
    func waitForBackgroundWork() {
        upstreamTLS?.awaitTrustStore()
        unverifiedUpstreamTLS?.awaitTrustStore()
        forges.waitUntilIdle()
        publicForges.waitUntilIdle()
        untrustedForges?.waitUntilIdle()
    }

    /// The failure mode the forge applies to a host: the catalogue's, else the first matching rule's.
    func failureMode(for host: String) -> FailureMode? {
        if let mode = BadSSLCatalogue.failureMode(for: host) { return mode }
        return rules.failureMode(for: host)
    }

    /// The quirks `host`'s chain carries besides the CA's (`--host-quirk`: every matching rule's), sorted.
    func hostQuirks(for host: String) -> [Quirk] {
        guard !configuration.hostQuirks.isEmpty else { return [] }
        return Array(Set(configuration.hostQuirks.filter { $0.matches(host) }.flatMap(\.quirks))).sorted()
    }

    /// The block page a request to `host` gets, when a --block rule matches it.
    func blockPage(for host: String) -> BlockPageVendor? {
        guard let rule = configuration.blockRules.first(where: { $0.matches(host) }) else { return nil }
        return rule.vendor ?? BlockPageVendor.forProfile(authority.profile.name)
    }

    /// Whether a CONNECT target is to be spliced rather than intercepted.
    func isIgnored(host: String, port: Int) -> Bool {
        let text = "\(host):\(port)"
        return ignorePatterns.contains { text.firstMatch(of: $0) != nil }
    }

    /// What a tunnel to host:port gets, with the world it was decided in: intercepted by the gateway
    /// CA; or, for a host the gateway does not inspect (a `--bypass` match, every host in the direct
    /// world), the site's own certificate: a public stand-in leaf where the proxy answers or a local
    /// origin stands in for the site, else the real upstream's, spliced.
    func treatment(host: String, port: Int) -> (TunnelTreatment, World) {
        let (world, bypass) = rules.interception(for: host)
        if TrustAnchorSite.contains(host) { return (.intercepted, world) }  // the proxy's own site, in every world
        if isIgnored(host: host, port: port) && !BadSSLCatalogue.contains(host) { return (.spliced(why: "--ignore-hosts"), world) }
        guard world == .direct || bypass != nil else { return (.intercepted, world) }
        let why = bypass.map { "--bypass \($0.pattern)" } ?? "the direct world"
        if configuration.offline || BadSSLCatalogue.contains(host) || rules.mapRemoteRule(host: host, port: port) != nil {
            return (.publicSite(why: why), world)
        }
        return (.spliced(why: why), world)
    }

    /// Where a request for host:port goes: a mapped address, through the upstream proxy, or direct.
    /// `serverName` (the client's SNI) is what the upstream's certificate must name; the host by default.
    func route(host: String, port: Int, serverName: String? = nil) -> UpstreamRoute {
        if let rule = rules.mapRemoteRule(host: host, port: port) {
            return UpstreamRoute(target: (host, port), dial: (rule.address, rule.addressPort), viaProxy: false, serverName: serverName)
        }
        if let proxy = configuration.upstreamProxy {
            return UpstreamRoute(target: (host, port), dial: (proxy.host, proxy.port), viaProxy: true, serverName: serverName)
        }
        return UpstreamRoute(target: (host, port), dial: (host, port), viaProxy: false, serverName: serverName)
    }

    /// The addresses the proxy listens on, once started: a request dialled back to one would loop.
    private var ownAddresses: [SocketAddress] = []

    func listening(on addresses: [SocketAddress]) {
        lock.withLock { ownAddresses = addresses }
    }

    /// Notes the address a client reached the proxy at: listening on 0.0.0.0, that is how the
    /// proxy learns its other addresses (a loop through one is then caught on its second turn).
    private func reached(at address: SocketAddress?) {
        guard let address else { return }
        lock.withLock {
            if !ownAddresses.contains(address), ownAddresses.count < 64 { ownAddresses.append(address) }
        }
    }

    /// Whether dialling host:port would reach this proxy: one of its ports on its listening
    /// address, a loopback or unspecified address, or `localhost`.
    func isProxyItself(host: String, port: Int) -> Bool {
        let listening = lock.withLock { ownAddresses }
        let lowered = host.lowercased()
        let isLocal = lowered == "localhost" || lowered == "::1" || lowered == "::" || lowered == "0.0.0.0"
            || (lowered.hasPrefix("127.") && SocketAddress(host: lowered, port: port).isNumeric)
        return listening.contains { $0.port == port && (isLocal || $0.host == lowered) }
    }

    /// Takes ownership of a freshly accepted socket.
    func adopt(_ connection: Connection) {
        if lock.withLock({ ownAddresses.contains { $0.host == "0.0.0.0" || $0.host == "::" } }) {
            reached(at: connection.localAddress)
        }
        lock.lock()
        nextID += 1
        let proxyConnection = ClientConnection(id: nextID, connection: connection, core: self)
        live[nextID] = proxyConnection
        lock.unlock()
        connection.delegate = proxyConnection
        connection.start()
        proxyConnection.start()
    }

    func release(_ id: Int) {
        let wasLive = lock.withLock { live.removeValue(forKey: id) != nil }
        if wasLive { admission.release() }
    }

    /// What the listeners report to: admission, adoption, and running out of descriptors, which
    /// is recorded (`fd_limit`) and logged once per episode.
    var listenerHandlers: ListenerHandlers {
        ListenerHandlers(
            admit: { [admission] in admission.admit($0) },
            accepted: { [self] in adopt($0) },
            starved: { [self] error in
                var event = FlowEvent(type: .error, connection: 0)
                event.cause = .fdLimit
                event.detail = "\(error); not accepting for up to \(Int(Listener.longestRetryDelay)) s at a time until descriptors free up "
                    + "(\(admission.openConnections) connections open; raise the limit with ulimit -n or LimitNOFILE=, or lower --max-connections)"
                recorder.record(event)
                logger.warning("\(event.detail!)")
            },
            recovered: { [logger] duration in
                logger.notice("accepting connections again after \(duration.oneDecimal) s at the descriptor limit")
            })
    }

    var liveConnections: [ClientConnection] {
        lock.lock()
        defer { lock.unlock() }
        return Array(live.values)
    }
}
