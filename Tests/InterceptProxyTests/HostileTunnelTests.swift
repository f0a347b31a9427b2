import CertForge
import Foundation
import InterceptProxy
import Testing
import TestSupport

/// Hostile CONNECT targets, loops, slow and silent clients, misdirected requests and odd TLS: each
/// gets its answer and its flow event, and afterwards the proxy serves a normal request and holds
/// no connection open.
@Suite struct HostileTunnelTests {
    /// An offline proxy; with `shortTimeouts`, its request-head and keep-alive timeouts are 2 s,
    /// short enough to wait for and long enough for a normal client on a busy machine. The handshake
    /// timeout stays at its default unless `handshakeTimeout` is given: each test's TLS handshakes
    /// (the forged leaf's signature included) would otherwise have to finish within it under load.
    private func withQuickProxy(shortTimeouts: Bool = false, handshakeTimeout: TimeInterval? = nil,
                                _ body: (ProxyFixture) async throws -> Void) async throws {
        try await withProxy(offline: true, configure: {
            if let handshakeTimeout { $0.handshakeTimeout = handshakeTimeout }
            guard shortTimeouts else { return }
            $0.requestHeadTimeout = 2
            $0.keepAliveTimeout = 2
        }, body)
    }

    /// The proxy still answers a normal client, and every connection it had is closed again.
    private func recovered(_ fixture: ProxyFixture, host: String = "after.example") throws {
        let result = try fixture.curl(["--cacert", fixture.rootFile, "https://\(host)/"])
        #expect(result.status == 0 && result.stdout.contains(host), "\(result)")
        fixture.waitUntilNoConnection()
        #expect(fixture.proxy.openConnections == 0, "connections left open: \(fixture.proxy.openConnections)")
    }

    // MARK: CONNECT targets

    @Test(arguments: [
        ("missing port", "no-port.example"),
        ("port 0", "a.example:0"),
        ("port 65536", "a.example:65536"),
        ("NUL in host", "nul\u{0}host.example:443"),
        ("300-character host", String(repeating: "a", count: 300) + ".example:443"),
        ("unbracketed IPv6", "::1:443"),
        ("unclosed bracket", "[::1:443"),
        ("userinfo", "user@host.example:443"),
    ])
    func badConnectTargetsGet400(_ name: String, _ target: String) async throws {
        try await withQuickProxy { fixture in
            let outcome = try RawClient.run(port: fixture.port, [.send("CONNECT \(target) HTTP/1.1\r\nHost: x\r\n\r\n"), .readToClose(timeout: 10)])
            #expect(outcome.received.hasPrefix("HTTP/1.1 400 Bad Request"), "\(name): \(outcome)")
            #expect(outcome.closedByPeer, "\(name): \(outcome)")
            try fixture.waitForEvent { $0.type == .error && $0.cause == .badRequest && $0.status == 400 }
            try recovered(fixture)
        }
    }

    /// A head the proxy cannot take: 400 (saying why, where given) and a bad_request event.
    @Test(arguments: [
        ("host with spaces: a malformed request line", "CONNECT bad host.example:443 HTTP/1.1\r\n\r\n", nil),
        ("two Host fields", "GET http://two.example/ HTTP/1.1\r\nHost: two.example\r\nHost: evil.example\r\n\r\n", "more than one Host field"),
    ] as [(String, String, String?)])
    func malformedHeadsGet400(_ name: String, _ head: String, _ reason: String?) async throws {
        try await withQuickProxy { fixture in
            let outcome = try RawClient.run(port: fixture.port, [.send(head), .readToClose(timeout: 10)])
            #expect(outcome.received.hasPrefix("HTTP/1.1 400 Bad Request"), "\(name): \(outcome)")
            if let reason {
                #expect(outcome.received.contains(reason), "\(name): \(outcome)")
            }
            try fixture.waitForEvent { $0.type == .error && $0.cause == .badRequest }
            try recovered(fixture)
        }
    }

