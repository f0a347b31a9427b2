import Foundation
import InterceptProxy
import Testing
import TestSupport

/// Bad input gets a clear answer and a flow event, and the proxy keeps serving.
@Suite struct BadInputTests {
    /// Sends raw bytes to the proxy and returns what it answered before closing.
    private func exchange(_ port: Int, _ payloadHex: String, then tunnelHex: String = "") throws -> String {
        let script = """
            import socket, sys
            s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=10)
            s.sendall(bytes.fromhex(sys.stdin.readline().strip()))
            tunnel = sys.stdin.readline().strip()
            if tunnel:
                s.recv(4096)
                s.sendall(bytes.fromhex(tunnel))
            data = b""
            while True:
                chunk = s.recv(65536)
                if not chunk:
                    break
                data += chunk
            sys.stdout.write(data.decode("latin-1"))
            """
        // The payload travels on stdin: a 64 KiB head is too long for an argument list.
        return try run("python3", ["-c", script, String(port)], input: payloadHex + "\n" + tunnelHex + "\n").stdout
    }

    private func hex(_ text: String) -> String { Array(text.utf8).map { String(format: "%02x", $0) }.joined() }

    private func stillServes(_ fixture: ProxyFixture) throws {
        let result = try fixture.curl(["--cacert", fixture.rootFile, "https://after.example/"])
        #expect(result.status == 0 && result.stdout.contains("after.example"), "\(result)")
    }

    @Test(arguments: ["no-port.example", "bad_host!:443", "a.example:99999", "[::1:443"])
    func malformedConnectGets400(target: String) async throws {
        try await withProxy { fixture in
            let answer = try exchange(fixture.port, hex("CONNECT \(target) HTTP/1.1\r\nHost: x\r\n\r\n"))
            #expect(answer.hasPrefix("HTTP/1.1 400 Bad Request"), "\(target): \(answer)")
            #expect(answer.contains("CONNECT needs host:port"), "\(answer)")
            try fixture.waitForEvent { $0.type == .error && $0.cause == .badRequest && $0.status == 400 }
            try stillServes(fixture)
        }
    }

    @Test func aGarbageRequestLineGets400() async throws {
        try await withProxy { fixture in
            let garbage = try exchange(fixture.port, hex("\u{01}\u{02}hello\r\n\r\n"))
            #expect(garbage.hasPrefix("HTTP/1.1 400 Bad Request") && garbage.contains("malformed request line"), "\(garbage)")
            try fixture.waitForEvent { $0.type == .error && $0.cause == .badRequest && $0.status == 400 }
            try stillServes(fixture)
        }
    }

    @Test func sixtyFourKiBHeaderGets431() async throws {
        try await withProxy { fixture in
            let head = "CONNECT big.example:443 HTTP/1.1\r\nX-Big: " + String(repeating: "b", count: 64 * 1024) + "\r\n\r\n"
            let answer = try exchange(fixture.port, hex(head))
            #expect(answer.hasPrefix("HTTP/1.1 431 Request Header Fields Too Large"), "\(answer.prefix(200))")
            try fixture.waitForEvent { $0.type == .error && $0.status == 431 }
            try stillServes(fixture)
        }
    }

    @Test func plaintextIntoATLSTunnelIsAnsweredAndRecorded() async throws {
        try await withProxy { fixture in
            let answer = try exchange(fixture.port, hex("CONNECT plain.example:443 HTTP/1.1\r\n\r\n"),
                                      then: hex("GET / HTTP/1.1\r\nHost: plain.example\r\n\r\n"))
            #expect(answer.hasPrefix("HTTP/1.1 400 Bad Request"), "\(answer)")
            #expect(answer.contains("expects TLS, but plaintext arrived"))
            let failure = try fixture.waitForEvent { $0.type == .tlsFailed }
            #expect(failure.cause == .notTLS && failure.host == "plain.example")
            try stillServes(fixture)
        }
    }

    @Test func originFormRequestsToTheProxyGet400() async throws {
        try await withProxy { fixture in
            let answer = try exchange(fixture.port, hex("GET /index.html HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"))
            #expect(answer.hasPrefix("HTTP/1.1 400 Bad Request"), "\(answer)")
            #expect(answer.contains("this is a proxy: send CONNECT host:port or an absolute http:// URL"), "\(answer)")
            try stillServes(fixture)
        }
    }

    @Test func offlinePlainHTTPRequestsAreAnsweredLocally() async throws {
        try await withProxy { fixture in
            let result = try fixture.curl(["-i", "http://plain.example/page"])
            #expect(result.stdout.hasPrefix("HTTP/1.1 200 OK"), "\(result)")
            #expect(result.stdout.contains("plain HTTP request for plain.example"))
            #expect(result.stdout.contains("request: GET http://plain.example/page"))
        }
    }
}
