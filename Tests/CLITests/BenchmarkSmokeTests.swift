import Foundation
import Testing
import TestSupport

/// `make bench` in miniature: the same harness, tiny sizes, one round, all three contenders, so the
/// benchmark cannot rot between the runs that produce Benchmarks/results.
@Suite struct BenchmarkSmokeTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    @Test func harnessRunsEveryScenarioAndWritesBothResultFiles() throws {
        let venv = ProcessInfo.processInfo.environment["INTERCEPT_PROXY_BENCH_VENV"] ?? Self.root.appendingPathComponent(".build/bench-venv").path
        #expect(FileManager.default.isExecutableFile(atPath: "\(venv)/bin/mitmdump"), "mitmproxy is missing from \(venv): run `make test`, which installs it")
        let forgeBench = URL(fileURLWithPath: CLI.binary).deletingLastPathComponent().appendingPathComponent("forge-bench").path
        let out = try TemporaryDirectory()
        let result = try run("python3", [Self.root.appendingPathComponent("Benchmarks/bench.py").path, "--smoke",
                                         "--proxy-binary", CLI.binary, "--forge-bench", forgeBench, "--venv", venv, "--out", out.path("results")],
                             environment: cleanEnvironment(), timeout: 300)
        try #require(result.status == 0, "\(result.stdout.suffix(1500))\n\(result.stderr.suffix(1500))")

        let json = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: out.path("results/latest.json")))) as? [String: Any]
        let rows = try #require(json?["scenarios"] as? [[String: Any]])
        let ids = Set(rows.compactMap { $0["id"] as? String })
        #expect(ids == ["new-host-rsa2048", "new-host-p256", "repeat-host", "keep-alive", "h2-requests", "bulk", "idle", "start",
                        "forge-rsa2048-new-p50", "forge-rsa2048-new-p99", "forge-p256-new-p50", "forge-p256-new-p99", "forge-hit-p50"])
        for row in rows {
            let medians = row["median"] as? [String: Any] ?? [:]
            let expected = (row["id"] as? String).map { ["idle", "start"].contains($0) || $0.hasPrefix("forge") } == true
                ? ["intercept-proxy", "mitmproxy"] : ["intercept-proxy", "mitmproxy", "direct"]
            for contender in expected {
                let value = medians[contender] as? Double
                #expect(value.map { $0 > 0 } == true, "\(row["id"] ?? "?") has no positive median for \(contender): \(medians)")
            }
        }
        // The proxy's cost is measured around every traffic measurement.
        let keepAlive = try #require(rows.first { $0["id"] as? String == "keep-alive" })
        let cost = (keepAlive["cost"] as? [String: Any])?["intercept-proxy"] as? [String: Any]
        #expect((cost?["cpuMicrosPerUnit"] as? Double).map { $0 > 0 } == true, "no CPU per request for intercept-proxy: \(keepAlive["cost"] ?? "none")")
        #expect((cost?["rssAfterKiB"] as? Int).map { $0 > 0 } == true)
        // Each peer was either proved to intercept (its own CA issued the leaf) or named as not installed.
        let peers = try #require(json?["peers"] as? [String: [String: Any]])
        #expect(Set(peers.keys) == ["squid", "sslsplit", "goproxy"])
        for (name, peer) in peers {
            if peer["checked"] as? Bool == true {
                #expect((peer["leafIssuer"] as? String) == "\(name) bench CA", "\(name): \(peer)")
            } else {
                #expect((peer["why"] as? String)?.contains("install") == true, "\(name): \(peer)")
            }
        }
        let markdown = try String(contentsOfFile: out.path("results/latest.md"), encoding: .utf8)
        #expect(markdown.contains("| scenario | intercept-proxy | mitmproxy | direct |"))
        #expect(markdown.contains("cores"), "the machine is described")
    }
}
