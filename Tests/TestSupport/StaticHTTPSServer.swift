import CertForge
import Foundation

/// Python's static file server over HTTPS (plain HTTP without a chain), for a pip simple index, a git
/// repository (dumb HTTP) or the other PackageRepositories.
public final class StaticHTTPSServer: @unchecked Sendable {
    private let server: PythonServer
    public var port: Int { server.port }

    public init(directory: String, chain: ForgedChain?) throws {
        let script = """
            import functools, http.server, ssl, sys
            handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=sys.argv[1])
            handler.log_message = lambda *args: None
            server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
            if len(sys.argv) > 2:
                context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
                context.set_ciphers("DEFAULT:@SECLEVEL=0")  # send any chain (SHA-1 too); clients judge
                context.load_cert_chain(sys.argv[2], sys.argv[3])
                server.socket = context.wrap_socket(server.socket, server_side=True)
            print("READY %d" % server.server_address[1], flush=True)
            server.serve_forever()
            """
        server = try PythonServer(script: script) { scratch in [directory] + (try chain.map { try scratch.writeChain($0) } ?? []) }
    }

    /// Serves `directory` over HTTPS as `host`, with a leaf from a throwaway CA (clients reach it
    /// through the proxy with --upstream-insecure).
    public convenience init(directory: String, host: String) throws {
        let authority = try CertificateAuthority.generate(profile: .plain.with(keyAlgorithm: .ecdsaP256))
        try self.init(directory: directory, chain: LeafForge(authority: authority).chain(for: host))
    }

    public func stop() { server.stop() }
}

/// Files written into a scratch directory's `www` and served over HTTPS as one host: the local
/// upstream of the client and container tests (package repositories, a git repository).
public final class PackageOrigin: Sendable {
    /// The scratch directory; `www` below it is served, the rest is the test's.
    public let files: TemporaryDirectory
    public let server: StaticHTTPSServer
    public var root: String { files.path("www") }

    public init(host: String, write: (_ root: String) throws -> Void) throws {
        files = try TemporaryDirectory()
        try write(files.path("www"))
        server = try StaticHTTPSServer(directory: files.path("www"), host: host)
    }
}
