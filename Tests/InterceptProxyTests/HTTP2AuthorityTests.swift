import Foundation
import InterceptProxy
import Testing
import TestSupport

/// RFC 9113 8.3.1: an h2 request's authority is `:authority`, else its Host field. One with Host
/// alone reaches an HTTP/1.1 origin with that Host (not an empty one); one whose two name different
/// authorities is refused, since an origin reading Host would serve another host than the proxy saw.
@Suite struct HTTP2AuthorityTests {
    /// Answers every request with the Host field it received.
    static let hostEcho = PythonServer.httpsRequestLoop + #"""
context.set_alpn_protocols(["http/1.1"])

def serve(raw):
    try:
        tls = context.wrap_socket(raw, server_side=True)
        pending = b""
        while True:
            while b"\r\n\r\n" not in pending:
                data = tls.recv(65536)
                if not data:
                    return
                pending += data
            head, pending = pending.split(b"\r\n\r\n", 1)
            hosts = [line.split(b":", 1)[1].strip() for line in head.split(b"\r\n")[1:] if line.lower().startswith(b"host:")]
            body = b"hosts=" + b",".join(hosts)
            tls.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body))
    except (OSError, ssl.SSLError):
        pass

serve_forever(serve)
"""#

    @Test func hostWithoutAuthorityReachesAnHTTP1OriginAsItsHost() async throws {
        try await withPythonOrigin(script: Self.hostEcho) { fixture in
            let result = try hostileH2Client(fixture.proxy, host: "origin.test", script: """
                send(frame(1, 0x5, 1, encoder.encode([(":method", "GET"), (":scheme", "https"), (":path", "/echo"), ("host", "origin.test")])))
                bodies = {}
                def collect(f):
                    if f[0] == 0:
                        bodies[f[2]] = bodies.get(f[2], b"") + f[3]
                    return False
                read_all(10, stop=collect, until=lambda: 1 in summary["ended"])
                report()
                print("body", bodies.get(1, b"").decode())
                """)
            #expect(result.stdout.contains("status 1 200") && result.stdout.contains("body hosts=origin.test"), "\(result)")
            let request = try fixture.proxy.waitForEvent { $0.type == .request }
            #expect(request.url == "https://origin.test/echo", "\(request)")
        }
    }

    @Test func twoDifferentAuthoritiesAreRefused() async throws {
        try await withProxy { fixture in
            let result = try hostileH2Client(fixture, script: """
                send(headers(1, "/two", extra=[("host", "other.example")]))
                send(headers(3, "/same", extra=[("host", host)]))
                read_all(10, until=lambda: all(s in summary["ended"] for s in (1, 3)))
                report()
                """)
            #expect(result.stdout.contains("status 1 400") && result.stdout.contains("status 3 200") && result.stdout.contains("goaway None"), "\(result)")
            let refused = try fixture.waitForEvent { $0.type == .error }
            #expect(refused.cause == .badRequest && refused.status == 400 && refused.streamId == 1, "\(refused)")
            #expect(refused.detail?.contains("two authorities, :authority 'h2.example' and host 'other.example'") == true, "\(refused)")
        }
    }
}
