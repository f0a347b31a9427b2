import CertForge
import Foundation
import Testing
import TestSupport

/// The smuggling cases inside a TLS tunnel, against a forwarding proxy and a local origin that
/// logs every request it parses. The origin is Python's http.server, which splits header lines
/// at a bare LF: had the proxy forwarded the bytes, it would have logged the smuggled request.
@Suite struct HostileHTTP1TunnelTests {
    static let smuggling: [(String, String, String)] = [
        ("bare LF hides a Content-Length",
         "POST /a HTTP/1.1\r\nHost: origin.test\r\nX-A: a\nContent-Length: 45\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: origin.test\r\n\r\n",
         "request head with a line ending in a bare LF (no CR before it)"),
        ("Content-Length with Transfer-Encoding",
         "POST /a HTTP/1.1\r\nHost: origin.test\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: origin.test\r\n\r\n",
         "both Transfer-Encoding and Content-Length"),
        ("chunked not last",
         "POST /a HTTP/1.1\r\nHost: origin.test\r\nTransfer-Encoding: chunked, identity\r\n\r\n0\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: origin.test\r\n\r\n",
         "chunked must be the final transfer coding"),
        ("NUL ends a field value early",
         "POST /a HTTP/1.1\r\nHost: origin.test\r\nX-A: a\u{0}\r\nContent-Length: 0\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: origin.test\r\n\r\n",
         "the field value contains a control character"),
    ]

    @Test(arguments: smuggling)
    func smugglingInATunnelNeverReachesTheOrigin(name: String, payload: String, reason: String) throws {
        let origin = try RecordingOrigin()
        defer { origin.stop() }
        let proxy = try ProxyProcess(["--map-remote", "origin.test:443=127.0.0.1:\(origin.port)", "--upstream-ca", origin.caFile], flows: .stdout)
        let baseline = try proxy.warmUp(url: "https://origin.test/warm-up")

        let answer = try RawClient.throughTunnel(port: proxy.port, root: proxy.root, first: "GET /first HTTP/1.1\r\nHost: origin.test\r\n\r\n",
                                                 then: Array(payload.utf8))
        #expect(answer.contains("origin saw /first"), "\(name): \(answer)")
        #expect(answer.contains("HTTP/1.1 400 Bad Request\r\n"), "\(name): \(answer)")
        #expect(answer.contains("intercept-proxy: "), "\(name): \(answer)")
        try proxy.assertStillServes(url: "https://origin.test/after")
        try origin.waitFor("REQ GET /after")
        #expect(origin.requests.contains("REQ GET /first"), "\(origin.requests)")
        #expect(!origin.requests.contains("/smuggled") && !origin.requests.contains("REQ POST /a"), "\(name): the origin saw \(origin.requests)")

        let error = try proxy.waitForEvent { $0["type"] as? String == "error" }
        #expect(error["cause"] as? String == "bad_request" && error["status"] as? Int == 400, "\(error)")
        #expect((error["detail"] as? String)?.contains(reason) == true, "\(name): \(error)")
        try proxy.assertBackToBaseline(baseline)
    }
}

extension HostileHTTP1TunnelTests {
    /// The client gives up in the middle of a chunked body: the proxy answers 400 and closes the
    /// upstream connection, so the origin never sees the body end (no last chunk is made up).
    @Test func aBodyCutByTheClientIsNeverCompletedUpstream() throws {
        let origin = try RecordingOrigin()
        defer { origin.stop() }
        let proxy = try ProxyProcess(["--map-remote", "origin.test:443=127.0.0.1:\(origin.port)", "--upstream-ca", origin.caFile], flows: .stdout)
        let baseline = try proxy.warmUp(url: "https://origin.test/warm-up")

        let answer = try RawClient.throughTunnel(port: proxy.port, root: proxy.root, first: "",
                                                 then: Array("POST /cut HTTP/1.1\r\nHost: origin.test\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n".utf8),
                                                 halfClose: true)
        let reason = "the client closed the connection in the middle of a chunked request body (before its last chunk)"
        #expect(answer.hasPrefix("HTTP/1.1 400 Bad Request\r\n") && answer.contains("\r\n\r\nintercept-proxy: \(reason)\n"), "\(answer)")
        let error = try proxy.waitForEvent { $0["type"] as? String == "error" }
        #expect(error["cause"] as? String == "bad_request" && error["status"] as? Int == 400 && error["detail"] as? String == reason, "\(error)")
        try origin.waitFor("CUT /cut")
        #expect(origin.requests.contains("REQ POST /cut") && !origin.requests.contains("BODY /cut"), "\(origin.requests)")

        try proxy.assertStillServes(url: "https://origin.test/after")
        try proxy.assertBackToBaseline(baseline)
    }
}

/// An HTTPS origin for origin.test that logs the request line of every request it parses
/// (`REQ METHOD PATH`), then a chunked body's end (`BODY PATH SIZE`, or `CUT PATH` when the
/// connection closes first), and answers `origin saw PATH`.
final class RecordingOrigin: @unchecked Sendable {
    private let server: PythonServer
    let caFile: String
    var port: Int { server.port }
    var requests: String { server.output }

    init() throws {
        let authority = try CertificateAuthority.generate(profile: .plain.with(keyAlgorithm: .ecdsaP256))
        let chain = try LeafForge(authority: authority).chain(for: "origin.test")
        var ca = ""
        server = try PythonServer(script: Self.script) { scratch in
            ca = try scratch.write("origin-ca.pem", authority.rootCertificate.pemString)
            return try scratch.writeChain(chain)
        }
        caFile = ca
    }

    func waitFor(_ pattern: String) throws { try server.waitFor(NSRegularExpression.escapedPattern(for: pattern)) }

    func stop() { server.stop() }

    static let script = #"""
import http.server, socketserver, ssl, sys

class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def log_message(self, *args):
        pass

    def answer(self):
        print("REQ %s %s" % (self.command, self.path), flush=True)
        length = int(self.headers.get("Content-Length") or "0")
        if length:
            self.rfile.read(length)
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            total = 0
            try:
                while True:
                    size = int(self.rfile.readline().split(b";")[0], 16)
                    if size == 0:
                        self.rfile.readline()
                        break
                    total += len(self.rfile.read(size))
                    self.rfile.readline()
            except ValueError:
                print("CUT %s" % self.path, flush=True)
                self.close_connection = True
                return
            print("BODY %s %d" % (self.path, total), flush=True)
        body = ("origin saw %s\n" % self.path).encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = answer

class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True

server = Server(("127.0.0.1", 0), Handler)
context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
context.load_cert_chain(sys.argv[1], sys.argv[2])
server.socket = context.wrap_socket(server.socket, server_side=True)
print("READY %d" % server.server_address[1], flush=True)
server.serve_forever()
"""#
}
