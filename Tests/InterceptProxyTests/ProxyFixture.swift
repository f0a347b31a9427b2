import CertForge
import Foundation
import InterceptProxy
import Logging
import TestSupport

/// An in-process proxy on an ephemeral loopback port with its own CA directory.
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

    /// Waits until an event matching `predicate` has been recorded (events arrive from the loops).
    @discardableResult
    func waitForEvent(timeout: TimeInterval = 10, _ predicate: (FlowEvent) -> Bool) throws -> FlowEvent {
        let deadline = Date() + timeout
        while Date() < deadline {
            if let event = proxy.recordedEvents.first(where: predicate) { return event }
            usleep(10_000)
        }
        throw TimedOut(command: "waiting for a flow event; recorded: \(proxy.recordedEvents.map(\.type.rawValue))", seconds: timeout)
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
}

/// A Python HTTPS origin serving `origin.test` (a P-256 chain from its own CA) and a proxy, not
/// offline, that sends origin.test:443 to it and trusts that CA upstream.
final class PythonOriginFixture: @unchecked Sendable {
    let origin: PythonServer
    let proxy: ProxyFixture
    private let scratch: TemporaryDirectory

    init(script: String) throws {
        let authority = try CertificateAuthority.generate(profile: .plain.with(keyAlgorithm: .ecdsaP256))
        let chain = try LeafForge(authority: authority).chain(for: "origin.test")
        origin = try PythonServer(script: script) { try $0.writeChain(chain) }
        do {
            scratch = try TemporaryDirectory()
            let caFile = try scratch.write("origin-ca.pem", authority.rootCertificate.pemString)
            let port = origin.port
            proxy = try ProxyFixture(offline: false) {
                $0.mapRemote = [MapRemoteRule(host: "origin.test", port: 443, address: "127.0.0.1", addressPort: port)]
                $0.upstreamCAFile = caFile
            }
        } catch {
            origin.stop()
            throw error
        }
    }

    /// `GET https://origin.test/` through the proxy, trusting the proxy's root.
    func get() throws -> ProcessResult {
        try proxy.curl(["--cacert", proxy.rootFile, "https://origin.test/"])
    }

    /// Stops the origin now and the proxy soon after (its stop is async).
    func stop() {
        origin.stop()
        let proxy = proxy.proxy
        Task { await proxy.stop() }
    }
}
