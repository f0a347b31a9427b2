import CertForge
import COpenSSL
import Foundation
@testable import InterceptProxy
import Testing
import TestSupport

/// The upstream leg resumes TLS sessions: the second connection to an origin skips the full
/// handshake (issue #16), and the cache of sessions stays bounded.
@Suite struct UpstreamResumptionTests {
    /// An HTTPS origin (Python's ssl: TLS 1.3 tickets by default) that answers every request with
    /// whether the connection's handshake resumed a session, then closes.
    static let script = PythonServer.httpsRequestLoop + """
        def serve(conn):
            with context.wrap_socket(conn, server_side=True) as tls:
                for _ in request_paths(tls):
                    body = b"reused=%s\\n" % str(tls.session_reused).encode()
                    tls.sendall(b"HTTP/1.1 200 OK\\r\\nContent-Length: %d\\r\\nConnection: close\\r\\n\\r\\n%s" % (len(body), body))
                    return
        serve_forever(serve)
        """

    @Test func secondTunnelToAnOriginResumesTheUpstreamSession() async throws {
        try await withPythonOrigin(script: Self.script) { fixture in
            // Two curl runs: the client leg cannot resume across them, so only the upstream leg can.
            var answers: [String] = []
            for _ in 0..<2 {
                answers.append(try fixture.get().stdout)
            }
            #expect(answers == ["reused=False\n", "reused=True\n"], "\(answers)")
        }
    }

    @Test func sessionCacheKeepsAtMostItsCapacityAndOneSessionPerKey() {
        let cache = TLSSessionCache(capacity: 2)
        for key in ["a|h2", "b|h2", "a|h2", "c|h2"] {
            cache.store(SSL_SESSION_new()!, for: key)
        }
        #expect(cache.count == 2)
        // Replacing "a" kept its place: it is still the oldest name, so it went first.
        #expect(!cache.holds("a|h2") && cache.holds("b|h2") && cache.holds("c|h2"))
    }
}
