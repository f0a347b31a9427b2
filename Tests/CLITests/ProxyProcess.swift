import Foundation
import Testing
import TestSupport

/// The built `intercept-proxy` as CI starts it: a child of the test with a ready file, waited for
/// until it says it listens (the banner, which comes after the ready file), its output read as it
/// comes. Every test that runs the proxy binary in the background starts it here.
final class ProxyProcess: @unchecked Sendable {
    /// Where the CA directory comes from.
    enum CADirectory {
        /// A new one in the scratch directory (created by the proxy: seconds in a debug build).
        case fresh
        /// A copy of one CA made once per test run: what most tests need, without the wait.
        case sharedCopy
        /// This directory, as it is.
        case at(String)
    }

    /// Where the flow log goes.
    enum FlowLog {
        case none
        /// `--flows -`: the events come on stdout (the banner and the log on stderr); `waitForEvent`
        /// wakes as each one is written.
        case stdout
        /// `--flows PATH`: for tests of the file itself.
        case file(String)
    }

    let scratch: TemporaryDirectory
    let process: RunningProcess
    let readyPath: String
    /// The ready file's content.
    let info: [String: Any]
    let port: Int
    /// The proxy's pid from its ready file (under a wrapper such as `unshare`, not the child's).
    let pid: Int32
    /// The CA certificate clients must trust.
    let root: String
    let flows: FlowLog

    /// Starts `intercept-proxy <command> --port 0 --ready-file ... --ca-dir ...` plus the flow log's
    /// option and `arguments`, under `wrapper` (e.g. `prlimit --nofile=N:N`, `unshare ...`) if given,
    /// and waits (up to `timeout`) until it listens.
    /// - Parameters:
    ///   - command: the subcommand; `[]` for the default one (`run`).
    ///   - environment: added to `cleanEnvironment()`.
    ///   - stdout: `.closedPipe` for a proxy whose stdout reader went away.
    init(_ arguments: [String] = [], command: [String] = ["run"], caDirectory: CADirectory = .sharedCopy, flows: FlowLog = .none,
         environment: [String: String] = [:], wrapper: [String] = [], stdout: ChildOutput = .captured,
         timeout: TimeInterval = 30) throws {
        scratch = try TemporaryDirectory()
        readyPath = scratch.path("ready.json")
        let caPath: String
        switch caDirectory {
        case .fresh:
            caPath = scratch.path("ca")
        case .sharedCopy:
            caPath = scratch.path("ca")
            try FileManager.default.copyItem(atPath: try Self.sharedCA(), toPath: caPath)
        case let .at(path):
            caPath = path
        }
        var flowArguments: [String] = []
        switch flows {
        case .none: break
        case .stdout: flowArguments = ["--flows", "-"]
        case let .file(path): flowArguments = ["--flows", path]
        }
        self.flows = flows
        let proxyCommand = [CLI.binary] + command + ["--port", "0", "--ready-file", readyPath, "--ca-dir", caPath] + flowArguments + arguments
        let launch = wrapper + proxyCommand
        process = try start(launch[0], Array(launch.dropFirst()), environment: cleanEnvironment(environment), stdout: stdout)
        // The ready file is written (whole: write then rename) before the banner.
        try process.waitFor("intercept-proxy listening on", timeout: timeout)
        let ready = try Data(contentsOf: URL(fileURLWithPath: readyPath))
        guard let info = try JSONSerialization.jsonObject(with: ready) as? [String: Any], let port = info["port"] as? Int,
              let pid = info["pid"] as? Int, let root = info["caCertificate"] as? String else {
            throw MalformedReadyFile(text: String(decoding: ready, as: UTF8.self))
        }
        (self.info, self.port, self.pid, self.root) = (info, port, Int32(pid), root)
    }

    struct MalformedReadyFile: Error { let text: String }

    deinit { process.stop() }

