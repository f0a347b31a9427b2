import Foundation

/// The outcome of a finished child process.
public struct ProcessResult: Sendable, CustomStringConvertible {
    public let status: Int32
    public let stdout: String
    public let stderr: String
    public var output: String { stdout + stderr }

    public var description: String { "exit \(status)\n--- stdout\n\(stdout)\n--- stderr\n\(stderr)" }
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

/// Runs a tool to completion with output captured through files (no pipe deadlocks).
@discardableResult
public func run(_ tool: String, _ arguments: [String], environment: [String: String]? = nil,
                input: String? = nil, directory: URL? = nil, timeout: TimeInterval = 120) throws -> ProcessResult {
    try start(tool, arguments, environment: environment, input: input, directory: directory).wait(timeout: timeout)
}

/// Starts a tool and returns at once; `wait` collects the result. For a client that must be in
/// flight while the test does something else, without holding a thread.
public func start(_ tool: String, _ arguments: [String], environment: [String: String]? = nil,
                  input: String? = nil, directory: URL? = nil) throws -> RunningProcess {
    try RunningProcess(tool, arguments, environment: environment, input: input, directory: directory)
}

/// A child process whose stdout and stderr go to files until it is waited for. Started with
/// posix_spawn, not Foundation's `Process`: this toolchain's `Process.run()` can crash reading
/// /proc/self/fd while other tests open and close descriptors (swift-corelibs-foundation#5472), and
/// the child gets only stdin, stdout and stderr, none of the test process's other descriptors.
public final class RunningProcess: @unchecked Sendable {
    public let pid: pid_t
    private let scratch: TemporaryDirectory
    private let command: String
    private var exitStatus: Int32?

    init(_ tool: String, _ arguments: [String], environment: [String: String]?, input: String?, directory: URL?) throws {
        let executable = tool.hasPrefix("/") ? tool : try requireTool(tool)
        command = ([tool] + arguments).joined(separator: " ")
        scratch = try TemporaryDirectory()
        let output = open(scratch.path("stdout"), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        let errors = open(scratch.path("stderr"), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        var stdinPipe: [Int32] = [-1, -1]
        defer { [output, errors, stdinPipe[0]].filter { $0 >= 0 }.forEach { close($0) } }
        guard output >= 0, errors >= 0, pipe(&stdinPipe) == 0,
              fcntl(stdinPipe[0], F_SETFD, FD_CLOEXEC) == 0, fcntl(stdinPipe[1], F_SETFD, FD_CLOEXEC) == 0 else {
            if stdinPipe[1] >= 0 { close(stdinPipe[1]) }
            throw SpawnFailed(command: command, reason: String(cString: strerror(errno)))
        }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_adddup2(&actions, stdinPipe[0], STDIN_FILENO)
        posix_spawn_file_actions_adddup2(&actions, output, STDOUT_FILENO)
        posix_spawn_file_actions_adddup2(&actions, errors, STDERR_FILENO)
        // Nothing else of the test process reaches the child (Swift's Glibc does not import
        // addclosefrom_np): the descriptors open now are closed in it; later ones are CLOEXEC here.
        let openNow = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd")) ?? []
        for descriptor in openNow.compactMap(Int32.init) where descriptor > 2 {
            posix_spawn_file_actions_addclose(&actions, descriptor)
        }
        // No addchdir_np either: env -C changes the directory, then runs the tool.
        let launch = directory.map { ["/usr/bin/env", "-C", $0.path, executable] } ?? [executable]
        let argv = (launch + arguments).map { strdup($0) } + [nil]
        let envp = (environment ?? cleanEnvironment()).map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer { (argv + envp).forEach { free($0) } }
        var child = pid_t()
        let spawned = posix_spawn(&child, launch[0], &actions, nil, argv, envp)
        guard spawned == 0 else {
            close(stdinPipe[1])
            throw SpawnFailed(command: command, reason: String(cString: strerror(spawned)))
        }
        pid = child
        let writer = FileHandle(fileDescriptor: stdinPipe[1], closeOnDealloc: true)
        if let input { writer.write(Data(input.utf8)) }
        try writer.close()
    }

    /// Waits for the exit (killing the process after `timeout`) and returns what it printed.
    public func wait(timeout: TimeInterval = 120) throws -> ProcessResult {
        let deadline = Date() + timeout
        while exitStatus == nil {
            var status: Int32 = 0
            let reaped = waitpid(pid, &status, WNOHANG)
            if reaped == pid {
                // As Process.terminationStatus: the exit code, or the signal that ended it.
                let signal = status & 0x7f
                exitStatus = signal == 0 ? (status >> 8) & 0xff : signal
            } else if reaped < 0 && errno != EINTR {
                throw SpawnFailed(command: command, reason: "waitpid: \(String(cString: strerror(errno)))")
            } else if Date() > deadline {
                kill(pid, SIGKILL)
                while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
                throw TimedOut(command: command, seconds: timeout)
            } else {
                usleep(5_000)
            }
        }
        return ProcessResult(
            status: exitStatus!,
            stdout: String(decoding: try Data(contentsOf: scratch.url.appendingPathComponent("stdout")), as: UTF8.self),
            stderr: String(decoding: try Data(contentsOf: scratch.url.appendingPathComponent("stderr")), as: UTF8.self))
    }

    deinit {
        // A process never waited for is not left running or unreaped.
        guard exitStatus == nil else { return }
        kill(pid, SIGKILL)
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
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

/// A directory removed when the value is released.
public final class TemporaryDirectory: @unchecked Sendable {
    public let url: URL

    public init() throws {
        url = FileManager.default.temporaryDirectory.appendingPathComponent("intercept-proxy-test-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    }

    public func path(_ name: String) -> String { url.appendingPathComponent(name).path }

    /// Writes a text file and returns its path.
    @discardableResult
    public func write(_ name: String, _ text: String) throws -> String {
        let path = path(name)
        try Data(text.utf8).write(to: URL(fileURLWithPath: path))
        return path
    }

    deinit { try? FileManager.default.removeItem(at: url) }
}
