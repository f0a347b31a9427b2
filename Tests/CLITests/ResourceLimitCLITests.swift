import Foundation
import Testing
import TestSupport

/// The proxy binary under `prlimit`, so its descriptor limit is the test's choice rather than the
/// runner's, with its flow log on stdout; /proc tells what it holds.
private func limitedProxy(fileLimit: Int, arguments: [String] = []) throws -> ProxyProcess {
    do {
        return try ProxyProcess(["--offline"] + arguments, flows: .stdout, wrapper: ["prlimit", "--nofile=\(fileLimit):\(fileLimit)"])
    } catch {
        throw TimedOut(command: "prlimit --nofile=\(fileLimit) intercept-proxy run (raising a hard limit needs root): \(error)", seconds: 30)
    }
}

extension ProxyProcess {
    /// One HTTPS request through the proxy, which answers it itself (offline).
    func curl(_ host: String, maxTime: Int = 10) throws -> ProcessResult {
        try curl(["https://\(host)/"], maxTime: maxTime)
    }

    func expectServes(_ host: String, sourceLocation: SourceLocation = #_sourceLocation) throws {
        let result = try curl(host)
        #expect(result.status == 0 && result.stdout.contains(host), "\(result)", sourceLocation: sourceLocation)
    }

    /// The flow log's error events with this cause.
    func errors(_ cause: String) throws -> [[String: Any]] {
        try events().filter { $0["type"] as? String == "error" && $0["cause"] as? String == cause }
    }

    /// Waits until the proxy has closed the tunnel to `host` (its `tunnel_closed` event).
    func waitForTunnelClosed(_ host: String) throws {
        try waitForEvent { $0["type"] as? String == "tunnel_closed" && $0["host"] as? String == host }
    }
}

/// Connection counts and descriptor limits, against the real binary and thousands of real sockets.
@Suite(.serialized) struct ResourceLimitCLITests {
    @Test func fiveThousandIdleConnectionsCostLittleAndAreReleased() throws {
        let proxy = try limitedProxy(fileLimit: 20_000)
        try proxy.expectServes("warm.example")  // the leaf forge and loops are set up before the baseline
        try proxy.waitForTunnelClosed("warm.example")
        let baseDescriptors = proxy.status.openDescriptors, baseKiB = proxy.status.residentKiB

        let held = try HeldConnections(port: proxy.port, most: 5_000)
        defer { held.stop() }
        #expect(try held.open(5_000) == 5_000)
        let allAccepted = eventually(timeout: 20, interval: 0.05) { proxy.status.openDescriptors >= baseDescriptors + 5_000 }  // (/proc: nothing announces an accept)
        #expect(allAccepted, "\(proxy.status.openDescriptors) descriptors open, \(baseDescriptors) before")
        try proxy.expectServes("busy.example")
        let perConnection = Double(proxy.status.residentKiB - baseKiB) / 5_000
        #expect(perConnection < 16, "\(perConnection) KiB resident per idle connection")  // about 2 KiB measured

        #expect(try held.close(5_000) == 0)
        let released = eventually(timeout: 15, interval: 0.05) { proxy.status.openDescriptors <= baseDescriptors }
        #expect(released, "\(proxy.status.openDescriptors) descriptors open after the clients left, \(baseDescriptors) before")
        try proxy.expectServes("after.example")
        #expect(try proxy.errors("connection_limit").isEmpty && proxy.errors("fd_limit").isEmpty)
    }

