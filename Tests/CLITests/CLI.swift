import Foundation
import TestSupport

/// Runs the built `intercept-proxy` executable.
enum CLI {
    /// The executable next to the test bundle (SwiftPM builds it because the test target depends on it).
    static let binary: String = {
        if let override = ProcessInfo.processInfo.environment["INTERCEPT_PROXY_BINARY"] { return override }
        var candidates: [URL] = []
        let bundle = Bundle.main.bundleURL
        candidates.append(bundle.appendingPathComponent("intercept-proxy"))
        candidates.append(bundle.deletingLastPathComponent().appendingPathComponent("intercept-proxy"))
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        candidates.append(root.appendingPathComponent(".build/debug/intercept-proxy"))
        return candidates.first { FileManager.default.isExecutableFile(atPath: $0.path) }?.path
            ?? candidates.last!.path
    }()

    /// Runs a subcommand with a clean environment (no CA or proxy variables) plus `environment`,
    /// `input` on its stdin.
    static func run(_ arguments: [String], environment: [String: String] = [:], input: String? = nil, directory: URL? = nil) throws -> ProcessResult {
        try TestSupport.run(binary, arguments, environment: cleanEnvironment(environment), input: input, directory: directory)
    }
}