    @Test func aBodyAfterConnectIsTunnelDataAndNotTLS() async throws {
        try await withQuickProxy { fixture in
            let outcome = try RawClient.run(port: fixture.port, [
                .send("CONNECT body.example:443 HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello"), .readToClose(timeout: 10)])
            #expect(outcome.received.hasPrefix("HTTP/1.1 200 Connection established\r\n\r\nHTTP/1.1 400 Bad Request"), "\(outcome)")
            #expect(outcome.received.contains("expects TLS, but plaintext arrived"), "\(outcome)")
            let failed = try fixture.waitForEvent { $0.type == .tlsFailed }
            #expect(failed.cause == .notTLS && failed.host == "body.example")
            try recovered(fixture)
        }
    }

    // MARK: Loops

    @Test func requestsToTheProxyItselfGet508() async throws {
        try await withProxy(offline: false) { fixture in
            let port = fixture.port
            for request in ["CONNECT 127.0.0.1:\(port) HTTP/1.1\r\n\r\n", "CONNECT localhost:\(port) HTTP/1.1\r\n\r\n",
                            "GET http://127.0.0.1:\(port)/ HTTP/1.1\r\nHost: 127.0.0.1:\(port)\r\n\r\n",
                            "GET http://localhost:\(port)/x HTTP/1.1\r\nHost: elsewhere.example\r\n\r\n"] {
                let outcome = try RawClient.run(port: port, [.send(request), .readToClose(timeout: 10)])
                #expect(outcome.received.hasPrefix("HTTP/1.1 508 Loop Detected"), "\(request): \(outcome)")
                #expect(outcome.received.contains("leads back to this proxy"), "\(outcome)")
            }
            let loops = fixture.proxy.recordedEvents.filter { $0.type == .error && $0.cause == .loopDetected && $0.status == 508 }
            #expect(loops.count == 4, "\(fixture.proxy.recordedEvents.map { "\($0.type.rawValue) \($0.cause?.rawValue ?? "")" })")
            #expect(fixture.proxy.openConnections == 0 || (try? recovered(fixture, host: "x")) != nil)
            fixture.waitUntilNoConnection()
            #expect(fixture.proxy.openConnections == 0)
        }
    }

    // MARK: Slow and silent clients

    @Test func aConnectionThatSendsNothingIsClosed() async throws {
        try await withQuickProxy(shortTimeouts: true) { fixture in
            let outcome = try RawClient.run(port: fixture.port, [.readToClose(timeout: 20)])
            #expect(outcome.closedByPeer && outcome.received.isEmpty, "\(outcome)")
            #expect(outcome.seconds < 10, "\(outcome)")
            let event = try fixture.waitForEvent { $0.type == .error && $0.cause == .requestHeadTimeout }
            #expect(event.detail == "no request within 2 s")
            try recovered(fixture)
        }
    }

    @Test func aConnectHeadDribbledAByteAtATimeGets408() async throws {
        try await withQuickProxy(shortTimeouts: true) { fixture in
            // 60 bytes at 0.1 s each would take 6 s; the whole head is due within 2 s of its first byte.
            let head = "CONNECT slow.example:443 HTTP/1.1\r\nHost: slow.example:443\r\n\r\n"
            let outcome = try RawClient.run(port: fixture.port, [.dribble(head, interval: 0.1), .readToClose(timeout: 10)])
            #expect(outcome.closedByPeer || outcome.error != nil, "\(outcome)")
            let event = try fixture.waitForEvent { $0.type == .error && $0.cause == .requestHeadTimeout }
            #expect(event.status == 408 && event.detail?.hasPrefix("the request head was not complete within 2 s") == true, "\(event)")
            #expect(!fixture.proxy.recordedEvents.contains { $0.type == .tunnelOpened })
            try recovered(fixture)
        }
    }

    @Test func aPartialHeadThenSilenceGets408() async throws {
        try await withQuickProxy(shortTimeouts: true) { fixture in
            let outcome = try RawClient.run(port: fixture.port, [.send("GET http://partial.example/ HTTP/1.1\r\nHost: part"), .readToClose(timeout: 20)])
            #expect(outcome.received.hasPrefix("HTTP/1.1 408 Request Timeout"), "\(outcome)")
            #expect(outcome.closedByPeer && outcome.seconds < 10, "\(outcome)")
            try fixture.waitForEvent { $0.type == .error && $0.cause == .requestHeadTimeout && $0.status == 408 }
            try recovered(fixture)
        }
    }