    @Test func atTheDescriptorLimitAcceptBacksOffAndRecovers() throws {
        // The descriptor limit (1024) comes before the connection limit.
        let proxy = try limitedProxy(fileLimit: 1_024, arguments: ["--max-connections", "5000"])
        try proxy.expectServes("warm.example")
        try proxy.waitForTunnelClosed("warm.example")
        let baseDescriptors = proxy.status.openDescriptors

        let held = try HeldConnections(port: proxy.port, most: 1_100)
        defer { held.stop() }
        #expect(try held.open(1_100) == 1_100)  // the ones the proxy cannot take wait in its backlog
        #expect((try? proxy.waitForEvent(timeout: 10) { $0["type"] as? String == "error" && $0["cause"] as? String == "fd_limit" }) != nil)
        // Every descriptor number the limit allows is taken (one inherited from the test process,
        // numbered above the limit, may be open too; it is not the proxy's).
        #expect(proxy.status.openDescriptors(below: 1_024) == 1_024, "above the limit: \(proxy.status.descriptors(from: 1_024))")

        // Still at the limit: accept must not spin.
        let cpuBefore = proxy.status.cpuSeconds
        sleep(2)  // a time gap: two seconds at the limit, measured
        let cpuShare = (proxy.status.cpuSeconds - cpuBefore) / 2
        #expect(cpuShare < 0.2, "the proxy used \(Int(cpuShare * 100)) % of a core at the descriptor limit")

        let events = try proxy.errors("fd_limit")
        #expect(events.count == 1, "\(events)")
        #expect((events.first?["detail"] as? String)?.hasPrefix("accept on 127.0.0.1:\(proxy.port): Too many open files; not accepting") == true, "\(events)")
        #expect(events.first?["connection"] as? Int == 0)
        #expect(proxy.process.stderr.components(separatedBy: "Too many open files").count == 2, "one warning per episode:\n\(proxy.process.stderr)")

        // Descriptors free up: the backlog drains and a new client is served within seconds.
        #expect(try held.close(300) == 800)
        let started = Date()
        try proxy.expectServes("recovered.example")
        #expect(Date().timeIntervalSince(started) < 10, "served soon after, not at a later retry")
        #expect(eventually { proxy.process.stderr.contains("accepting connections again after") }, "\(proxy.process.stderr)")

        #expect(try held.close(800) == 0)
        let released = eventually(timeout: 15, interval: 0.05) { proxy.status.openDescriptors <= baseDescriptors }
        #expect(released, "\(proxy.status.openDescriptors) descriptors open after the clients left, \(baseDescriptors) before")
        #expect(try proxy.errors("fd_limit").count == 1)
    }

    @Test func connectionsBeyondMaxConnectionsGet503() throws {
        let proxy = try limitedProxy(fileLimit: 4_096, arguments: ["--max-connections", "10"])
        let held = try HeldConnections(port: proxy.port, most: 10)
        defer { held.stop() }
        #expect(try held.open(10) == 10)

        // A burst beyond the limit: each connection is refused, and reported at once, then at most
        // once a second with a count.
        let burst = try HeldConnections(port: proxy.port, most: 20)
        defer { burst.stop() }
        #expect(try burst.open(20) == 20)  // the handshakes complete in the kernel; the proxy then refuses each
        let counted = (try? proxy.waitForEvents(timeout: 15, "20 refused connections") { events in
            events.filter { $0["cause"] as? String == "connection_limit" }.compactMap { $0["count"] as? Int }.reduce(0, +) == 20 ? true : nil
        }) != nil
        let events = try proxy.errors("connection_limit")
        // The first at once, the rest counted (in one line when the burst fits in one second).
        let counts = events.compactMap { $0["count"] as? Int }
        #expect(counted && counts.first == 1 && counts.reduce(0, +) == 20 && counts.count <= 3, "\(events)")
        #expect(events.allSatisfy { $0["status"] as? Int == 503 && $0["connection"] as? Int == 0 })
        #expect((events.first?["detail"] as? String) == "refused 1 connection with 503: 10 open, the limit (--max-connections)")

        // The listener takes connections in order: the ten held ones are in, curl is refused.
        let refused = try proxy.curl("refused.example")
        #expect(refused.status == 56 && refused.stderr.contains("CONNECT tunnel failed, response 503"), "\(refused)")

        // Clients leave: new ones are served again (the proxy notices their close within moments).
        #expect(try held.close(5) == 5)
        let served = try eventually(timeout: 5, interval: 0.05) { try proxy.curl("again.example").status == 0 }
        #expect(served)
        try proxy.expectServes("again.example")
    }
}
