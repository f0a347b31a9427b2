import ArgumentParser
import FoundationEssentials
import Glibc
import EssentialsSupport
import InterceptProxy

@main
struct InterceptProxyCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "intercept-proxy",
        abstract: "A local TLS-intercepting test proxy that forges certificates the way corporate gateways do.",
        version: InterceptProxyVersion.current,
        subcommands: [RunCommand.self, CACommand.self, ForgeCommand.self, ProfilesCommand.self, SnippetCommand.self, ExplainCommand.self, VerifyCommand.self, DoctorCommand.self,
                       HealthcheckCommand.self],
        defaultSubcommand: RunCommand.self
    )

    /// Exit codes: 0 success, 2 usage error, 1 anything else, always with a one-line reason on stderr.
    static func main() {
        do {
            var command = try parseAsRoot()
            try command.run()
        } catch {
            let code = exitCode(for: error)
            if code == .success {
                // --help and --version land here.
                print(fullMessage(for: error))
                Glibc.exit(0)
            }
            if code == .validationFailure {
                Terminal.error("\(message(for: error)) (see --help)")
                Glibc.exit(2)
            }
            if let exitCode = error as? ExitCode { Self.exit(withError: exitCode) }
            Terminal.error(String(describing: error))
            Glibc.exit(1)
        }
    }
}

/// Output helpers: results on stdout, reasons and summaries on stderr.
enum Terminal {
    static func error(_ message: String) {
        let line = message.hasPrefix("Error: ") ? String(message.dropFirst(7)) : message
        StandardIO.write(Array("intercept-proxy: error: \(line)\n".utf8), to: STDERR_FILENO)
    }

    static func note(_ message: String) {
        StandardIO.write(Array("\(message)\n".utf8), to: STDERR_FILENO)
    }

    /// Lines of `label  value` with the labels padded to one width.
    static func table(_ rows: [(String, String)]) -> String {
        let width = rows.map(\.0.count).max() ?? 0
        return rows.map { $0.0.paddedRight(to: width) + "  " + $0.1 }.joined(separator: "\n")
    }
}