    @Test func aTLSSessionThatNeverSendsARequestIsClosed() async throws {
        try await withQuickProxy(shortTimeouts: true) { fixture in
            let outcome = try RawClient.run(port: fixture.port, [
                .send("CONNECT quiet.example:443 HTTP/1.1\r\n\r\n"), .readHead,
                .tls(serverName: "quiet.example", caFile: fixture.rootFile), .readToClose(timeout: 20)])
            #expect(outcome.error == nil && outcome.closedByPeer && outcome.seconds < 10, "\(outcome)")
            try fixture.waitForEvent { $0.type == .error && $0.cause == .requestHeadTimeout && $0.host == "quiet.example" }
            try recovered(fixture)
        }
    }

    @Test func anIdleKeepAliveConnectionIsClosed() async throws {
        try await withQuickProxy(shortTimeouts: true) { fixture in
            let outcome = try RawClient.run(port: fixture.port, [
                .send("GET http://idle.example/ HTTP/1.1\r\nHost: idle.example\r\n\r\n"), .readToClose(timeout: 20)])
            #expect(outcome.received.hasPrefix("HTTP/1.1 200 OK"), "\(outcome)")
            #expect(outcome.closedByPeer && outcome.seconds < 10, "\(outcome)")
            let event = try fixture.waitForEvent { $0.type == .error && $0.cause == .idleTimeout }
            #expect(event.detail == "keep-alive connection idle for 2 s")
            try recovered(fixture)
        }
    }

    // MARK: Pipelining and misdirected requests

    @Test func aGetPipelinedWithAConnectIsAnsweredThenTheTunnelOpens() async throws {
        try await withQuickProxy { fixture in
            let outcome = try RawClient.run(port: fixture.port, [
                .send("GET http://first.example/a HTTP/1.1\r\nHost: first.example\r\n\r\nCONNECT second.example:443 HTTP/1.1\r\nHost: second.example:443\r\n\r\n"),
                .readUntil("Connection established\r\n\r\n"),
                .tls(serverName: "second.example", caFile: fixture.rootFile),
                .send("GET /b HTTP/1.1\r\nHost: second.example\r\nConnection: close\r\n\r\n"), .readToClose(timeout: 10)])
            #expect(outcome.error == nil, "\(outcome)")
            #expect(outcome.received.hasPrefix("HTTP/1.1 200 OK"), "\(outcome)")
            #expect(outcome.received.contains("request: GET http://first.example/a"), "\(outcome)")
            #expect(outcome.received.contains("HTTP/1.1 200 Connection established"), "\(outcome)")
            #expect(outcome.received.contains("the TLS handshake for second.example succeeded"), "\(outcome)")
            #expect(outcome.received.contains("request: GET https://second.example/b"), "\(outcome)")
            try recovered(fixture)
        }
    }

    @Test func anAbsoluteURLForAnotherHostInsideATunnelGets421() async throws {
        try await withQuickProxy { fixture in
            let outcome = try RawClient.run(port: fixture.port, [
                .send("CONNECT good.example:443 HTTP/1.1\r\n\r\n"), .readHead,
                .tls(serverName: "good.example", caFile: fixture.rootFile),
                .send("GET https://good.example/same HTTP/1.1\r\nHost: good.example\r\n\r\n"), .readUntil("/same"),
                .send("GET https://other.example/x HTTP/1.1\r\nHost: other.example\r\n\r\n"), .readToClose(timeout: 10)])
            #expect(outcome.received.contains("request: GET https://good.example/same"), "\(outcome)")
            #expect(outcome.received.contains("HTTP/1.1 421 Misdirected Request"), "\(outcome)")
            #expect(outcome.received.contains("this tunnel leads to good.example, not to other.example"), "\(outcome)")
            let event = try fixture.waitForEvent { $0.type == .error && $0.cause == .misdirectedRequest }
            #expect(event.host == "good.example" && event.status == 421)
            #expect(!fixture.proxy.recordedEvents.contains { $0.url?.contains("other.example") == true })
            try recovered(fixture)
        }
    }

