import ArgumentParser
import CertForge
import FoundationEssentials
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

          intercept-proxy verify --expect rejected --offline -- curl -sS https://pypi.org/
          intercept-proxy verify --expect trusted --offline -- curl --cacert certs/zscaler/root-ca.pem https://pypi.org/
        """)

    @OptionGroup var ca: CAOptions

    @Option(help: ArgumentHelp("trusted (default) or rejected.", valueName: "outcome"))
    var expect: String = "trusted"

    @Flag(help: "Answer every request locally; contact no upstream.")
    var offline = false

    @Option(name: .customLong("map-remote"), help: ArgumentHelp("As for run. Repeatable.", valueName: "HOST[:PORT]=ADDRESS:PORT"))
    var mapRemote: [String] = []

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
        do { _ = try mapRemote.map(MapRemoteRule.init(parsing:)) } catch let error as ConfigurationError {
            throw ValidationError(error.description)
        }
    }

    func run() throws {
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = .error  // the verdict table says what the per-failure warnings would
            return handler
        }
        var configuration = ProxyConfiguration()
        configuration.port = port
        if let listenHost { configuration.listenHost = listenHost }
        configuration.profile = try ca.resolvedProfile()
        configuration.caDirectory = ca.directory.url.path
        configuration.offline = offline
        configuration.mapRemote = try mapRemote.map(MapRemoteRule.init(parsing:))
        configuration.upstreamCAFile = upstreamCA
        configuration.upstreamInsecure = upstreamInsecure
        configuration.shutdownGracePeriod = 2
        if ca.isBringYourOwn { configuration.authority = try ca.loadAuthority(createIfMissing: false) }
        let proxy = try InterceptProxy(configuration: configuration)
        try proxy.start()

        let status: Int32
        do {
            status = try runCommand(proxyURL: "http://\(proxyHost ?? "127.0.0.1"):\(proxy.port)")
        } catch {
            proxy.stopAndWait()  // exit must not race the proxy's background OpenSSL work
            throw error
        }
        proxy.stopAndWait()

        let expected = HostVerdict.Outcome(rawValue: expect)!
        let verdicts = HostVerdict.summarise(proxy.recordedEvents)
        let matched = !verdicts.isEmpty && verdicts.allSatisfy { $0.outcome == expected }
        if json {
            try printJSON(verdicts: verdicts, status: status, matched: matched)
        } else {
            printTable(verdicts: verdicts, status: status, matched: matched, expected: expected, caFile: proxy.rootCertificateFile)
        }
        if !matched { throw ExitCode.failure }
    }

    /// Runs the command with the proxy variables set; its stdout goes to our stderr.
    private func runCommand(proxyURL: String) throws -> Int32 {
        var environment = ProcessInfo.processInfo.environment
        for name in ["NO_PROXY", "no_proxy"] { environment[name] = nil }
        for name in ["HTTPS_PROXY", "HTTP_PROXY", "https_proxy", "http_proxy"] { environment[name] = proxyURL }
        return try runProcess(command, environment: environment)
    }

    private func printTable(verdicts: [HostVerdict], status: Int32, matched: Bool, expected: HostVerdict.Outcome, caFile: String?) {
        var rows = [("HOST", "HANDSHAKE", "CAUSE", "REQUESTS")]
        rows += verdicts.map { ($0.host, $0.outcome.rawValue, $0.cause ?? "-", String($0.requests)) }
        let widths = (0..<3).map { column in rows.map { [$0.0, $0.1, $0.2][column].count }.max() ?? 0 }
        for row in rows {
            print([row.0.paddedRight(to: widths[0]),
                   row.1.paddedRight(to: widths[1]),
                   row.2.paddedRight(to: widths[2]), row.3].joined(separator: "  "))
        }
        print("command exited with status \(status)")
        if verdicts.isEmpty {
            print("FAIL: nothing was intercepted; does the command honour HTTPS_PROXY?")
        } else {
            print(matched ? "OK: every host was \(expected.rawValue)"
                          : "FAIL: expected every host to be \(expected.rawValue) (root CA: \(caFile ?? "the proxy's"))")
        }
    }

    private func printJSON(verdicts: [HostVerdict], status: Int32, matched: Bool) throws {
        struct Report: Encodable {
            let expect: String
            let matched: Bool
            let commandStatus: Int32
            let hosts: [HostVerdict]
        }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        let data = try encoder.encode(Report(expect: expect, matched: matched, commandStatus: status, hosts: verdicts))
        print(String(decoding: data, as: UTF8.self))
    }
}
