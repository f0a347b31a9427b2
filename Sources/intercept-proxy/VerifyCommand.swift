import ArgumentParser
import CertForge
import FoundationEssentials
import Glibc
import EssentialsSupport
import InterceptProxy
import Logging

struct VerifyCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "verify",
        abstract: "Run a command through a fresh proxy and check whether it trusted the CA.",
        discussion: """
        Starts the proxy on an ephemeral port, runs CMD with HTTPS_PROXY, HTTP_PROXY, https_proxy and
        http_proxy pointing at it (NO_PROXY removed), and prints per intercepted host: the handshake
        outcome, its cause and the requests seen. Exit 0 when every host matched --expect, 1 when not
        (or when nothing was intercepted). CMD's own output goes to stderr, so stdout holds only the result.

        --worlds gateway,direct runs CMD once per world: behind the gateway (hosts matching --bypass are
        not inspected and present the site's own certificate) and with no gateway at all. Hosts that
        present the site's own certificate must be trusted in every world: a fix that replaces a
        client's store with the gateway root alone fails there. These runs happen in a sandbox (a
        private mount namespace: root or user namespaces) whose default stores trust the public
        stand-in root, as real stores trust the real public roots.

          intercept-proxy verify --expect rejected --offline -- curl -sS https://pypi.org/
          intercept-proxy verify --expect trusted --offline -- curl --cacert certs/zscaler/root-ca.pem https://pypi.org/
          intercept-proxy verify --offline --worlds gateway,direct --bypass '*.bank.test' -- sh -c 'curl https://pypi.org/ && curl https://www.bank.test/'

        --transparent (with --offline; root) runs CMD the way a laptop agent intercepts: in a network
        namespace whose only way out is the proxy, with no proxy variables set. All its TCP beyond
        loopback is redirected to the proxy, every name resolves (a DNS stub hands out addresses of 198.18.0.0/15
        that exist only there), QUIC is refused so clients fall back to TCP, nothing leaves the machine.
        A client that ignores HTTPS_PROXY (node's fetch, a Go Transport without Proxy, a JVM without
        proxy properties) is then judged too; explicit mode cannot see it.

          intercept-proxy verify --offline --transparent --expect rejected -- node -e 'fetch("https://pypi.org/")'
        """)

    @OptionGroup var ca: CAOptions

    @Option(help: ArgumentHelp("trusted (default) or rejected.", valueName: "outcome"))
    var expect: String = "trusted"

    @Flag(help: "Answer every request locally; contact no upstream.")
    var offline = false

    @Flag(help: ArgumentHelp("Run CMD in a network namespace whose only way out is the proxy, with no proxy variables: "
        + "every TCP connection is intercepted, as a laptop agent does (needs --offline and root)."))
    var transparent = false

    @Option(name: .customLong("map-remote"), help: ArgumentHelp("As for run. Repeatable.", valueName: "HOST[:PORT]=ADDRESS:PORT"))
    var mapRemote: [String] = []

    @Option(help: ArgumentHelp("Comma-separated: gateway (default), direct, or both: CMD runs once per world and must pass in each.", valueName: "list"))
    var worlds: String = "gateway"

    @Option(name: .customLong("bypass"), help: ArgumentHelp("A host the gateway does not inspect, as for run (glob). Repeatable.", valueName: "HOSTPATTERN"))
    var bypass: [String] = []

    @Flag(name: .customLong("without-hashed-dir"), help: ArgumentHelp(
        "In the sandbox, give the public stand-in root to the OS bundle file only, not to the hashed directory /etc/ssl/certs: "
            + "as on Fedora, RHEL and macOS, where OpenSSL clients read the bundle alone. A fix that holds only because Debian's "
            + "directory still serves the public roots (curl --cacert, SSL_CERT_FILE for Python or Ruby) then fails there."))
    var withoutHashedDir = false

    @Option(name: .customLong("upstream-ca"), help: ArgumentHelp("As for run.", valueName: "file"))
    var upstreamCA: String?

    @Flag(name: .customLong("upstream-insecure"), help: "As for run.")
    var upstreamInsecure = false

    @Flag(help: "Print the result as JSON.")
    var json = false

    @Option(name: .customLong("listen-host"), help: ArgumentHelp(
        "As for run (default 127.0.0.1). A docker build's RUN steps reach the host only beyond loopback: e.g. 0.0.0.0.", valueName: "address"))
    var listenHost: String?

    @Option(name: [.customShort("p"), .long], help: ArgumentHelp("Port to listen on (default 0: a free one); fix it to name it in build arguments.", valueName: "port"))
    var port: Int = 0

    @Option(name: .customLong("proxy-host"), help: ArgumentHelp(
        "The host CMD is told to reach the proxy at, in HTTPS_PROXY and the others (default: 127.0.0.1), e.g. host.docker.internal.", valueName: "host"))
    var proxyHost: String?

    /// Only what follows `--` is the command, so `verify --help` prints help instead of running `--help`.
    @Argument(parsing: .postTerminator, help: "The command and its arguments, after --.")
    var command: [String] = []

    func validate() throws {
        guard HostVerdict.Outcome(rawValue: expect) != nil else { throw ValidationError("--expect is trusted or rejected") }
        guard !command.isEmpty else { throw ValidationError("name the command to run after --") }
        if transparent && !offline {
            throw ValidationError("--transparent needs --offline: the namespace has no way out but the proxy, so no upstream is reachable")
        }
        if transparent && proxyHost != nil { throw ValidationError("--proxy-host names the proxy to CMD; with --transparent CMD is told of no proxy") }
        do {
            _ = try mapRemote.map(MapRemoteRule.init(parsing:))
            let worlds = try parsedWorlds()
            _ = try bypass.map(BypassRule.init(parsing:))
            if withoutHashedDir && !worlds.contains(.direct) && bypass.isEmpty {
                throw ValidationError("--without-hashed-dir shapes the sandbox of --worlds direct or --bypass; add one of them")
            }
        } catch let error as ConfigurationError {
            throw ValidationError(error.description)
        }
    }

    /// The worlds in the order given, each once.
    private func parsedWorlds() throws -> [World] {
        var result: [World] = []
        for name in worlds.split(separator: ",", omittingEmptySubsequences: false) {
            let world = try World(parsing: name.trimmingWhitespace())
            if !result.contains(world) { result.append(world) }
        }
        return result
    }

    func run() throws {
        // Blocked before any thread exists, so every thread inherits it: while CMD runs, these are
        // passed on to it (runProcess), and the proxy and the sandbox are then cleaned up.
        var stopping = sigset_t()
        sigemptyset(&stopping)
        for signal in [SIGINT, SIGTERM, SIGHUP] { sigaddset(&stopping, signal) }
        pthread_sigmask(SIG_BLOCK, &stopping, nil)
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = .error  // the verdict table says what the per-failure warnings would
            return handler
        }
        let worlds = try parsedWorlds()
        let bypassRules = try bypass.map(BypassRule.init(parsing:))
        let expected = HostVerdict.Outcome(rawValue: expect)!
        // Hosts present the site's own certificate only in the direct world or when bypassed: only
        // then must the command's default stores hold the public stand-in root.
        let sandboxed = worlds.contains(.direct) || !bypassRules.isEmpty
        let publicAuthority = try ca.loadPublicStandIn()
        let publicRoot = publicAuthority.rootCertificate
        var sandbox: TrustSandbox?
        if sandboxed {
            do {
                sandbox = try TrustSandbox(publicRoot: publicRoot, command: command, environment: ProcessInfo.processInfo.environment,
                                           hashedDirectory: !withoutHashedDir)
            } catch let error as TrustSandbox.Unavailable {
                Terminal.error(error.description)
                throw ExitCode(2)
            }
        }
        defer { sandbox?.remove() }
        if let sandbox { Self.describe(sandbox) }
        var network: TransparentNetwork?
        if transparent {
            do { network = try TransparentNetwork() } catch let error as TransparentNetwork.Unavailable {
                Terminal.error(error.description)
                throw ExitCode(2)
            }
        }
        defer { network?.remove() }

        var results: [WorldResult] = []
        var caFile: String?
        var quicRefused = 0
        for world in worlds {
            let proxy = try startProxy(world: world, bypass: world == .gateway ? bypassRules : [], publicAuthority: publicAuthority,
                                       dns: network?.dns)
            caFile = proxy.rootCertificateFile
            let outcome: ProcessOutcome
            do {
                if let network {
                    do { try network.redirect(toPort: proxy.port) } catch let error as TransparentNetwork.Unavailable {
                        Terminal.error(error.description)
                        proxy.stopAndWait()
                        throw ExitCode(2)
                    }
                }
                outcome = try runCommand(proxyURL: "http://\(proxyHost ?? "127.0.0.1"):\(proxy.port)", sandbox: sandbox, network: network)
            } catch {
                proxy.stopAndWait()  // exit must not race the proxy's background OpenSSL work
                throw error
            }
            // The command's connections close with it: let the proxy read how each ended (a client's
            // alert arrives as the command exits) before stopping it, so no handshake is left undecided.
            let settled = monotonicSeconds() + 3
            while proxy.openConnections > 0 && monotonicSeconds() < settled { usleep(10_000) }
            proxy.stopAndWait()
            quicRefused += network?.quicAttempts() ?? 0  // read before the next world's rules reset the counters
            if let signal = outcome.forwarded {
                Terminal.note("stopped by signal \(signal): the command was stopped too; no verdict")
                throw ExitCode(128 + signal)  // the sandbox is removed on the way out
            }
            let status = outcome.status
            results.append(WorldResult(world: world, bypass: world == .gateway ? bypassRules.map(\.pattern) : [], commandStatus: status,
                                       events: proxy.recordedEvents, expect: expected,
                                       compiledIn: CompiledInStore.detect(command: command, environment: ProcessInfo.processInfo.environment)))
        }
        let report = VerifyReport(expect: expected, worlds: results, transparent: transparent, quicRefused: network == nil ? nil : quicRefused)
        if json {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
            print(String(decoding: try encoder.encode(report), as: UTF8.self))
        } else {
            report.printTable(caFile: caFile)
        }
        if !report.matched { throw ExitCode.failure }
    }

    /// A fresh proxy for one world, on the port asked for (the previous world's has stopped).
    private func startProxy(world: World, bypass: [BypassRule], publicAuthority: CertificateAuthority, dns: DNSStub?) throws -> InterceptProxy {
        var configuration = ProxyConfiguration()
        configuration.port = port
        if let listenHost { configuration.listenHost = listenHost }
        if let dns {  // both families' redirects arrive at loopback; a client without SNI is named by the address it dialled
            configuration.listenHost = "localhost"
            configuration.transparent = true
            configuration.redirectedAddressNames = { [dns] in dns.name(for: $0) }
        }
        configuration.profile = try ca.resolvedProfile()
        configuration.caDirectory = ca.directory.url.path
        configuration.offline = offline
        configuration.mapRemote = try mapRemote.map(MapRemoteRule.init(parsing:))
        configuration.upstreamCAFile = upstreamCA
        configuration.upstreamInsecure = upstreamInsecure
        configuration.shutdownGracePeriod = 2
        configuration.world = world
        configuration.bypassHosts = bypass
        configuration.publicAuthority = publicAuthority
        configuration.publicCACertificateFile = ca.directory.rootCertificateURL(for: .publicStandIn).path
        if ca.isBringYourOwn { configuration.authority = try ca.loadAuthority(createIfMissing: false) }
        let proxy = try InterceptProxy(configuration: configuration)
        try proxy.start()
        return proxy
    }

    /// What the sandbox gave the public stand-in root, and what it could not (on stderr, with CMD's output).
    private static func describe(_ sandbox: TrustSandbox) {
        var lines = ["the test world's default stores trust the public stand-in root (\(sandbox.rootFile)):"]
        lines += sandbox.stores.map { "  \($0.name): \($0.path)" }
        lines += sandbox.replacingBundles.map { "  note: \($0)" }
        lines += sandbox.limits.map { "  limit: \($0)" }
        Terminal.note(lines.joined(separator: "\n"))
    }

    /// Runs the command with the proxy variables set (inside the sandbox when there is one); its
    /// stdout goes to our stderr.
    private func runCommand(proxyURL: String, sandbox: TrustSandbox?, network: TransparentNetwork?) throws -> ProcessOutcome {
        var environment = ProcessInfo.processInfo.environment
        for name in ["NO_PROXY", "no_proxy", "ALL_PROXY", "all_proxy"] { environment[name] = nil }
        for name in ["HTTPS_PROXY", "HTTP_PROXY", "https_proxy", "http_proxy"] {
            environment[name] = network == nil ? proxyURL : nil  // transparent: the command is told of no proxy
        }
        var wrapped = command
        if let sandbox {
            environment.merge(sandbox.environment) { _, sandboxed in sandboxed }
            wrapped = sandbox.wrap(wrapped)
        }
        if let network { wrapped = network.wrap(wrapped) }
        return try runProcess(wrapped, environment: environment)
    }
}
