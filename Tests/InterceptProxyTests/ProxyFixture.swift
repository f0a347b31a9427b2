import CertForge
import Dispatch
import Foundation
import InterceptProxy
import Logging
import TestSupport

/// Runs `body` with an in-process proxy (see `ProxyFixture`) and stops the proxy when `body`
/// returns or throws: the stop is awaited, so nothing of one test outlives it.
func withProxy<Result>(profile: ChainProfile = .zscaler, offline: Bool = true,
                       configure: (inout ProxyConfiguration) -> Void = { _ in },
                       _ body: (ProxyFixture) async throws -> Result) async throws -> Result {
    let fixture = try ProxyFixture(profile: profile, offline: offline, configure: configure)
    return try await stopping({ await fixture.stop() }) { try await body(fixture) }
}

/// `body`, then `stop`, awaited, whether `body` returned or threw.
func stopping<Result>(_ stop: () async -> Void, _ body: () async throws -> Result) async throws -> Result {
    let result: Result
    do {
        result = try await body()
    } catch {
        await stop()
        throw error
    }
    await stop()
    return result
}

/// An in-process proxy on an ephemeral loopback port with its own CA directory. Tests get one
/// from `withProxy`, which stops it at the end.
final class ProxyFixture: @unchecked Sendable {
    let proxy: InterceptProxy
    let scratch: TemporaryDirectory
    var port: Int { proxy.port }
    var proxyURL: String { "http://127.0.0.1:\(proxy.port)" }
    var rootFile: String { proxy.rootCertificateFile! }

    init(profile: ChainProfile = .zscaler, offline: Bool = true, configure: (inout ProxyConfiguration) -> Void = { _ in }) throws {
        scratch = try TemporaryDirectory()
        var configuration = ProxyConfiguration()
        configuration.port = 0
        configuration.profile = profile
        configuration.offline = offline
        configuration.caDirectory = scratch.path("certs")
        configure(&configuration)
        var logger = Logger(label: "intercept-proxy-test")
        logger.logLevel = .critical
        proxy = try InterceptProxy(configuration: configuration, logger: logger)
        try proxy.start()
    }

    /// Stops the proxy (it lets open connections finish within its grace period); a second call
    /// waits for the first.
    func stop() async { await proxy.stop() }

    /// Waits until an event matching `predicate` has been recorded and returns the first such.
    /// What is already recorded is looked at first; then each new event as the recorder announces
    /// it (`InterceptProxy.flows(since:wait:)`, the control API's long poll), without polling.
    /// Fails after `timeout`, or at once when the proxy stops without having recorded one.
    @discardableResult
    func waitForEvent(timeout: TimeInterval = 10, _ predicate: (FlowEvent) -> Bool) throws -> FlowEvent {
        let deadline = Date() + timeout
        // Numbered before the history is read: an event recorded in between is in one or the other.
        var since = proxy.lastFlowSequence
        if let event = proxy.recordedEvents.first(where: predicate) { return event }
        while case let remaining = deadline.timeIntervalSinceNow, remaining > 0 {
            let page = nextFlows(since: since, wait: remaining)
            if let found = page.events.first(where: { predicate($0.event) }) { return found.event }
            // Nothing new although there was time left: the recorder closed (the proxy stopped).
            if page.events.isEmpty && deadline.timeIntervalSinceNow > 0.1 { break }
            since = page.next
        }
        throw TimedOut(command: "waiting for a flow event; recorded: \(proxy.recordedEvents.map(\.type.rawValue))", seconds: timeout)
    }

    /// `proxy.flows(since:wait:)` for a synchronous caller: blocks this thread only (the completion
    /// comes from the recording loop or a timer, never from a Swift concurrency thread).
    private func nextFlows(since: Int, wait: TimeInterval) -> FlowPage {
        let done = DispatchSemaphore(value: 0)
        nonisolated(unsafe) var page: FlowPage?
        proxy.flows(since: since, wait: min(wait, InterceptProxy.maximumFlowWait)) { found in
            page = found
            done.signal()
        }
        done.wait()
        return page!
    }

    /// curl through the proxy with the machine's CA variables removed.
    func curl(_ arguments: [String]) throws -> ProcessResult {
        try startCurl(arguments).wait()
    }

    /// curl through the proxy, started and left running. HTTP/1.1 unless the test asks for h2
    /// (curl would pick h2 now that the proxy offers it).
    func startCurl(_ arguments: [String]) throws -> RunningProcess {
        let version = arguments.contains("--http2") || arguments.contains("--http1.1") ? [] : ["--http1.1"]
        return try start("curl", ["-sS", "--max-time", "60", "--suppress-connect-headers", "-x", proxyURL] + version + arguments)
    }

    /// Waits until the proxy holds no client connection (nothing announces a connection's end:
    /// `openConnections` is polled) and returns whether it got there within `timeout`.
    @discardableResult
    func waitUntilNoConnection(timeout: TimeInterval = 10) -> Bool {
        eventually(timeout: timeout) { proxy.openConnections == 0 }
    }
}

/// A local origin process a mapped-origin fixture can start and stop.
protocol OriginProcess: AnyObject, Sendable {
    var port: Int { get }
    func stop()
}

extension OriginServer: OriginProcess {}
extension PythonServer: OriginProcess {}
extension H2OriginServer: OriginProcess {}
extension NginxOrigin: OriginProcess {}
extension CountingOrigin: OriginProcess {}

