import Foundation

/// A long-running child (a test server) whose output is watched for a readiness line.
public final class BackgroundProcess: @unchecked Sendable {
    private let process = Process()
    private let scratch: TemporaryDirectory
    private let outputURL: URL

    public init(_ tool: String, _ arguments: [String], environment: [String: String]? = nil) throws {
        scratch = try TemporaryDirectory()
        outputURL = scratch.url.appendingPathComponent("output")
        _ = FileManager.default.createFile(atPath: outputURL.path, contents: nil)
        process.executableURL = URL(fileURLWithPath: tool.hasPrefix("/") ? tool : try requireTool(tool))
        process.arguments = arguments
        process.environment = environment ?? cleanEnvironment()
        let handle = try FileHandle(forWritingTo: outputURL)
        process.standardOutput = handle
        process.standardError = handle
        process.standardInput = Pipe()  // s_server reads commands from stdin; keep it open and silent
        try process.run()
    }

    /// Everything the process printed so far (stdout and stderr interleaved).
    public var output: String {
        (try? String(decoding: Data(contentsOf: outputURL), as: UTF8.self)) ?? ""
    }

    /// Waits until the output matches `pattern` and returns its first capture group.
    public func waitFor(_ pattern: String, timeout: TimeInterval = 20) throws -> String {
        let regex = try NSRegularExpression(pattern: pattern)
        let deadline = Date() + timeout
        while Date() < deadline {
            let text = output
            if let match = regex.firstMatch(in: text, range: NSRange(text.startIndex..., in: text)) {
                let range = match.numberOfRanges > 1 ? match.range(at: 1) : match.range
                return String(text[Range(range, in: text)!])
            }
            if !process.isRunning { break }
            usleep(10_000)
        }
        throw TimedOut(command: "waiting for /\(pattern)/ in output:\n\(output)", seconds: timeout)
    }

    /// Kills the process. SIGKILL, because children inherit the test runner's signal dispositions
    /// and may not react to SIGTERM.
    public func stop() {
        if process.isRunning {
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
        }
    }

    /// Asks the process to exit with `signal` (for servers that must take their own children
    /// down, like nginx's master its workers), then kills it if it is still there after 5 s.
    public func stop(signal: Int32) {
        guard process.isRunning else { return }
        kill(process.processIdentifier, signal)
        let deadline = Date() + 5
        while process.isRunning && Date() < deadline { usleep(10_000) }
        stop()
    }

    deinit { stop() }
}

/// `openssl s_server` presenting a forged chain on an ephemeral loopback port.
public final class TLSTestServer: @unchecked Sendable {
    public let port: Int
    private let server: BackgroundProcess
    private let files: TemporaryDirectory

    /// - Parameters: leaf certificate, its key and the certificates sent after it, all PEM.
    public init(leafPEM: String, keyPEM: String, chainPEM: String) throws {
        files = try TemporaryDirectory()
        let leaf = try files.write("leaf.pem", leafPEM)
        let key = try files.write("leaf.key", keyPEM)
        var arguments = ["s_server", "-accept", "127.0.0.1:0", "-cert", leaf, "-key", key, "-www", "-naccept", "100"]
        if !chainPEM.isEmpty { arguments += ["-cert_chain", try files.write("chain.pem", chainPEM)] }
        server = try BackgroundProcess("openssl", arguments)
        port = Int(try server.waitFor(#"ACCEPT 127\.0\.0\.1:(\d+)"#))!
    }

    public func stop() { server.stop() }
}
