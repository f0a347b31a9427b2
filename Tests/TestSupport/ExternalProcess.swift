import Foundation

/// The outcome of a finished child process.
public struct ProcessResult: Sendable, CustomStringConvertible {
    public let status: Int32
    public let stdout: String
    public let stderr: String
    public var output: String { stdout + stderr }

    public var description: String { "exit \(status)\n--- stdout\n\(stdout)\n--- stderr\n\(stderr)" }
}

/// How a child process ended.
public enum Termination: Equatable, Sendable, CustomStringConvertible {
    case exited(Int32)
    case signalled(Int32)

    /// As Process.terminationStatus: the exit code, or the number of the signal that ended it.
    public var status: Int32 {
        switch self {
        case let .exited(code): return code
        case let .signalled(signal): return signal
        }
    }

    public var description: String {
        switch self {
        case let .exited(code): return "exit \(code)"
        case let .signalled(signal): return "signal \(signal)"
        }
    }
}

/// Environment variables through which this machine points clients at its CA bundle. Tests that
/// reproduce a client's default behaviour remove them, or the client would not act as it does at work.
public let caEnvironmentVariables = [
    "SSL_CERT_FILE", "SSL_CERT_DIR", "CURL_CA_BUNDLE", "REQUESTS_CA_BUNDLE", "NODE_EXTRA_CA_CERTS",
    "GIT_SSL_CAINFO", "PIP_CERT", "AWS_CA_BUNDLE", "HTTPLIB2_CA_CERTS", "NIX_SSL_CERT_FILE",
    "CLOUDSDK_CORE_CUSTOM_CA_CERTS_FILE", "GRPC_DEFAULT_SSL_ROOTS_FILE_PATH",
]

/// Machine-wide client configuration that names this machine's CA bundle (/etc/pip.conf's `cert`,
/// npm's global `cafile`): a child reads none of it, or it would not act as it does at work.
public let machineConfigurationOverrides = ["PIP_CONFIG_FILE": "/dev/null", "NPM_CONFIG_GLOBALCONFIG": "/dev/null"]

/// This process's environment without the CA variables, proxy settings and machine-wide client configuration.
public func cleanEnvironment(_ overrides: [String: String] = [:]) -> [String: String] {
    var environment = ProcessInfo.processInfo.environment
    for name in caEnvironmentVariables + ["HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy"] {
        environment[name] = nil
    }
    environment.merge(machineConfigurationOverrides) { $1 }
    environment.merge(overrides) { $1 }
    return environment
}

/// Finds an executable on PATH.
public func which(_ tool: String) -> String? {
    let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"
    for directory in path.split(separator: ":") {
        let candidate = "\(directory)/\(tool)"
        if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
    }
    return nil
}

/// Thrown when a test needs a tool this machine lacks: a failure with the fix, never a silent skip.
public struct MissingTool: Error, CustomStringConvertible {
    public let tool: String
    public var description: String {
        "\(tool) is not installed; `make test` installs it (see the Makefile's TEST_PACKAGES)"
    }
}

/// The path of a required tool, or a failure naming the install step.
public func requireTool(_ tool: String) throws -> String {
    guard let path = which(tool) else { throw MissingTool(tool: tool) }
    return path
}

/// Runs a tool to completion and returns what it printed (read as it runs, so no pipe fills up).
@discardableResult
public func run(_ tool: String, _ arguments: [String], environment: [String: String]? = nil,
                input: String? = nil, directory: URL? = nil, timeout: TimeInterval = 120) throws -> ProcessResult {
    try start(tool, arguments, environment: environment, input: input, directory: directory).wait(timeout: timeout)
}

/// Starts a tool and returns at once: for a client that must be in flight while the test does
/// something else, and for a long-running child (a server, the proxy binary) the test talks to.
/// - Parameters:
///   - environment: the child's whole environment; nil: `cleanEnvironment()`.
///   - input: written to the child's stdin, which is then closed unless `keepingInputOpen`.
///   - keepingInputOpen: stdin stays open (and silent) until `writeInput`/`closeInput`, or the end.
///   - stdout, stderr: where each goes (see `ChildOutput`); both are read while the child runs.
public func start(_ tool: String, _ arguments: [String], environment: [String: String]? = nil,
                  input: String? = nil, keepingInputOpen: Bool = false, directory: URL? = nil,
                  stdout: ChildOutput = .captured, stderr: ChildOutput = .captured) throws -> RunningProcess {
    try RunningProcess(tool, arguments, environment: environment, input: input, keepingInputOpen: keepingInputOpen,
                       directory: directory, stdout: stdout, stderr: stderr)
}

/// A long-running server: stdin kept open and silent (openssl s_server reads commands from it),
/// stdout and stderr interleaved in `output`, as a terminal would show them.
public func startServer(_ tool: String, _ arguments: [String], environment: [String: String]? = nil) throws -> RunningProcess {
    try start(tool, arguments, environment: environment, keepingInputOpen: true, stderr: .intoStdout)
}

