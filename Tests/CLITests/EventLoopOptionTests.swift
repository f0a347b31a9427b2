import Foundation
import Testing
import TestSupport

/// `--event-loops` and INTERCEPT_PROXY_EVENT_LOOPS: how many loop threads serve connections
/// (default one per two cores, at least one), checked in /proc by the threads' names.
@Suite struct EventLoopOptionTests {
    /// The names of the proxy's loop threads (ip-loop-N), sorted.
    private func loopThreads(_ pid: Int32) throws -> [String] {
        let tasks = try FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/task")
        return tasks.compactMap { try? String(contentsOfFile: "/proc/\(pid)/task/\($0)/comm", encoding: .utf8) }
            .map { $0.trimmingCharacters(in: .whitespacesAndNewlines) }
            .filter { $0.hasPrefix("ip-loop-") }
            .sorted()
    }

    @Test func theOptionSetsTheLoopsAndEveryLoopServes() throws {
        let proxy = try ProxyProcess(["--offline", "--event-loops", "3"])
        #expect(try loopThreads(proxy.pid) == ["ip-loop-0", "ip-loop-1", "ip-loop-2"])
        // Tunnels go to the loops in turn: six in a row visit each loop twice.
        for index in 0..<6 {
            let result = try proxy.curl(["https://loop\(index).example/"])
            #expect(result.status == 0 && result.stdout.contains("loop\(index).example"), "\(result)")
        }
    }

    @Test func theVariableAndTheDefault() throws {
        let fromVariable = try ProxyProcess(["--offline"], environment: ["INTERCEPT_PROXY_EVENT_LOOPS": "2"])
        #expect(try loopThreads(fromVariable.pid) == ["ip-loop-0", "ip-loop-1"])

        let byDefault = try ProxyProcess(["--offline"])
        let expected = max(1, ProcessInfo.processInfo.activeProcessorCount / 2)
        #expect(try loopThreads(byDefault.pid) == (0..<expected).map { "ip-loop-\($0)" })
    }

    @Test func outOfRangeCountsAreRefusedByName() throws {
        for (arguments, environment, message) in [
            (["--event-loops", "0"], [:], "--event-loops must be 1 to 64, got 0"),
            (["--event-loops", "65"], [:], "--event-loops must be 1 to 64, got 65"),
            ([], ["INTERCEPT_PROXY_EVENT_LOOPS": "many"], "INTERCEPT_PROXY_EVENT_LOOPS is not a number: 'many'"),
            ([], ["INTERCEPT_PROXY_EVENT_LOOPS": "0"], "INTERCEPT_PROXY_EVENT_LOOPS must be 1 to 64, got 0"),
        ] as [([String], [String: String], String)] {
            let usage = try CLI.run(["run", "--port", "0"] + arguments, environment: environment)
            #expect(usage.status == 64 || usage.status == 2, "\(usage)")
            #expect(usage.stderr.contains(message), "\(usage)")
        }
    }
}
