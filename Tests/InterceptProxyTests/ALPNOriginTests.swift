import Foundation
import InterceptProxy
import Testing
import TestSupport

/// `--alpn origin`: the client gets the protocol the origin selected from the client's own offer,
/// as a gateway that connects upstream first does; `offer` selects h2 whatever the origin speaks.
@Suite struct ALPNOriginTests {
    @Test(arguments: [false, true])
    func theClientGetsWhatTheOriginSelected(originSpeaksH2: Bool) async throws {
        let small = Array("small\n".utf8)
        for policy in [ALPNPolicy.origin, .offer] {
            try await withMappedOrigin(configure: { $0.alpn = policy },
                                       origin: { try NginxOrigin(chain: $0, files: ["small": small], http2: originSpeaksH2) }) { mapped in
                let result = try mapped.curl(["/small"], ["--http2", "-v"])
                #expect(result.status == 0 && result.stdout == "small\n", "\(result)")
                let expected = policy == .origin && !originSpeaksH2 ? "http/1.1" : "h2"
                #expect(result.stderr.contains("ALPN: server accepted \(expected)"), "\(policy) \(originSpeaksH2): \(result.stderr)")
            }
        }
    }

    @Test func anOriginThatSelectsNothingLeavesTheClientWithout() async throws {
        // A Python origin that offers no ALPN at all: the client then gets none either (what gRPC calls
        // "missing selected ALPN property"), and speaks HTTP/1.1.
        let script = PythonServer.httpsRequestLoop + """
            def serve(conn):
                tls = context.wrap_socket(conn, server_side=True)  # no ALPN configured: selects nothing
                for _ in request_paths(tls):
                    tls.sendall(b"HTTP/1.1 200 OK\\r\\nContent-Length: 3\\r\\n\\r\\nok\\n")

            serve_forever(serve)
            """
        try await withMappedOrigin(configure: { $0.alpn = .origin },
                                   origin: { chain in try PythonServer(script: script) { try $0.writeChain(chain) } }) { mapped in
            let result = try mapped.curl(["/"], ["--http2", "-v"])
            #expect(result.status == 0 && result.stdout == "ok\n", "\(result)")
            #expect(result.stderr.contains("ALPN: server did not agree on a protocol"), "\(result.stderr)")
        }
    }
}
