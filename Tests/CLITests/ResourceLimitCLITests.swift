import Foundation
import Testing
import TestSupport

/// The proxy binary under `prlimit`, so its descriptor limit is the test's choice rather than the
/// runner's, with a flow log and a ready file; /proc tells what it holds.
private final class LimitedProxy: @unchecked Sendable {
    let scratch: TemporaryDirectory
    let server: BackgroundProcess
    let port: Int
    let status: ProcessStatus
    let rootFile: String
    var flowsPath: String { scratch.path("flows.jsonl") }

    init(fileLimit: Int, arguments: [String] = []) throws {
        scratch = try TemporaryDirectory()
        let ready = scratch.path("ready.json")
        server = try BackgroundProcess("prlimit", ["--nofile=\(fileLimit):\(fileLimit)", CLI.binary, "run", "--port", "0", "--offline",
                                                   "--ready-file", ready, "--ca-dir", scratch.path("ca"), "--flows", scratch.path("flows.jsonl")] + arguments)
        let deadline = Date() + 20
        while !FileManager.default.fileExists(atPath: ready) && Date() < deadline { usleep(20_000) }
        guard FileManager.default.fileExists(atPath: ready) else {
            throw TimedOut(command: "prlimit --nofile=\(fileLimit) intercept-proxy run (raising a hard limit needs root):\n\(server.output)", seconds: 20)
        }
        let info = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: ready))) as! [String: Any]
        port = info["port"] as! Int
        status = ProcessStatus(pid: Int32(info["pid"] as! Int))
        rootFile = info["caCertificate"] as! String
    }

    /// One HTTPS request through the proxy, which answers it itself (offline).
    func curl(_ host: String, maxTime: Int = 10) throws -> ProcessResult {
        try run("curl", ["-sS", "--http1.1", "--max-time", String(maxTime), "-x", "http://127.0.0.1:\(port)", "--cacert", rootFile, "https://\(host)/"])
    }

    func expectServes(_ host: String, sourceLocation: SourceLocation = #_sourceLocation) throws {
        let result = try curl(host)
        #expect(result.status == 0 && result.stdout.contains(host), "\(result)", sourceLocation: sourceLocation)
    }

    /// The flow log's error events with this cause.
    func errors(_ cause: String) throws -> [[String: Any]] {
        let text = (try? String(contentsOfFile: flowsPath, encoding: .utf8)) ?? ""
        return try text.split(separator: "\n")
            .map { try JSONSerialization.jsonObject(with: Data($0.utf8)) as! [String: Any] }
            .filter { $0["type"] as? String == "error" && $0["cause"] as? String == cause }
    }

    /// Polls until `condition` holds; false if it never did.
    func waitUntil(timeout: TimeInterval, _ condition: () throws -> Bool) rethrows -> Bool {
        let deadline = Date() + timeout
        while Date() < deadline {
            if try condition() { return true }
            usleep(50_000)
        }
        return try condition()
    }

    func stop() { server.stop(signal: SIGTERM) }
}

/// Connection counts and descriptor limits, against the real binary and thousands of real sockets.
@Suite(.serialized) struct ResourceLimitCLITests {
    @Test func fiveThousandIdleConnectionsCostLittleAndAreReleased() throws {
        let proxy = try LimitedProxy(fileLimit: 20_000)
        defer { proxy.stop() }
        try proxy.expectServes("warm.example")  // the leaf forge and loops are set up before the baseline
        usleep(200_000)
        let baseDescriptors = proxy.status.openDescriptors, baseKiB = proxy.status.residentKiB

        let held = try HeldConnections(port: proxy.port, most: 5_000)
        defer { held.stop() }
        #expect(try held.open(5_000) == 5_000)
        let allAccepted = proxy.waitUntil(timeout: 20) { proxy.status.openDescriptors >= baseDescriptors + 5_000 }
        #expect(allAccepted, "\(proxy.status.openDescriptors) descriptors open, \(baseDescriptors) before")
        try proxy.expectServes("busy.example")
        let perConnection = Double(proxy.status.residentKiB - baseKiB) / 5_000
        #expect(perConnection < 16, "\(perConnection) KiB resident per idle connection")  // about 2 KiB measured

        #expect(try held.close(5_000) == 0)
        let released = proxy.waitUntil(timeout: 15) { proxy.status.openDescriptors <= baseDescriptors }
        #expect(released, "\(proxy.status.openDescriptors) descriptors open after the clients left, \(baseDescriptors) before")
        try proxy.expectServes("after.example")
        #expect(try proxy.errors("connection_limit").isEmpty && proxy.errors("fd_limit").isEmpty)
    }