/// Where a child's stdout or stderr goes.
public enum ChildOutput: Sendable {
    /// A pipe the test reads as the child writes: `stdout`, `stderr`, `waitFor`.
    case captured
    /// (stderr only) The same pipe as stdout: both interleaved in `stdout` and `output`.
    case intoStdout
    /// A pipe whose reading end is closed before the child starts: a reader that went away
    /// (its writes fail with EPIPE and raise SIGPIPE).
    case closedPipe
}

/// A child process started with posix_spawn, not Foundation's `Process`: this toolchain's
/// `Process.run()` can crash reading /proc/self/fd while other tests open and close descriptors
/// (swift-corelibs-foundation#5472). The child gets only stdin, stdout and stderr (none of the
/// test process's other descriptors), no blocked signals and every signal at its default (not
/// the test runner's dispositions). Its output is read by threads of its own as it comes, and its
/// exit is noticed as it happens: waits on either wake at once, never by polling.
///
/// Released without being waited for, the child is killed (SIGKILL) and reaped.
public final class RunningProcess: @unchecked Sendable {
    public let pid: pid_t
    public let command: String
    private let state: ChildState
    /// Our end of the child's stdin while it is open (-1 after), guarded by `state.condition`.
    private var input: Int32

    init(_ tool: String, _ arguments: [String], environment: [String: String]?, input text: String?, keepingInputOpen: Bool,
         directory: URL?, stdout: ChildOutput, stderr: ChildOutput) throws {
        let executable = tool.hasPrefix("/") ? tool : try requireTool(tool)
        command = ([tool] + arguments).joined(separator: " ")
        // No addchdir_np in Swift's Glibc: env -C changes the directory, then runs the tool.
        let launch = directory.map { ["/usr/bin/env", "-C", $0.path, executable] } ?? [executable]
        let spawned = try Spawner.spawn(command: command, argv: launch + arguments,
                                        environment: environment ?? cleanEnvironment(), stdout: stdout, stderr: stderr)
        pid = spawned.pid
        input = spawned.input
        state = ChildState(pid: spawned.pid, streams: spawned.readers.count)
        for (index, descriptor) in spawned.readers.enumerated() {
            let stream = spawned.streams[index]
            Thread.detachNewThread { [state] in state.drain(descriptor, into: stream) }
        }
        Thread.detachNewThread { [state] in state.reapWhenExited() }
        if let text, !keepingInputOpen {
            // Written by a thread of its own: a child that reads its input late cannot block the test.
            let descriptor = input
            self.input = -1
            Thread.detachNewThread {
                _ = writeIgnoringSIGPIPE(descriptor, Array(text.utf8))
                close(descriptor)
            }
        } else if let text {
            try writeInput(text)
        } else if !keepingInputOpen {
            closeInput()
        }
    }

    /// Whether the child is still running (its watcher thread reaps it as soon as it ends).
    public var isRunning: Bool { state.termination == nil }

    /// How the child ended; nil while it runs.
    public var termination: Termination? { state.termination }

    /// What the child wrote to stdout so far (with stderr, for `stderr: .intoStdout`).
    public var stdout: String { state.text(.stdout) }

    /// What the child wrote to stderr so far.
    public var stderr: String { state.text(.stderr) }

    /// stdout then stderr, so far.
    public var output: String { stdout + stderr }

    /// Writes to the child's stdin (`keepingInputOpen`). A child that has closed its stdin makes this
    /// throw (EPIPE), never raise SIGPIPE in the test process.
    public func writeInput(_ text: String) throws {
        let descriptor = state.condition.withLock { input }
        guard descriptor >= 0 else { throw SpawnFailed(command: command, reason: "stdin is closed") }
        let error = writeIgnoringSIGPIPE(descriptor, Array(text.utf8))
        if error != 0 { throw SpawnFailed(command: command, reason: "writing to stdin: \(String(cString: strerror(error)))") }
    }

    /// Closes the child's stdin: it reads end of file.
    public func closeInput() {
        state.condition.withLock {
            if input >= 0 { close(input) }
            input = -1
        }
    }

    /// Sends `signal` to the child, if it has not ended (a reaped pid may belong to another process by now).
    public func signal(_ signal: Int32) {
        state.signalIfRunning(signal)
    }

    /// Waits until the child ends, at most `timeout` seconds; nil if it is still running then.
    @discardableResult
    public func waitForExit(timeout: TimeInterval) -> Termination? {
        state.waitUntil(timeout.isFinite ? Date() + timeout : .distantFuture) { $0.ended }
        return state.termination
    }