    @Test func anHTTP11RequestWithoutHostInATunnelGets400() async throws {
        try await withQuickProxy { fixture in
            let outcome = try RawClient.run(port: fixture.port, [
                .send("CONNECT nohost.example:443 HTTP/1.1\r\n\r\n"), .readHead,
                .tls(serverName: "nohost.example", caFile: fixture.rootFile),
                .send("GET / HTTP/1.1\r\nAccept: */*\r\n\r\n"), .readToClose(timeout: 10)])
            #expect(outcome.received.contains("HTTP/1.1 400 Bad Request"), "\(outcome)")
            #expect(outcome.received.contains("an HTTP/1.1 request needs a Host header field"), "\(outcome)")
            try fixture.waitForEvent { $0.type == .error && $0.cause == .badRequest && $0.host == "nohost.example" }
            try recovered(fixture)
        }
    }

    // MARK: Upstream names

    @Test func theUpstreamIsVerifiedForTheClientsSNINotTheConnectHost() async throws {
        try await withForwardingOrigin(configure: { $0.untrustedUpstream = .reject }) { forwarding in
            let fixture = forwarding.proxy
            // The client is shown a leaf for bank.test; the origin behind origin.test must then prove bank.test.
            let outcome = try RawClient.run(port: fixture.port, [
                .send("CONNECT origin.test:443 HTTP/1.1\r\n\r\n"), .readHead,
                .tls(serverName: "bank.test", caFile: fixture.rootFile),
                .send("GET /hello HTTP/1.1\r\nHost: bank.test\r\n\r\n"), .readToClose(timeout: 20)])
            #expect(outcome.received.contains("HTTP/1.1 502 Bad Gateway"), "\(outcome)")
            #expect(outcome.received.contains("upstream TLS verification failed for bank.test"), "\(outcome)")
            #expect(!outcome.received.contains("hello from origin"), "\(outcome)")
            try fixture.waitForEvent { $0.type == .error && $0.cause == .upstreamTLS && $0.status == 502 }
            // The same tunnel with a matching SNI reaches the origin.
            let good = try forwarding.curl(["/hello"])
            #expect(good.status == 0 && good.stdout.contains("hello from origin"), "\(good)")
        }
    }

    @Test func aClientOfferingOnlyH2ToAnHTTP1OnlyOriginIsToldTheCauseIsALPN() async throws {
        try await withMappedOrigin(origin: { try NginxOrigin(chain: $0, files: ["small": Array("small\n".utf8)], http2: false) }) { mapped in
            let fixture = mapped.proxy
            // grpc-go offers only h2; the proxy offers the origin exactly that, and nginx refuses it.
            let result = try h2ClientThroughTunnel(proxyPort: fixture.port, rootFile: fixture.rootFile, host: MappedOrigin.host, script: """
                stream = get("/small")
                run_until(lambda: done(stream))
                report(stream)
                """)
            #expect(result.stdout.contains("1 502 bytes="), "\(result)")
            let event = try fixture.waitForEvent { $0.type == .error && $0.cause == .upstreamALPN }
            #expect(event.status == 502, "\(event)")
            #expect(event.detail?.hasPrefix("stream 1: origin.test speaks none of the protocols the client offered by ALPN (h2)") == true, "\(event)")
            #expect(event.detail?.contains("the certificate was not the problem") == true, "\(event)")
        }
    }

