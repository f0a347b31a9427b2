import ArgumentParser
import CertForge
import Dispatch
import FoundationEssentials
import Glibc
import EssentialsSupport
import InterceptProxy
import Logging

struct RunCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Run the proxy (the default command).",
        discussion: """
        Prints one banner line when listening (on stderr when --flows is -, else stdout). SIGINT or
        SIGTERM stop it gracefully: no new connections, open ones get a grace period, the flow log is
        flushed, exit status 0.
        """)

    @OptionGroup var ca: CAOptions

    @Option(name: .customLong("listen-host"), help: ArgumentHelp(
        "IP address to listen on, or localhost for 127.0.0.1 and ::1 (env INTERCEPT_PROXY_LISTEN_HOST; default 127.0.0.1).",
        valueName: "address"))
    var listenHost: String?

    @Option(name: [.customShort("p"), .long], help: ArgumentHelp(
        "Port to listen on; 0 picks a free one (env INTERCEPT_PROXY_PORT; default 8080).", valueName: "port"))
    var port: Int?

    @Option(name: .customLong("allow-clients"), help: ArgumentHelp(
        "Serve only clients from this CIDR range or address (IPv4 or IPv6); others get 403. Repeatable. Default: everyone on loopback; "
            + "listening beyond it, loopback plus 10/8, 172.16/12, 192.168/16, 169.254/16, fc00::/7, fe80::/10.",
        valueName: "CIDR"))
    var allowClients: [String] = []

    @Option(name: .customLong("proxy-auth"), help: ArgumentHelp(
        "Require Proxy-Authorization: Basic with these credentials; others get 407 (env INTERCEPT_PROXY_PROXY_AUTH, better for secrets).",
        valueName: "USER:PASS"))
    var proxyAuth: String?

    @Flag(help: "Contact no upstream: every intercepted request gets a local 200 naming the host and profile.")
    var offline = false

    @Flag(name: .customLong("no-http2"), help: "Speak only HTTP/1.1, to clients and upstreams (by default h2 is offered on both legs).")
    var noHTTP2 = false

    @Option(name: .customLong("h2-idle-timeout"), help: ArgumentHelp(
        "Close an h2 client connection (GOAWAY) after this many seconds with no open stream and no frame received; 0 never.",
        valueName: "seconds"))
    var h2IdleTimeout: Double = 120

    @Option(name: .customLong("event-loops"), help: ArgumentHelp(
        "Event loops (threads serving connections), 1 to \(ProxyConfiguration.maximumEventLoopCount) "
            + "(env INTERCEPT_PROXY_EVENT_LOOPS; default one per two cores, at least 1: here \(ProxyConfiguration.defaultEventLoopCount)).",
        valueName: "count"))
    var eventLoops: Int?

    @Option(help: ArgumentHelp("Append flow events as JSON lines to this file; - for stdout.", valueName: "file"))
    var flows: String?

    @Option(help: ArgumentHelp("Write a HAR 1.2 file here on shutdown and on SIGUSR1.", valueName: "file"))
    var har: String?

    @Option(name: .customLong("map-remote"), help: ArgumentHelp(
        "Send HOST (on PORT, or any port; HOST may be a glob like *.corp.test) to ADDRESS:PORT instead, e.g. pypi.org=127.0.0.1:8443. Repeatable.",
        valueName: "HOST[:PORT]=ADDRESS:PORT"))
    var mapRemote: [String] = []

    @Option(name: .customLong("upstream-proxy"), help: ArgumentHelp("Reach upstreams through this HTTP proxy (CONNECT).", valueName: "http://HOST:PORT"))
    var upstreamProxy: String?

    @Option(name: .customLong("upstream-ca"), help: ArgumentHelp("Also trust this CA file for upstream certificates.", valueName: "file"))
    var upstreamCA: String?

    @Flag(name: .customLong("upstream-insecure"), help: "Do not verify upstream certificates.")
    var upstreamInsecure = false

    @Option(name: .customLong("client-cert"), help: ArgumentHelp(
        "Present this client certificate to upstreams that ask (one PEM file: certificate and key).", valueName: "file"))
    var clientCertificate: String?

    @Flag(name: .customLong("mimic-upstream"), help: "Connect upstream first and copy its certificate's subject, SANs and validity into the forged leaf.")
    var mimicUpstream = false

    @Option(name: .customLong("failure"), help: ArgumentHelp(
        "Forge matching hosts with a failure mode, e.g. '*.pypi.org=expired' (see `profiles`). Repeatable; *.badssl.test needs none.",
        valueName: "HOSTPATTERN=MODE"))
    var failureRules: [String] = []

    @Option(name: .customLong("host-quirk"), help: ArgumentHelp(
        "Matching hosts' chains carry these quirks besides the CA's (a glob like --failure; see `profiles`): leaf quirks, and the "
            + "intermediates' (re-signed for those hosts under the same root). Root quirks belong to the whole CA (--quirk). Repeatable.",
        valueName: "HOSTPATTERN=QUIRK[,QUIRK...]"))
    var hostQuirks: [String] = []

    @Flag(name: .customLong("transparent"), help: ArgumentHelp(
        "Also accept connections the kernel redirected here (iptables/nftables REDIRECT, as Zscaler Client Connector intercepts): TLS is "
            + "intercepted for the name in its ClientHello (else the original address), plain HTTP goes to its Host. Explicit proxy requests keep working."))
    var transparent = false

    @Option(name: .customLong("transparent-port"), help: ArgumentHelp(
        "With --transparent: also listen on this port, to aim the REDIRECT rules at a port of their own.", valueName: "port"))
    var transparentPort: Int?

    @Option(name: .customLong("alpn"), help: ArgumentHelp(
        "What the TLS server selects from the client's ALPN offer: offer (h2 or http/1.1, the client's preference), http1 (downgrade, "
            + "as some gateways do), none (no protocol selected: what gRPC clients report as 'missing selected ALPN property'), "
            + "origin (the upstream is dialled first and the client gets what the origin selected).",
        valueName: "offer|http1|none|origin"))
    var alpn: String = "offer"

    @Option(name: .customLong("block"), help: ArgumentHelp(
        "A host the gateway's policy blocks (a glob like --failure): after the TLS handshake its requests get the vendor's HTML block page "
            + "with 403 (zscaler, netskope, fortinet, umbrella) or 200 (forcepoint); default the profile's vendor, as JSON clients meet at work. Repeatable.",
        valueName: "HOSTPATTERN[=VENDOR]"))
    var block: [String] = []

    @Option(name: .customLong("untrusted-upstream"), help: ArgumentHelp(
        "When the real site's own certificate fails verification: resign-untrusted (a leaf from a CA nobody trusts; verification off "
            + "gets the site), block[=VENDOR] (the vendor's certificate-error page, 403), pass (the client sees the site's certificate), "
            + "reject (502). Default: what the profile's vendor does (zscaler, netskope: block; fortinet: resign-untrusted; plain: reject).",
        valueName: "POLICY"))
    var untrustedUpstream: String?

    @Option(name: .customLong("bypass"), help: ArgumentHelp(
        "A host the gateway does not inspect (a glob like --failure: *.bank.test). It presents the site's own certificate: offline or "
            + "mapped, a leaf from the public stand-in root; otherwise the real upstream's, spliced. Repeatable; also PUT /v1/bypass.",
        valueName: "HOSTPATTERN"))
    var bypass: [String] = []

    @Option(name: .customLong("world"), help: ArgumentHelp(
        "gateway (default): hosts are intercepted but the bypassed ones; direct: no gateway, no host is intercepted (CI without the proxy). Also PUT /v1/world.",
        valueName: "world"))
    var world: String = "gateway"

    @Option(name: .customLong("ignore-hosts"), help: ArgumentHelp(
        "Splice tunnels whose host:port matches this regular expression, without interception. Repeatable.", valueName: "regex"))
    var ignoreHosts: [String] = []

    @Option(name: .customLong("max-connections"), help: ArgumentHelp(
        "Most client connections served at once; more get 503 and are closed (default: (open-file limit - 64) / 2).",
        valueName: "n"))
    var maxConnections: Int?

    @Option(name: .customLong("request-head-timeout"), help: ArgumentHelp(
        "Seconds a client has to send a whole request head (or anything at all); then 408 or close (default 60).",
        valueName: "seconds"))
    var requestHeadTimeout: Double?

    @Option(name: .customLong("keep-alive-timeout"), help: ArgumentHelp(
        "Seconds an HTTP/1.1 connection may idle between requests before it is closed (default 75).", valueName: "seconds"))
    var keepAliveTimeout: Double?

    @Option(name: .customLong("ready-file"), help: ArgumentHelp(
        "Once listening, write {pid, host, port, caCertificate, publicCACertificate, profile, admin} as JSON here.", valueName: "file"))
    var readyFile: String?

    @Option(name: .customLong("admin"), help: ArgumentHelp(
        "Serve the control API (HTTP + JSON under /v1: health, ready, ca.pem, public-ca.pem, flows, reset, failures, map-remote, bypass, world, shutdown) "
            + "on this address; a bare PORT means loopback (env INTERCEPT_PROXY_ADMIN; default off).",
        valueName: "HOST:PORT"))
    var admin: String?

    private static func environment(_ name: String) -> String? {
        ProcessInfo.processInfo.environment[name].flatMap { $0.isEmpty ? nil : $0 }
    }

    func validate() throws {
        let port = try resolvedPort()
        guard (0...65535).contains(port) else { throw ValidationError("--port must be 0 to 65535, got \(port)") }
        _ = try resolvedEventLoops()
        guard h2IdleTimeout >= 0, h2IdleTimeout.isFinite else { throw ValidationError("--h2-idle-timeout must be 0 or more seconds, got \(h2IdleTimeout)") }
        _ = try parsedRules()
        _ = try parsedWorld()
        _ = try parsedAccessRules()
        if let admin = admin ?? Self.environment("INTERCEPT_PROXY_ADMIN") {
            do { _ = try InterceptProxy.parseAdminAddress(admin) } catch let error as ConfigurationError { throw ValidationError(error.description) }
        }
        for pattern in ignoreHosts where (try? icuCompatibleRegex(pattern)) == nil {
            throw ValidationError("--ignore-hosts '\(pattern)' is not a valid regular expression")
        }
        if let maxConnections, maxConnections < 1 { throw ValidationError("--max-connections must be at least 1, got \(maxConnections)") }
        for (flag, value) in [("--request-head-timeout", requestHeadTimeout), ("--keep-alive-timeout", keepAliveTimeout)] {
            if let value, !(value > 0 && value <= 86_400) { throw ValidationError("\(flag) must be more than 0 and at most 86400 seconds, got \(value)") }
        }
        if offline && (!mapRemote.isEmpty || upstreamProxy != nil || mimicUpstream) {
            throw ValidationError("--offline contacts no upstream; drop --map-remote/--upstream-proxy/--mimic-upstream or --offline")
        }
    }

    private func parsedRules() throws -> (mapRemote: [MapRemoteRule], upstreamProxy: UpstreamProxy?, failures: [FailureRule]) {
        do {
            return (try mapRemote.map(MapRemoteRule.init(parsing:)), try upstreamProxy.map(UpstreamProxy.init(parsing:)),
                    try failureRules.map(FailureRule.init(parsing:)))
        } catch let error as ConfigurationError {
            throw ValidationError(error.description)
        }
    }

    private func parsedWorld() throws -> (world: World, bypass: [BypassRule]) {
        do { return (try World(parsing: world), try bypass.map(BypassRule.init(parsing:))) } catch let error as ConfigurationError {
            throw ValidationError(error.description)
        }
    }

    /// `--allow-clients` (nil when not given: the configuration's default) and `--proxy-auth` or its variable.
    private func parsedAccessRules() throws -> (allowClients: [String]?, proxyAuth: ProxyCredentials?) {
        do {
            let allow = allowClients.isEmpty ? nil : allowClients
            _ = try allow.map(ClientAllowList.init)
            return (allow, try (proxyAuth ?? Self.environment("INTERCEPT_PROXY_PROXY_AUTH")).map(ProxyCredentials.init(parsing:)))
        } catch let error as ConfigurationError {
            throw ValidationError(error.description)
        }
    }

    /// An integer variable's value; nil when unset or empty, an error naming it when not a number.
    private static func environmentNumber(_ name: String) throws -> Int? {
        guard let text = environment(name) else { return nil }
        guard let value = Int(text) else { throw ValidationError("\(name) is not a number: '\(text)'") }
        return value
    }

    private func resolvedEventLoops() throws -> Int {
        var (count, source) = (ProxyConfiguration.defaultEventLoopCount, "--event-loops")
        if let eventLoops {
            count = eventLoops
        } else if let value = try Self.environmentNumber("INTERCEPT_PROXY_EVENT_LOOPS") {
            (count, source) = (value, "INTERCEPT_PROXY_EVENT_LOOPS")
        }
        let maximum = ProxyConfiguration.maximumEventLoopCount
        guard (1...maximum).contains(count) else { throw ValidationError("\(source) must be 1 to \(maximum), got \(count)") }
        return count
    }

    private func resolvedPort() throws -> Int {
        try port ?? Self.environmentNumber("INTERCEPT_PROXY_PORT") ?? 8080
    }

    func run() throws {
        // First of all: from here on a SIGINT/SIGTERM waits in the pipe until the proxy can stop.
        try SignalPipe.install([SIGINT, SIGTERM, SIGUSR1])
        Self.tuneMalloc()
        LoggingSystem.bootstrap { StreamLogHandler.standardError(label: $0) }
        var configuration = ProxyConfiguration()
        configuration.listenHost = listenHost ?? Self.environment("INTERCEPT_PROXY_LISTEN_HOST") ?? "127.0.0.1"
        configuration.port = try resolvedPort()
        (configuration.allowClients, configuration.proxyAuth) = try parsedAccessRules()
        configuration.profile = try ca.resolvedProfile()
        configuration.caDirectory = ca.directory.url.path
        configuration.offline = offline
        configuration.http2 = !noHTTP2
        configuration.http2IdleTimeout = h2IdleTimeout
        configuration.eventLoopCount = try resolvedEventLoops()
        configuration.flowsPath = flows
        configuration.harPath = har
        (configuration.mapRemote, configuration.upstreamProxy, configuration.failureRules) = try parsedRules()
        configuration.upstreamCAFile = upstreamCA
        configuration.upstreamInsecure = upstreamInsecure
        configuration.clientCertificateFile = clientCertificate
        configuration.ignoreHosts = ignoreHosts
        (configuration.world, configuration.bypassHosts) = try parsedWorld()
        guard let alpnPolicy = ALPNPolicy(rawValue: alpn.lowercased()) else {
            throw ValidationError("--alpn takes offer, http1, none or origin, got '\(alpn)'")
        }
        configuration.alpn = alpnPolicy
        do { configuration.blockRules = try block.map(BlockRule.init(parsing:)) } catch let error as ConfigurationError {
            throw ValidationError(error.description)
        }
        do { configuration.hostQuirks = try hostQuirks.map(HostQuirkRule.init(parsing:)) } catch let error as ConfigurationError {
            throw ValidationError(error.description)
        }
        if let untrustedUpstream {
            do { configuration.untrustedUpstream = try UntrustedUpstreamPolicy(parsing: untrustedUpstream) } catch let error as ConfigurationError {
                throw ValidationError(error.description)
            }
        }
        configuration.mimicUpstream = mimicUpstream
        if transparentPort != nil && !transparent { throw ValidationError("--transparent-port needs --transparent") }
        configuration.transparent = transparent
        configuration.transparentPort = transparentPort
        configuration.maxConnections = maxConnections
        if let requestHeadTimeout { configuration.requestHeadTimeout = requestHeadTimeout }
        if let keepAliveTimeout { configuration.keepAliveTimeout = keepAliveTimeout }
        if ca.isBringYourOwn {
            configuration.authority = try ca.loadAuthority(createIfMissing: false)
            // The public stand-in still lives in the CA directory, so that it stays the same from run to run.
            configuration.publicAuthority = try ca.loadPublicStandIn()
            configuration.publicCACertificateFile = ca.directory.rootCertificateURL(for: .publicStandIn).path
        }
        configuration.adminAddress = admin ?? Self.environment("INTERCEPT_PROXY_ADMIN")
        configuration.caCertificateFile = ca.caCertificate

        let proxy = try InterceptProxy(configuration: configuration)
        try proxy.start()
        let caFile = proxy.readyInfo.caCertificate
        let addresses = proxy.addresses.map(\.description).joined(separator: " ")
            + (proxy.adminAddress.map { " (control API on \($0))" } ?? "")
        let mode = (offline ? "offline" : "forwarding") + (transparent ? ", transparent" : "") + (proxy.world == .direct ? ", direct world: nothing intercepted" : "")
            + (configuration.bypassHosts.isEmpty ? "" : ", \(configuration.bypassHosts.count) bypass rule\(configuration.bypassHosts.count == 1 ? "" : "s")")
        let banner = "intercept-proxy listening on \(addresses) (profile \(proxy.profile.storageName), \(mode)); clients must trust \(caFile)"
            + (proxy.publicRootCertificateFile.map { "; public stand-in root \($0)" } ?? "")
            + (proxy.adminAddress.map { "; flow view http://\($0.reachableLocally)/ui" } ?? "")

        // Signals are watched before anything announces readiness: ready means ready to be stopped.
        proxy.onShutdownRequest = {  // POST /v1/shutdown: as SIGTERM
            Task {
                await proxy.stop()
                Glibc.exit(0)
            }
        }
        SignalPipe.watch { signalNumber in
            if signalNumber == SIGUSR1 {
                do { try proxy.writeHAR() } catch { Terminal.error("writing the HAR file: \(error)") }
                return
            }
            Task {
                await proxy.stop()  // also waits for background OpenSSL work, which exit must not race
                Glibc.exit(0)
            }
        }
        // The ready file first: whoever waits for either signal may rely on both.
        if let readyFile {
            do {
                try writeReadyFile(readyFile, proxy: proxy)
            } catch {
                proxy.stopAndWait()
                throw error
            }
        }
        if flows == "-" { Terminal.note(banner) } else { StandardIO.write(Array((banner + "\n").utf8), to: STDOUT_FILENO) }
        dispatchMain()
    }

    /// glibc's allocator, set for a process that streams through buffers of up to a few MiB (with
    /// mallopt, looked up at run time: Swift's Glibc module leaves out malloc.h).
    /// - Arenas: glibc gives each new thread one, up to 8 per core; libdispatch's changing workers
    ///   then spread the heap over many and RSS creeps up in steps for a long while (soak: +17% over
    ///   a million requests; with 2 arenas it is flat once warm, at the same request rate).
    /// - Trim and mmap thresholds: by default a freed buffer at the top of the heap over 128 KiB is
    ///   handed back to the kernel, and the next one faults its pages in again, zeroed. A bulk body
    ///   (TLS output, h2 frames, queues up to the 1 MiB backpressure limit) did that all the time:
    ///   page faults were a fifth of the proxy's CPU in an h2 download (2,500 -> 1,400 us/MiB with
    ///   these settings). Up to 8 MiB free per arena is kept for reuse instead; only blocks over
    ///   4 MiB, which nothing on the data path needs, get their own mapping.
    private static func tuneMalloc() {
        typealias MallOpt = @convention(c) (Int32, Int32) -> Int32
        guard let symbol = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "mallopt") else { return }  // RTLD_DEFAULT
        let mallopt = unsafeBitCast(symbol, to: MallOpt.self)
        // <malloc.h>: M_TRIM_THRESHOLD -1, M_MMAP_THRESHOLD -3, M_ARENA_MAX -8.
        _ = mallopt(-8, 2)
        _ = mallopt(-1, 8 << 20)
        _ = mallopt(-3, 4 << 20)
    }

    private func writeReadyFile(_ path: String, proxy: InterceptProxy) throws {
        let data = proxy.readyJSON
        // Write then rename, so a harness polling for the file never reads half of it.
        let temporary = path + ".tmp"
        try data.write(to: URL(fileURLWithPath: temporary))
        guard rename(temporary, path) == 0 else {
            throw CertForgeError.fileSystem(path: path, detail: String(cString: strerror(errno)))
        }
    }
}
