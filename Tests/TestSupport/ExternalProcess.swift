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

/// This process's environment without the CA variables and proxy settings.
public func cleanEnvironment(_ overrides: [String: String] = [:]) -> [String: String] {
    var environment = ProcessInfo.processInfo.environment
    for name in caEnvironmentVariables + ["HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy"] {
        environment[name] = nil
    }
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

/// A child process whose stdout and stderr go to files until it is waited for.
public final class RunningProcess: @unchecked Sendable {
    private let process = Process()
    private let scratch: TemporaryDirectory
    private let command: String

    init(_ tool: String, _ arguments: [String], environment: [String: String]?, input: String?, directory: URL?) throws {
        let executable = tool.hasPrefix("/") ? tool : try requireTool(tool)
        command = ([tool] + arguments).joined(separator: " ")
        scratch = try TemporaryDirectory()
        let outURL = scratch.url.appendingPathComponent("stdout")
        let errURL = scratch.url.appendingPathComponent("stderr")
        _ = FileManager.default.createFile(atPath: outURL.path, contents: nil)
        _ = FileManager.default.createFile(atPath: errURL.path, contents: nil)
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        process.environment = environment ?? cleanEnvironment()
        if let directory { process.currentDirectoryURL = directory }
        process.standardOutput = try FileHandle(forWritingTo: outURL)
        process.standardError = try FileHandle(forWritingTo: errURL)
        let stdin = Pipe()
        process.standardInput = stdin
        try process.run()
        if let input { stdin.fileHandleForWriting.write(Data(input.utf8)) }
        try stdin.fileHandleForWriting.close()
    }

    /// Waits for the exit (killing the process after `timeout`) and returns what it printed.
    public func wait(timeout: TimeInterval = 120) throws -> ProcessResult {
        let deadline = Date() + timeout
        while process.isRunning {
            if Date() > deadline {
                kill(process.processIdentifier, SIGKILL)
                process.waitUntilExit()
                throw TimedOut(command: command, seconds: timeout)
            }
            usleep(5_000)
        }
        return ProcessResult(
            status: process.terminationStatus,
            stdout: String(decoding: try Data(contentsOf: scratch.url.appendingPathComponent("stdout")), as: UTF8.self),
            stderr: String(decoding: try Data(contentsOf: scratch.url.appendingPathComponent("stderr")), as: UTF8.self))
    }
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