    @Test func absoluteFormRequestsReachTheOriginWithTheURLsHost() async throws {
        let origin = try OriginServer()
        defer { origin.stop() }
        try await withProxy(offline: false, configure: {
            $0.mapRemote = [MapRemoteRule(host: "plain.test", port: 80, address: "127.0.0.1", addressPort: origin.port)]
        }) { fixture in
            for (request, expectedLine) in [
                ("GET http://plain.test/headers HTTP/1.1\r\nHost: evil.test\r\nConnection: close\r\n\r\n", "request-line: GET /headers HTTP/1.1"),
                ("GET http://plain.test/headers HTTP/1.1\r\nConnection: close\r\n\r\n", "request-line: GET /headers HTTP/1.1"),
                ("GET http://plain.test/headers HTTP/1.0\r\n\r\n", "request-line: GET /headers HTTP/1.0"),
            ] {
                let outcome = try RawClient.run(port: fixture.port, [.send(request), .readToClose(timeout: 10)])
                #expect(outcome.received.hasPrefix("HTTP/1.1 200") || outcome.received.hasPrefix("HTTP/1.0 200"), "\(outcome)")
                #expect(outcome.received.contains(expectedLine), "\(outcome)")
                #expect(outcome.received.contains("host-fields: 1\nhost: plain.test\n"), "\(request.debugDescription): \(outcome)")
            }
            let requests = fixture.proxy.recordedEvents.filter { $0.type == .request }
            #expect(requests.count == 3 && requests.allSatisfy { $0.host == "plain.test" && $0.headers?.first == ["Host", "plain.test"] },
                    "\(requests.map { $0.headers ?? [] })")
        }
    }

    // MARK: TLS

    @Test func garbageInsteadOfAClientHelloFailsTheHandshake() async throws {
        try await withQuickProxy { fixture in
            var garbage: [UInt8] = [0x16, 0x03, 0x01, 0x00, 0x40]
            garbage += (0..<64).map { UInt8(truncatingIfNeeded: $0 &* 37 &+ 11) }
            let outcome = try RawClient.run(port: fixture.port, [
                .send("CONNECT garbage.example:443 HTTP/1.1\r\n\r\n"), .readHead, .sendBytes(garbage), .readToClose(timeout: 10)])
            #expect(outcome.closedByPeer, "\(outcome)")
            let failed = try fixture.waitForEvent { $0.type == .tlsFailed && $0.host == "garbage.example" }
            #expect(failed.cause == .other || failed.cause == .closedDuringHandshake, "\(failed)")
            try recovered(fixture)
        }
    }

    @Test func aTruncatedClientHelloThenSilenceTimesOut() async throws {
        // The one test of the handshake timeout: 5 s, so that the normal handshake `recovered` makes
        // afterwards fits in it on a loaded machine.
        try await withQuickProxy(handshakeTimeout: 5) { fixture in
            // A record header announcing 512 bytes, and 10 of them.
            let truncated: [UInt8] = [0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc, 0x03, 0x03, 0, 0, 0, 0]
            let outcome = try RawClient.run(port: fixture.port, [
                .send("CONNECT truncated.example:443 HTTP/1.1\r\n\r\n"), .readHead, .sendBytes(truncated), .readToClose(timeout: 30)])
            #expect(outcome.closedByPeer && outcome.seconds >= 5 && outcome.seconds < 20, "\(outcome)")
            let failed = try fixture.waitForEvent { $0.type == .tlsFailed && $0.host == "truncated.example" }
            #expect(failed.cause == .timeout && failed.detail == "no complete handshake within 5 s", "\(failed)")
            try recovered(fixture)
        }
    }

    @Test func aTLS10OnlyClientIsRefusedWithProtocolVersion() async throws {
        try await withQuickProxy { fixture in
            let outcome = try RawClient.run(port: fixture.port, [
                .send("CONNECT old.example:443 HTTP/1.1\r\n\r\n"), .readHead,
                .tls(serverName: "old.example", caFile: fixture.rootFile, version: "TLSv1"), .readToClose(timeout: 10)])
            #expect(outcome.error?.contains("SSLError") == true, "\(outcome)")
            let failed = try fixture.waitForEvent { $0.type == .tlsFailed && $0.host == "old.example" }
            #expect(failed.cause == .protocolVersion || failed.cause == .other, "\(failed)")
            #expect(failed.detail?.contains("unsupported protocol") == true || failed.detail?.contains("version") == true, "\(failed)")
            try recovered(fixture)
        }
    }

    @Test func anSNIWithInvalidCharactersGetsTheConnectHostsLeaf() async throws {
        try await withQuickProxy { fixture in
            let result = try run("openssl", ["s_client", "-proxy", "127.0.0.1:\(fixture.port)", "-connect", "named.example:443",
                                              "-servername", "bad_name!.example", "-CAfile", fixture.rootFile, "-verify_return_error", "-brief", "-ign_eof"],
                                 input: "GET / HTTP/1.1\r\nHost: named.example\r\nConnection: close\r\n\r\n")
            #expect(result.output.contains("Verification: OK"), "\(result)")
            #expect(result.output.contains("the TLS handshake for named.example succeeded"), "\(result)")
            let established = try fixture.waitForEvent { $0.type == .tlsEstablished && $0.host == "named.example" }
            #expect(established.sni == "bad_name!.example")
            try recovered(fixture)
        }
    }

    /// RFC 6066 forbids an IP literal in SNI: it is ignored, so the leaf names the CONNECT host,
    /// the host the request then goes to (no leaf for one address and a request to another).
    @Test func anIPLiteralSNIIsIgnoredForTheConnectHost() async throws {
        try await withQuickProxy { fixture in
            let result = try run("openssl", ["s_client", "-proxy", "127.0.0.1:\(fixture.port)", "-connect", "named.example:443",
                                              "-servername", "10.9.8.7", "-CAfile", fixture.rootFile, "-verify_hostname", "named.example",
                                              "-verify_return_error", "-brief", "-ign_eof"],
                                 input: "GET / HTTP/1.1\r\nHost: named.example\r\nConnection: close\r\n\r\n")
            #expect(result.output.contains("Verification: OK") && result.output.contains("Verified peername: named.example"), "\(result)")
            let established = try fixture.waitForEvent { $0.type == .tlsEstablished && $0.host == "named.example" }
            #expect(established.sni == "10.9.8.7", "the flow log still shows what the client sent")
            try recovered(fixture)
        }
    }

    @Test func anSNILongerThan255BytesFailsTheHandshakeCleanly() async throws {
        try await withQuickProxy { fixture in
            let outcome = try RawClient.run(port: fixture.port, [
                .send("CONNECT long.example:443 HTTP/1.1\r\n\r\n"), .readHead, .clientHelloWithSNI(length: 300), .readToClose(timeout: 10)])
            // A fatal alert record: 0x15, TLS 1.2, length 2, level fatal.
            #expect(outcome.received.hasSuffix("\u{15}\u{03}\u{03}\u{00}\u{02}\u{02}\u{70}") && outcome.closedByPeer, "\(outcome)")
            let failed = try fixture.waitForEvent { $0.type == .tlsFailed && $0.host == "long.example" }
            #expect(failed.detail?.contains("bad extension") == true, "\(failed)")
            try recovered(fixture)
        }
    }

    @Test func renegotiationIsRefused() async throws {
        try await withQuickProxy { fixture in
            // s_client renegotiates when it reads a line "R" (TLS 1.2 only), then sends the request:
            // each step once s_client has said the one before it is done.
            let client = try start("openssl", ["s_client", "-proxy", "127.0.0.1:\(fixture.port)", "-connect", "reneg.example:443",
                                               "-servername", "reneg.example", "-CAfile", fixture.rootFile, "-tls1_2", "-no_ign_eof"],
                                   keepingInputOpen: true, stderr: .intoStdout)
            try client.waitFor("Verify return code")  // the handshake is done
            try client.writeInput("R\n")
            try client.waitFor("RENEGOTIATING")
            // The proxy may have closed the connection by now (then s_client has gone, and its input with it).
            try? client.writeInput("GET / HTTP/1.1\r\nHost: reneg.example\r\nConnection: close\r\n\r\n")
            // Refused, the connection ends; answered, it ends after the answer (Connection: close).
            let result = try client.wait(timeout: 30)
            #expect(result.output.contains("RENEGOTIATING"), "\(result)")
            #expect(!result.output.contains("the TLS handshake for reneg.example succeeded") || result.output.contains("no renegotiation"), "\(result)")
            #expect(fixture.proxy.recordedEvents.filter { $0.type == .tlsEstablished }.count == 1)
            try recovered(fixture)
        }
    }
}
