import Foundation
import Testing
import TestSupport

/// `make soak` in miniature (one cycle of the mix, 20,500 requests, a few seconds): the harness cannot rot between full
/// runs, every request is answered, and the proxy's descriptors do not grow. Too short for the RSS
/// verdict (the warm-up alone is longer), which the full run gives.
@Suite struct SoakSmokeTests {
    @Test func oneCycleOfMixedRequestsAllAnsweredWithFlatDescriptors() throws {
        let out = try TemporaryDirectory()
        let script = BenchmarkSmokeTests.root.appendingPathComponent("Benchmarks/soak.py").path
        let result = try run("python3", [script, "--proxy-binary", CLI.binary, "--requests", "20500", "--warm-up", "5000",
                                         "--sample-seconds", "1", "--out", out.path("soak.md")], environment: cleanEnvironment(), timeout: 120)
        let json = try #require(try? JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: out.path("soak.json")))) as? [String: Any],
                                "\(result.stdout.suffix(1500))\n\(result.stderr.suffix(1500))")
        #expect(json["requestsDone"] as? Int == 20500 && json["errors"] as? Int == 0, "\(result.stdout.suffix(1500))")
        let counts = json["counts"] as? [String: [String: Int]] ?? [:]
        #expect(Set(counts.keys) == ["keep-alive", "h2", "new-tunnel"] && counts.values.allSatisfy { ($0["ok"] ?? 0) > 0 }, "\(counts)")
        let samples = json["samples"] as? [[String: Any]] ?? []
        let fds = samples.compactMap { $0["fds"] as? Int }
        #expect(fds.count >= 2 && fds.max()! <= fds.first! + 1, "descriptors sampled: \(fds)")
        let markdown = try String(contentsOfFile: out.path("soak.md"), encoding: .utf8)
        #expect(markdown.contains("| kind | requests | answered 200 | errors |") && markdown.contains("**Verdict:"))
    }
}
