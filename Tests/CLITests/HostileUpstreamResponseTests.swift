import CertForge
import Foundation
import Testing
import TestSupport

/// Upstream responses a client behind the proxy could frame differently: a protocol error, answered
/// with a 502 while nothing of the response went out, never relayed.
@Suite struct HostileUpstreamResponseTests {
    static let responses: [(String, String, String)] = [
        ("/bare-lf", "HTTP/1.1 200 OK\r\nX-A: a\nContent-Length: 5\r\n\r\nhello",
         "upstream protocol error: upstream sent a head line ending in a bare LF (no CR before it)"),
        ("/nul", "HTTP/1.1 200 OK\r\nX-A: a\u{0}b\r\nContent-Length: 5\r\n\r\nhello",
         "upstream protocol error: upstream sent a malformed header line 'X-A: a\\0b': the field value contains a control character (a bare CR or LF, NUL, ...)"),
        ("/cl-te", "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
         "upstream protocol error: upstream sent both Transfer-Encoding and Content-Length"),
        ("/two-lengths", "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!",
         "upstream protocol error: upstream sent an invalid Content-Length '5, 6'"),
    ]

    @Test(arguments: responses)
    func smugglingShapedResponseBecomes502(path: String, response: String, message: String) throws {
        let origin = try RawResponseOrigin([path: [Array(response.utf8)]])
        defer { origin.stop() }
        let proxy = try ProxyProcess(["--map-remote", "origin.test:443=127.0.0.1:\(origin.port)", "--upstream-ca", origin.caFile], flows: .stdout)
        let baseline = try proxy.warmUp(url: "https://origin.test/warm-up")

        let result = try run("curl", ["-sS", "-i", "--suppress-connect-headers", "--max-time", "20", "--http1.1", "-x", "http://127.0.0.1:\(proxy.port)", "--cacert", proxy.root,
                                      "https://origin.test\(path)"])
        #expect(result.stdout.hasPrefix("HTTP/1.1 502 Bad Gateway\r\n"), "\(result)")
        #expect(result.stdout.hasSuffix("\r\n\r\nintercept-proxy: \(message)\n"), "\(result)")
        let error = try proxy.waitForEvent { $0["type"] as? String == "error" }
        #expect(error["cause"] as? String == "upstream_protocol" && error["status"] as? Int == 502, "\(error)")
        #expect(error["detail"] as? String == message, "\(error)")
        try proxy.assertStillServes(url: "https://origin.test/after")
        try proxy.assertBackToBaseline(baseline)
    }

    /// A bad chunk size after the head went out: the client sees the transfer cut, not a longer body.
    @Test func badChunkSizeAfterTheHeadCutsTheTransfer() throws {
        let origin = try RawResponseOrigin(["/chunks": [Array("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n".utf8),
                                                        Array("fffffffffffffffff\r\nx\r\n0\r\n\r\n".utf8)]])
        defer { origin.stop() }
        let proxy = try ProxyProcess(["--map-remote", "origin.test:443=127.0.0.1:\(origin.port)", "--upstream-ca", origin.caFile], flows: .stdout)
        let baseline = try proxy.warmUp(url: "https://origin.test/warm-up")
        let result = try run("curl", ["-sS", "--max-time", "20", "--http1.1", "-x", "http://127.0.0.1:\(proxy.port)", "--cacert", proxy.root,
                                      "https://origin.test/chunks"])
        #expect(result.status == 18 && result.stdout == "hello", "\(result)")  // CURLE_PARTIAL_FILE
        let error = try proxy.waitForEvent { $0["type"] as? String == "error" }
        #expect(error["cause"] as? String == "upstream_protocol", "\(error)")
        #expect(error["detail"] as? String == "upstream protocol error: upstream sent an invalid chunk size line 'fffffffffffffffff': more than 15 hex digits", "\(error)")
        try proxy.assertStillServes(url: "https://origin.test/after")
        try proxy.assertBackToBaseline(baseline)
    }
}

/// An HTTPS origin for origin.test that answers a path with the raw bytes given for it (nothing
/// checked, nothing added; pieces half a second apart) and any other path with `origin saw PATH`;
/// it logs `REQ GET PATH`.
final class RawResponseOrigin: @unchecked Sendable {
    private let server: PythonServer
    let caFile: String
    var port: Int { server.port }

    init(_ responses: [String: [[UInt8]]]) throws {
        let authority = try CertificateAuthority.generate(profile: .plain.with(keyAlgorithm: .ecdsaP256))
        let chain = try LeafForge(authority: authority).chain(for: "origin.test")
        let table = responses.map { path, pieces in
            ([path] + pieces.map { $0.map { String(format: "%02x", $0) }.joined() }).joined(separator: " ")
        }.joined(separator: "\n")
        var ca = ""
        server = try PythonServer(script: Self.script) { scratch in
            ca = try scratch.write("origin-ca.pem", authority.rootCertificate.pemString)
            return try scratch.writeChain(chain) + [try scratch.write("responses.txt", table)]
        }
        caFile = ca
    }

    func stop() { server.stop() }

    static let script = PythonServer.httpsRequestLoop + #"""
import time

responses = {}
for line in open(sys.argv[3]).read().splitlines():
    path, *pieces = line.split(" ")
    responses[path] = [bytes.fromhex(piece) for piece in pieces]

def serve(conn):
    try:
        conn = context.wrap_socket(conn, server_side=True)
        for path in request_paths(conn):
            print("REQ GET %s" % path, flush=True)
            body = ("origin saw %s\n" % path).encode()
            for index, piece in enumerate(responses.get(path, [b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body)])):
                if index:
                    time.sleep(0.5)
                conn.sendall(piece)
    except (OSError, ssl.SSLError):
        pass

serve_forever(serve)
"""#
}
