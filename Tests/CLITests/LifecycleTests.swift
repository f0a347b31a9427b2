import Foundation
import Testing
import TestSupport

/// A fixture is started and stopped thousands of times a day: every stop must exit as documented,
/// however early it comes (the shared key and the trust store may still be loading).
@Suite struct LifecycleTests {
    /// Starts `run` with a ready file, waits for it (the banner after it), and sends SIGTERM at
    /// once; returns how it ended.
    private func startAndStop(_ scratch: TemporaryDirectory, cycle: Int, signals: Int) throws -> Termination? {
        // A fresh CA directory now and then, so some stops land while an RSA CA and key are being made.
        let proxy = try ProxyProcess(caDirectory: .at(scratch.path(cycle % 10 == 0 ? "ca-\(cycle)" : "ca")), timeout: 20)
        #expect(FileManager.default.fileExists(atPath: proxy.readyPath), "cycle \(cycle): no ready file")
        // `timeout` and process supervisors send the signal to the process and again to its group.
        for _ in 0..<signals { proxy.process.signal(SIGTERM) }
        let ended = proxy.process.waitForExit(timeout: 20)
        #expect(ended != nil, "cycle \(cycle): still running 20 s after SIGTERM")
        return ended
    }

    @Test func aHundredStopsRightAfterTheReadyFileAllExitZero() throws {
        let scratch = try TemporaryDirectory()
        var outcomes: [String: Int] = [:]
        for cycle in 0..<100 {
            let ended = try startAndStop(scratch, cycle: cycle, signals: cycle % 2 + 1)
            outcomes[ended.map(\.description) ?? "running", default: 0] += 1
        }
        #expect(outcomes == ["exit 0": 100], "exit statuses over 100 start/stop cycles: \(outcomes)")
    }

    @Test func fiftyVerifyRunsAllExitOne() throws {
        let scratch = try TemporaryDirectory()
        var outcomes: [Int32: Int] = [:]
        var lastOutput = ""
        for _ in 0..<50 {
            // `true` makes no request, so nothing is intercepted: documented as exit 1.
            let result = try CLI.run(["verify", "--ca-dir", scratch.path("ca"), "--", "true"])
            outcomes[result.status, default: 0] += 1
            lastOutput = result.stdout
        }
        #expect(outcomes == [1: 50], "verify exit statuses over 50 runs: \(outcomes)")
        #expect(lastOutput.contains("FAIL: nothing was intercepted; does the command honour HTTPS_PROXY?"), "\(lastOutput)")
    }

    @Test func verifyHelpPrintsHelp() throws {
        let result = try CLI.run(["verify", "--help"])
        #expect(result.status == 0, "\(result)")
        #expect(result.stdout.contains("OVERVIEW: Run a command through a fresh proxy"), "\(result)")
        #expect(result.stdout.contains("USAGE: intercept-proxy verify"), "\(result)")
        // After --, --help belongs to the command.
        let scratch = try TemporaryDirectory()
        let passed = try CLI.run(["verify", "--ca-dir", scratch.path("ca"), "--", "sh", "-c", "echo \"argument: $1\"", "sh", "--help"])
        #expect(passed.stderr.contains("argument: --help"), "\(passed)")
        #expect(passed.status == 1)
    }
}
