import ArgumentParser
import FoundationEssentials
import InterceptProxy

/// A container HEALTHCHECK without curl or a shell: exits 0 when the proxy answers, 1 otherwise.
struct HealthcheckCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "healthcheck",
        abstract: "Exit 0 when the proxy at the given address answers, 1 otherwise (for container HEALTHCHECKs).",
        discussion: """
        With --admin (the default, from INTERCEPT_PROXY_ADMIN or 127.0.0.1:8081): GET /v1/health on the
        control API must answer 200. With --proxy: the proxy port itself must answer
        GET http://intercept-proxy.test/health with 200. A wildcard address (0.0.0.0, ::) is probed on loopback.
        """)

    @Option(help: ArgumentHelp("The control API's address.", valueName: "HOST:PORT"))
    var admin: String?

    @Option(help: ArgumentHelp("The proxy's own address (no control API needed).", valueName: "HOST:PORT"))
    var proxy: String?

    @Option(help: ArgumentHelp("Seconds to wait for the answer (default 3).", valueName: "seconds"))
    var timeout: Double = 3

    func validate() throws {
        if admin != nil && proxy != nil { throw ValidationError("give --admin or --proxy, not both") }
        guard timeout > 0, timeout <= 300 else { throw ValidationError("--timeout must be more than 0 and at most 300 seconds, got \(timeout)") }
        do { _ = try target() } catch let error as ConfigurationError { throw ValidationError(error.description) }
    }

    /// The address probed and the request sent there.
    private func target() throws -> (SocketAddress, String) {
        let text = proxy ?? admin ?? ProcessInfo.processInfo.environment["INTERCEPT_PROXY_ADMIN"].flatMap { $0.isEmpty ? nil : $0 } ?? "127.0.0.1:8081"
        let address = try InterceptProxy.parseAdminAddress(text).reachableLocally
        let request = proxy == nil
            ? "GET /v1/health HTTP/1.1\r\nHost: \(address)\r\nConnection: close\r\n\r\n"
            : "GET http://intercept-proxy.test/health HTTP/1.1\r\nHost: intercept-proxy.test\r\nConnection: close\r\n\r\n"
        return (address, request)
    }

    func run() throws {
        let (address, request) = try target()
        do {
            let status = try HealthProbe.status(host: address.host, port: address.port, request: request, timeout: timeout)
            guard status == 200 else {
                Terminal.error("\(address) answered \(status), not 200")
                throw ExitCode(1)
            }
            print("healthy: \(address) answered 200")
        } catch let error as ExitCode {
            throw error
        } catch {
            Terminal.error("unhealthy: \(error)")
            throw ExitCode(1)
        }
    }
}
