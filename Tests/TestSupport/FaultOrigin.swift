import CertForge
import Foundation

/// An HTTPS origin for `origin.test` (HTTP/1.1, its own CA) that starts a response and then stops,
/// so that a test can kill it (`kill()`: SIGKILL) or let the proxy's timeout find it. Paths:
/// `/partial-length` (Content-Length 1000000, then 1000 bytes `x`), `/partial-chunked` (one chunk
/// of 1000 bytes, no last chunk), `/silent` (reads the request, sends nothing), anything else a
/// complete `origin saw PATH`. It prints `SENT PATH` once a partial response is out.
public final class FaultOrigin: @unchecked Sendable {
    public static let host = "origin.test"
    public static let partialBytes = 1000
    private let server: PythonServer
    public let caFile: String
    public var port: Int { server.port }

    public init() throws {
        let authority = try CertificateAuthority.generate(profile: .plain.with(keyAlgorithm: .ecdsaP256))
        let chain = try LeafForge(authority: authority).chain(for: Self.host)
        var ca = ""
        server = try PythonServer(script: Self.script) { scratch in
            ca = try scratch.write("origin-ca.pem", authority.rootCertificate.pemString)
            return try scratch.writeChain(chain)
        }
        caFile = ca
    }

    /// Waits until the partial response to `path` is out.
    public func waitUntilSent(_ path: String) throws {
        try server.waitFor("SENT " + NSRegularExpression.escapedPattern(for: path))
    }

    /// SIGKILL: the kernel closes its sockets, without TLS close_notify and mid-body.
    public func kill() { server.stop() }

    static let script = PythonServer.httpsRequestLoop + #"""
import time

def serve(conn):
    try:
        conn = context.wrap_socket(conn, server_side=True)
        for path in request_paths(conn):
            if path == "/partial-length":
                conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 1000000\r\n\r\n" + b"x" * 1000)
            elif path == "/partial-chunked":
                conn.sendall(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3e8\r\n" + b"x" * 1000 + b"\r\n")
            elif path == "/silent":
                pass
            else:
                body = ("origin saw %s\n" % path).encode()
                conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body))
                continue
            print("SENT %s" % path, flush=True)
            time.sleep(3600)
    except (OSError, ssl.SSLError):
        pass

serve_forever(serve)
"""#
}