    /// Waits until `pattern` (a regular expression) matches what the child wrote to stdout or to
    /// stderr, and returns its first capture group (the whole match without one). Fails at once
    /// when the child ends without having written it, and after `timeout`.
    @discardableResult
    public func waitFor(_ pattern: String, timeout: TimeInterval = 20) throws -> String {
        let regex = try NSRegularExpression(pattern: pattern)
        func match(_ text: String) -> String? {
            guard let found = regex.firstMatch(in: text, range: NSRange(text.startIndex..., in: text)) else { return nil }
            let range = found.numberOfRanges > 1 ? found.range(at: 1) : found.range
            return Range(range, in: text).map { String(text[$0]) } ?? ""
        }
        var found: String?
        try waitForOutput(timeout: timeout, "/\(pattern)/") { stdout, stderr in
            found = match(stdout) ?? match(stderr)
            return found != nil
        }
        return found!
    }

    /// Waits until `condition` holds for what the child wrote so far (stdout, stderr), checking
    /// again each time it writes. Fails when the child ends (and all it wrote is read) without
    /// the condition holding, and after `timeout`.
    public func waitForOutput(timeout: TimeInterval = 20, _ what: String = "a condition on the output",
                              _ condition: (_ stdout: String, _ stderr: String) throws -> Bool) throws {
        let deadline = Date() + timeout
        var seen = -1
        while true {
            // Checked again only when the child wrote something more, or ended.
            let now = state.waitUntil(deadline) { $0.version != seen || $0.ended }
            seen = now.version
            if try condition(stdout, stderr) { return }
            if now.ended {
                // What it wrote before it ended is in the pipes: read to their end (see `wait`).
                state.waitUntil(Date() + 2) { $0.openStreams == 0 }
                if try condition(stdout, stderr) { return }
                throw OutputNotSeen(command: command, expected: what, termination: termination, output: output)
            }
            if Date() >= deadline {
                throw TimedOut(command: "\(command): waiting for \(what); output so far:\n\(output)", seconds: timeout)
            }
        }
    }

    /// Waits for the exit (killing the child after `timeout`) and returns what it printed.
    public func wait(timeout: TimeInterval = 120) throws -> ProcessResult {
        guard let ended = waitForExit(timeout: timeout) else {
            signal(SIGKILL)
            waitForExit(timeout: .infinity)
            throw TimedOut(command: command, seconds: timeout)
        }
        // The child's output is all in the pipes by now; a grandchild that inherited them and
        // lives on (a daemon the child started) does not hold the wait up for long.
        state.waitUntil(Date() + 2) { $0.openStreams == 0 }
        return ProcessResult(status: ended.status, stdout: stdout, stderr: stderr)
    }

    /// Ends the child: `signal`, then SIGKILL if it is still there after `grace` seconds (a
    /// server that must take its own children down, like nginx's master its workers, gets SIGTERM).
    /// Returns how it ended.
    @discardableResult
    public func stop(signal: Int32 = SIGKILL, grace: TimeInterval = 5) -> Termination {
        self.signal(signal)
        if signal != SIGKILL, waitForExit(timeout: grace) == nil { self.signal(SIGKILL) }
        waitForExit(timeout: .infinity)
        closeInput()
        return termination!
    }

    deinit {
        // A child never waited for is not left running or unreaped.
        state.signalIfRunning(SIGKILL)
        state.waitUntil(.distantFuture) { $0.ended }
        if input >= 0 { close(input) }
    }
}

public struct SpawnFailed: Error, CustomStringConvertible {
    public let command: String
    public let reason: String
    public var description: String { "cannot start \(command): \(reason)" }
}

public struct TimedOut: Error, CustomStringConvertible {
    public let command: String
    public let seconds: TimeInterval
    public init(command: String, seconds: TimeInterval) {
        self.command = command
        self.seconds = seconds
    }
    public var description: String { "timed out after \(Int(seconds)) s: \(command)" }
}

/// The child ended without writing what a test waited for.
public struct OutputNotSeen: Error, CustomStringConvertible {
    public let command: String
    public let expected: String
    public let termination: Termination?
    public let output: String
    public var description: String {
        "\(command) ended (\(termination.map(\.description) ?? "its output closed")) without writing \(expected); it wrote:\n\(output)"
    }
}

/// The virtual environment `make test` fills from PyPI with the clients the tests drive (uv, httpx,
/// grpcio): INTERCEPT_PROXY_TOOLS_VENV, else .build/tools-venv. Throws when one of `tools` is missing.
public func toolsVenv(requiring tools: [String] = ["uv", "python3"]) throws -> String {
    let venv = ProcessInfo.processInfo.environment["INTERCEPT_PROXY_TOOLS_VENV"]
        ?? FileManager.default.currentDirectoryPath + "/.build/tools-venv"
    for tool in tools where !FileManager.default.isExecutableFile(atPath: "\(venv)/bin/\(tool)") {
        throw ToolsVenvMissing(description: "\(venv)/bin/\(tool) is missing: `make test` installs uv, httpx and grpcio there (make .build/tools-venv/bin/uv)")
    }
    return venv
}

public struct ToolsVenvMissing: Error, CustomStringConvertible {
    public let description: String
}