    @Test func atTheDescriptorLimitAcceptBacksOffAndRecovers() throws {
        // The descriptor limit (1024) comes before the connection limit.
        let proxy = try LimitedProxy(fileLimit: 1_024, arguments: ["--max-connections", "5000"])
        defer { proxy.stop() }
        try proxy.expectServes("warm.example")
        usleep(200_000)
        let baseDescriptors = proxy.status.openDescriptors

        let held = try HeldConnections(port: proxy.port, most: 1_100)
        defer { held.stop() }
        #expect(try held.open(1_100) == 1_100)  // the ones the proxy cannot take wait in its backlog
        #expect(try proxy.waitUntil(timeout: 10) { try !proxy.errors("fd_limit").isEmpty })
        // Every descriptor number the limit allows is taken (one inherited from the test process,
        // numbered above the limit, may be open too; it is not the proxy's).
        #expect(proxy.status.openDescriptors(below: 1_024) == 1_024, "above the limit: \(proxy.status.descriptors(from: 1_024))")

        // Still at the limit: accept must not spin.
        let cpuBefore = proxy.status.cpuSeconds
        sleep(2)
        let cpuShare = (proxy.status.cpuSeconds - cpuBefore) / 2
        #expect(cpuShare < 0.2, "the proxy used \(Int(cpuShare * 100)) % of a core at the descriptor limit")

        let events = try proxy.errors("fd_limit")
        #expect(events.count == 1, "\(events)")
        #expect((events.first?["detail"] as? String)?.hasPrefix("accept on 127.0.0.1:\(proxy.port): Too many open files; not accepting") == true, "\(events)")
        #expect(events.first?["connection"] as? Int == 0)
        #expect(proxy.server.output.components(separatedBy: "Too many open files").count == 2, "one warning per episode:\n\(proxy.server.output)")

        // Descriptors free up: the backlog drains and a new client is served within seconds.
        #expect(try held.close(300) == 800)
        let started = Date()
        try proxy.expectServes("recovered.example")
        #expect(Date().timeIntervalSince(started) < 5)
        #expect(proxy.server.output.contains("accepting connections again after"), "\(proxy.server.output)")

        #expect(try held.close(800) == 0)
        let released = proxy.waitUntil(timeout: 15) { proxy.status.openDescriptors <= baseDescriptors }
        #expect(released, "\(proxy.status.openDescriptors) descriptors open after the clients left, \(baseDescriptors) before")
        #expect(try proxy.errors("fd_limit").count == 1)
    }

    @Test func connectionsBeyondMaxConnectionsGet503() throws {
        let proxy = try LimitedProxy(fileLimit: 4_096, arguments: ["--max-connections", "10"])
        defer { proxy.stop() }
        let held = try HeldConnections(port: proxy.port, most: 10)
        defer { held.stop() }
        #expect(try held.open(10) == 10)

        // A burst beyond the limit: each connection is refused, and reported at once, then at most
        // once a second with a count.
        let burst = try HeldConnections(port: proxy.port, most: 20)
        defer { burst.stop() }
        #expect(try burst.open(20) == 20)  // the handshakes complete in the kernel; the proxy then refuses each
        let counted = try proxy.waitUntil(timeout: 5) { try proxy.errors("connection_limit").compactMap { $0["count"] as? Int }.reduce(0, +) == 20 }
        let events = try proxy.errors("connection_limit")
        #expect(counted && events.compactMap { $0["count"] as? Int } == [1, 19], "\(events)")
        #expect(events.allSatisfy { $0["status"] as? Int == 503 && $0["connection"] as? Int == 0 })
        #expect((events.first?["detail"] as? String) == "refused 1 connection with 503: 10 open, the limit (--max-connections)")

        // The listener takes connections in order: the ten held ones are in, curl is refused.
        let refused = try proxy.curl("refused.example")
        #expect(refused.status == 56 && refused.stderr.contains("CONNECT tunnel failed, response 503"), "\(refused)")

        // Clients leave: new ones are served again (the proxy notices their close within moments).
        #expect(try held.close(5) == 5)
        let served = try proxy.waitUntil(timeout: 5) { try proxy.curl("again.example").status == 0 }
        #expect(served)
        try proxy.expectServes("again.example")
    }
}