/// `origin.test` as a local origin proves it: a P-256 CA of its own, a leaf for the name, and that
/// CA's certificate in a file, which a proxy is told to trust upstream.
struct MappedOrigin {
    static let host = "origin.test"
    let authority: CertificateAuthority
    let chain: ForgedChain
    let caFile: String
    private let scratch: TemporaryDirectory

    init() throws {
        authority = try CertificateAuthority.generate(profile: .plain.with(keyAlgorithm: .ecdsaP256))
        chain = try LeafForge(authority: authority).chain(for: Self.host)
        scratch = try TemporaryDirectory()
        caFile = try scratch.write("origin-ca.pem", authority.rootCertificate.pemString)
    }

    /// A proxy, not offline, whose map-remote sends origin.test:443 to 127.0.0.1:`port` and which
    /// trusts this origin's CA upstream (unless `trustOrigin` is false), then `configure`.
    func proxy(port: Int, trustOrigin: Bool = true, configure: (inout ProxyConfiguration) -> Void = { _ in }) throws -> ProxyFixture {
        try ProxyFixture(offline: false) { configuration in
            configuration.mapRemote = [MapRemoteRule(host: Self.host, port: 443, address: "127.0.0.1", addressPort: port)]
            if trustOrigin { configuration.upstreamCAFile = caFile }
            configure(&configuration)
        }
    }
}

/// The mapped-origin fixture: an HTTPS origin process for `origin.test` (its certificate from
/// `MappedOrigin`) and a proxy that sends origin.test:443 to it. Tests get one from
/// `withMappedOrigin`, which stops both at the end.
final class MappedOriginFixture<Origin: OriginProcess>: @unchecked Sendable {
    static var host: String { MappedOrigin.host }
    let identity: MappedOrigin
    let origin: Origin
    let proxy: ProxyFixture
    /// The origin's CA certificate file (what the proxy trusts upstream).
    var originCAFile: String { identity.caFile }

    /// Starts the origin with `start` (given the origin's chain), then the proxy.
    init(trustOrigin: Bool = true, configure: (inout ProxyConfiguration) -> Void = { _ in },
         origin start: (ForgedChain) throws -> Origin) throws {
        identity = try MappedOrigin()
        origin = try start(identity.chain)
        do {
            proxy = try identity.proxy(port: origin.port, trustOrigin: trustOrigin, configure: configure)
        } catch {
            origin.stop()
            throw error
        }
    }

    /// curl through the proxy to `https://origin.test<path>` for each path, trusting the proxy's root.
    func curl(_ paths: [String], _ extra: [String] = []) throws -> ProcessResult {
        try proxy.curl(["--cacert", proxy.rootFile] + extra + paths.map { "https://\(Self.host)\($0)" })
    }

    /// Stops the proxy (awaited), then the origin.
    func stop() async {
        await proxy.stop()
        origin.stop()
    }
}

/// Runs `body` with a mapped-origin fixture whose origin `start` makes from the origin's chain,
/// and stops both when `body` returns or throws (the proxy's stop awaited).
func withMappedOrigin<Origin: OriginProcess, Result>(
    trustOrigin: Bool = true, configure: (inout ProxyConfiguration) -> Void = { _ in },
    origin start: (ForgedChain) throws -> Origin,
    _ body: (MappedOriginFixture<Origin>) async throws -> Result
) async throws -> Result {
    let fixture = try MappedOriginFixture(trustOrigin: trustOrigin, configure: configure, origin: start)
    return try await stopping({ await fixture.stop() }) { try await body(fixture) }
}

/// The forwarding origin (`OriginServer`: /hello, /chunked, /echo, ...) behind the proxy, with
/// mutual TLS when given `clientCA`.
func withForwardingOrigin<Result>(trustOrigin: Bool = true, clientCA: Certificate? = nil,
                                  configure: (inout ProxyConfiguration) -> Void = { _ in },
                                  _ body: (MappedOriginFixture<OriginServer>) async throws -> Result) async throws -> Result {
    try await withMappedOrigin(trustOrigin: trustOrigin, configure: configure, origin: { try OriginServer(chain: $0, clientCA: clientCA) }, body)
}

/// The Python h2 origin (resets and GOAWAY on cue) behind the proxy.
func withH2Origin<Result>(configure: (inout ProxyConfiguration) -> Void = { _ in },
                          _ body: (H2OriginFixture) async throws -> Result) async throws -> Result {
    try await withMappedOrigin(configure: configure, origin: H2OriginServer.init(chain:), body)
}

typealias H2OriginFixture = MappedOriginFixture<H2OriginServer>

extension MappedOriginFixture where Origin == H2OriginServer {
    var server: H2OriginServer { origin }
}

/// A Python script serving HTTPS as `origin.test` (it gets the chain and key files as its
/// arguments, see `PythonServer`) behind the proxy.
func withPythonOrigin<Result>(script: String, _ body: (MappedOriginFixture<PythonServer>) async throws -> Result) async throws -> Result {
    try await withMappedOrigin(origin: { chain in try PythonServer(script: script) { try $0.writeChain(chain) } }, body)
}

extension MappedOriginFixture where Origin == PythonServer {
    /// `GET https://origin.test/` through the proxy, trusting the proxy's root.
    func get() throws -> ProcessResult { try curl(["/"]) }
}