    /// Generated once per test run (it outlives the run in the temporary directory: statics are never released).
    private static let sharedCADirectory: Result<TemporaryDirectory, any Error> = Result {
        let scratch = try TemporaryDirectory()
        let result = try CLI.run(["ca", "init", "--ca-dir", scratch.path("ca")])
        guard result.status == 0 else { throw CAInitFailed(result: result) }
        return scratch
    }

    struct CAInitFailed: Error { let result: ProcessResult }

    /// The shared CA directory (copy it: a proxy may write to its own).
    static func sharedCA() throws -> String { try sharedCADirectory.get().path("ca") }

    /// What the proxy wrote so far, stdout then stderr.
    var output: String { process.output }

    /// /proc's view of the proxy.
    var status: ProcessStatus { ProcessStatus(pid: pid) }

    /// SIGKILL (a no-op once it ended).
    func stop() { process.stop() }

    /// Sends `signal` (SIGTERM by default) and waits up to `timeout` for the exit; nil if it was
    /// still running then (it is killed).
    @discardableResult
    func terminate(_ signal: Int32 = SIGTERM, timeout: TimeInterval = 20) -> Termination? {
        process.signal(signal)
        guard let ended = process.waitForExit(timeout: timeout) else {
            process.stop()
            return nil
        }
        return ended
    }

    /// The flow log's events so far (`.stdout` or `.file`). A line still being written is left
    /// out; `unreadable` counts the lines that are not JSON (one torn by a full disk).
    func flowEvents() -> (events: [[String: Any]], unreadable: Int) {
        let text: String
        switch flows {
        case .none: return ([], 0)
        case .stdout: text = process.stdout
        case let .file(path): text = (try? String(contentsOfFile: path, encoding: .utf8)) ?? ""
        }
        return Self.parse(text)
    }

    /// The flow log's events so far; a line that is not JSON fails the test.
    func events() throws -> [[String: Any]] {
        let (events, unreadable) = flowEvents()
        if unreadable > 0 { throw UnreadableFlowLog(lines: unreadable) }
        return events
    }

    struct UnreadableFlowLog: Error { let lines: Int }

    /// Whole lines of `text` read as JSON objects.
    static func parse(_ text: String) -> (events: [[String: Any]], unreadable: Int) {
        var events: [[String: Any]] = [], unreadable = 0
        for line in text.split(separator: "\n", omittingEmptySubsequences: false).dropLast() where !line.isEmpty {
            if let event = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any] { events.append(event) } else { unreadable += 1 }
        }
        return (events, unreadable)
    }

    /// Waits until the flow log has an event matching `predicate` and returns the first. With
    /// `.stdout`, it wakes as the proxy writes; a file (which nothing announces) is polled.
    @discardableResult
    func waitForEvent(timeout: TimeInterval = 10, _ predicate: ([String: Any]) -> Bool) throws -> [String: Any] {
        try waitForEvents(timeout: timeout, "a flow event") { $0.first(where: predicate) }
    }

    /// Waits until `found` returns something for the flow log's events so far, and returns it.
    func waitForEvents<T>(timeout: TimeInterval = 10, _ what: String = "flow events", _ found: ([[String: Any]]) throws -> T?) throws -> T {
        var result: T?
        switch flows {
        case .none:
            throw TimedOut(command: "waiting for \(what) from a proxy without a flow log", seconds: 0)
        case .stdout:
            try process.waitForOutput(timeout: timeout, what) { stdout, _ in
                result = try found(Self.parse(stdout).events)
                return result != nil
            }
        case .file:
            try eventually(timeout: timeout) {
                result = try found(flowEvents().events)
                return result != nil
            }
        }
        guard let result else {
            throw TimedOut(command: "waiting for \(what); the flow log holds \(flowEvents().events.map { $0["type"] as? String ?? "?" })", seconds: timeout)
        }
        return result
    }

    /// curl through the proxy with its root trusted.
    func curl(_ arguments: [String], maxTime: Int = 20) throws -> ProcessResult {
        try run("curl", ["-sS", "--http1.1", "--max-time", String(maxTime), "-x", "http://127.0.0.1:\(port)", "--cacert", root] + arguments)
    }
}
