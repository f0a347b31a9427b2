import Foundation

/// `openssl s_server` presenting a forged chain on an ephemeral loopback port.
public final class TLSTestServer: @unchecked Sendable {
    public let port: Int
    private let server: RunningProcess
    private let files: TemporaryDirectory

    /// - Parameters: leaf certificate, its key and the certificates sent after it, all PEM.
    public init(leafPEM: String, keyPEM: String, chainPEM: String) throws {
        files = try TemporaryDirectory()
        let leaf = try files.write("leaf.pem", leafPEM)
        let key = try files.write("leaf.key", keyPEM)
        var arguments = ["s_server", "-accept", "127.0.0.1:0", "-cert", leaf, "-key", key, "-www", "-naccept", "100"]
        if !chainPEM.isEmpty { arguments += ["-cert_chain", try files.write("chain.pem", chainPEM)] }
        server = try startServer("openssl", arguments)
        port = Int(try server.waitFor(#"ACCEPT 127\.0\.0\.1:(\d+)"#))!
    }

    public func stop() { server.stop() }
}
