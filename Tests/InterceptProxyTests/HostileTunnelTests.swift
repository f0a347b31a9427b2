import CertForge
import Foundation
import InterceptProxy
import Testing
import TestSupport

/// Hostile CONNECT targets, loops, slow and silent clients, misdirected requests and odd TLS: each
/// gets its answer and its flow event, and afterwards the proxy serves a normal request and holds
/// no connection open.
@Suite struct HostileTunnelTests {
    /// An offline proxy; with `shortTimeouts`, its request-head, keep-alive and handshake timeouts
    /// are 2 s, short enough to wait for and long enough for a normal client on a busy machine.
    private func quickProxy(shortTimeouts: Bool = false) throws -> ProxyFixture {
        try ProxyFixture(offline: true) {
            guard shortTimeouts else { return }
            $0.requestHeadTimeout = 2
            $0.keepAliveTimeout = 2
            $0.handshakeTimeout = 2
        }
    }

    /// The proxy still answers a normal client, and every connection it had is closed again.
    private func recovered(_ fixture: ProxyFixture, host: String = "after.example") throws {
        let result = try fixture.curl(["--cacert", fixture.rootFile, "https://\(host)/"])
        #expect(result.status == 0 && result.stdout.contains(host), "\(result)")
        let deadline = Date() + 10
        while fixture.proxy.openConnections > 0 && Date() < deadline { usleep(20_000) }
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
    func badConnectTargetsGet400(_ name: String, _ target: String) throws {
        let fixture = try quickProxy()
        defer { Task { await fixture.proxy.stop() } }
        let outcome = try RawClient.run(port: fixture.port, [.send("CONNECT \(target) HTTP/1.1\r\nHost: x\r\n\r\n"), .readToClose(timeout: 10)])
        #expect(outcome.received.hasPrefix("HTTP/1.1 400 Bad Request"), "\(name): \(outcome)")
        #expect(outcome.closedByPeer, "\(name): \(outcome)")
        try fixture.waitForEvent { $0.type == .error && $0.cause == .badRequest && $0.status == 400 }
        try recovered(fixture)
    }

    @Test func aHostWithSpacesIsAMalformedRequestLine() throws {
        let fixture = try quickProxy()
        defer { Task { await fixture.proxy.stop() } }
        let outcome = try RawClient.run(port: fixture.port, [.send("CONNECT bad host.example:443 HTTP/1.1\r\n\r\n"), .readToClose(timeout: 10)])
        #expect(outcome.received.hasPrefix("HTTP/1.1 400 Bad Request"), "\(outcome)")
        try fixture.waitForEvent { $0.type == .error && $0.cause == .badRequest }
        try recovered(fixture)
    }

    @Test func aBodyAfterConnectIsTunnelDataAndNotTLS() throws {
        let fixture = try quickProxy()
        defer { Task { await fixture.proxy.stop() } }
        let outcome = try RawClient.run(port: fixture.port, [
            .send("CONNECT body.example:443 HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello"), .readToClose(timeout: 10)])
        #expect(outcome.received.hasPrefix("HTTP/1.1 200 Connection established\r\n\r\nHTTP/1.1 400 Bad Request"), "\(outcome)")
        #expect(outcome.received.contains("expects TLS, but plaintext arrived"), "\(outcome)")
        let failed = try fixture.waitForEvent { $0.type == .tlsFailed }
        #expect(failed.cause == .notTLS && failed.host == "body.example")
        try recovered(fixture)
    }

    // MARK: Loops

    @Test func requestsToTheProxyItselfGet508() throws {
        let fixture = try ProxyFixture(offline: false)
        defer { Task { await fixture.proxy.stop() } }
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
        let deadline = Date() + 10
        while fixture.proxy.openConnections > 0 && Date() < deadline { usleep(20_000) }
        #expect(fixture.proxy.openConnections == 0)
    }

    // MARK: Slow and silent clients

    @Test func aConnectionThatSendsNothingIsClosed() throws {
        let fixture = try quickProxy(shortTimeouts: true)
        defer { Task { await fixture.proxy.stop() } }
        let outcome = try RawClient.run(port: fixture.port, [.readToClose(timeout: 20)])
        #expect(outcome.closedByPeer && outcome.received.isEmpty, "\(outcome)")
        #expect(outcome.seconds < 10, "\(outcome)")
        let event = try fixture.waitForEvent { $0.type == .error && $0.cause == .requestHeadTimeout }
        #expect(event.detail == "no request within 2 s")
        try recovered(fixture)
    }

    @Test func aConnectHeadDribbledAByteAtATimeGets408() throws {
        let fixture = try quickProxy(shortTimeouts: true)
        defer { Task { await fixture.proxy.stop() } }
        // 60 bytes at 0.1 s each would take 6 s; the whole head is due within 2 s of its first byte.
        let head = "CONNECT slow.example:443 HTTP/1.1\r\nHost: slow.example:443\r\n\r\n"
        let outcome = try RawClient.run(port: fixture.port, [.dribble(head, interval: 0.1), .readToClose(timeout: 10)])
        #expect(outcome.closedByPeer || outcome.error != nil, "\(outcome)")
        let event = try fixture.waitForEvent { $0.type == .error && $0.cause == .requestHeadTimeout }
        #expect(event.status == 408 && event.detail?.hasPrefix("the request head was not complete within 2 s") == true, "\(event)")
        #expect(!fixture.proxy.recordedEvents.contains { $0.type == .tunnelOpened })
        try recovered(fixture)
    }

    @Test func aPartialHeadThenSilenceGets408() throws {
        let fixture = try quickProxy(shortTimeouts: true)
        defer { Task { await fixture.proxy.stop() } }
        let outcome = try RawClient.run(port: fixture.port, [.send("GET http://partial.example/ HTTP/1.1\r\nHost: part"), .readToClose(timeout: 20)])
        #expect(outcome.received.hasPrefix("HTTP/1.1 408 Request Timeout"), "\(outcome)")
        #expect(outcome.closedByPeer && outcome.seconds < 10, "\(outcome)")
        try fixture.waitForEvent { $0.type == .error && $0.cause == .requestHeadTimeout && $0.status == 408 }
        try recovered(fixture)
    }

    @Test func aTLSSessionThatNeverSendsARequestIsClosed() throws {
        let fixture = try quickProxy(shortTimeouts: true)
        defer { Task { await fixture.proxy.stop() } }
        let outcome = try RawClient.run(port: fixture.port, [
            .send("CONNECT quiet.example:443 HTTP/1.1\r\n\r\n"), .readHead,
            .tls(serverName: "quiet.example", caFile: fixture.rootFile), .readToClose(timeout: 20)])
        #expect(outcome.error == nil && outcome.closedByPeer && outcome.seconds < 10, "\(outcome)")
        try fixture.waitForEvent { $0.type == .error && $0.cause == .requestHeadTimeout && $0.host == "quiet.example" }
        try recovered(fixture)
    }

    @Test func anIdleKeepAliveConnectionIsClosed() throws {
        let fixture = try quickProxy(shortTimeouts: true)
        defer { Task { await fixture.proxy.stop() } }
        let outcome = try RawClient.run(port: fixture.port, [
            .send("GET http://idle.example/ HTTP/1.1\r\nHost: idle.example\r\n\r\n"), .readToClose(timeout: 20)])
        #expect(outcome.received.hasPrefix("HTTP/1.1 200 OK"), "\(outcome)")
        #expect(outcome.closedByPeer && outcome.seconds < 10, "\(outcome)")
        let event = try fixture.waitForEvent { $0.type == .error && $0.cause == .idleTimeout }
        #expect(event.detail == "keep-alive connection idle for 2 s")
        try recovered(fixture)
    }

    // MARK: Pipelining and misdirected requests

    @Test func aGetPipelinedWithAConnectIsAnsweredThenTheTunnelOpens() throws {
        let fixture = try quickProxy()
        defer { Task { await fixture.proxy.stop() } }
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

    @Test func anAbsoluteURLForAnotherHostInsideATunnelGets421() throws {
        let fixture = try quickProxy()
        defer { Task { await fixture.proxy.stop() } }
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

    @Test func twoHostFieldsGet400() throws {
        let fixture = try quickProxy()
        defer { Task { await fixture.proxy.stop() } }
        let outcome = try RawClient.run(port: fixture.port, [
            .send("GET http://two.example/ HTTP/1.1\r\nHost: two.example\r\nHost: evil.example\r\n\r\n"), .readToClose(timeout: 10)])
        #expect(outcome.received.hasPrefix("HTTP/1.1 400 Bad Request"), "\(outcome)")
        #expect(outcome.received.contains("more than one Host field"), "\(outcome)")
        try fixture.waitForEvent { $0.type == .error && $0.cause == .badRequest }
        try recovered(fixture)
    }

    @Test func anHTTP11RequestWithoutHostInATunnelGets400() throws {
        let fixture = try quickProxy()
        defer { Task { await fixture.proxy.stop() } }
        let outcome = try RawClient.run(port: fixture.port, [
            .send("CONNECT nohost.example:443 HTTP/1.1\r\n\r\n"), .readHead,
            .tls(serverName: "nohost.example", caFile: fixture.rootFile),
            .send("GET / HTTP/1.1\r\nAccept: */*\r\n\r\n"), .readToClose(timeout: 10)])
        #expect(outcome.received.contains("HTTP/1.1 400 Bad Request"), "\(outcome)")
        #expect(outcome.received.contains("an HTTP/1.1 request needs a Host header field"), "\(outcome)")
        try fixture.waitForEvent { $0.type == .error && $0.cause == .badRequest && $0.host == "nohost.example" }
        try recovered(fixture)
    }

    // MARK: Upstream names

    @Test func theUpstreamIsVerifiedForTheClientsSNINotTheConnectHost() throws {
        let forwarding = try ForwardingFixture()
        defer { Task { await forwarding.stop() } }
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

    @Test func aClientOfferingOnlyH2ToAnHTTP1OnlyOriginIsToldTheCauseIsALPN() throws {
        let origin = try MappedOrigin()
        let nginx = try NginxOrigin(chain: origin.chain, files: ["small": Array("small\n".utf8)], http2: false)
        defer { nginx.stop() }
        let fixture = try origin.proxy(port: nginx.port)
        defer { Task { await fixture.proxy.stop() } }
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

    @Test func absoluteFormRequestsReachTheOriginWithTheURLsHost() throws {
        let origin = try OriginServer()
        defer { origin.stop() }
        let fixture = try ProxyFixture(offline: false) {
            $0.mapRemote = [MapRemoteRule(host: "plain.test", port: 80, address: "127.0.0.1", addressPort: origin.port)]
        }
        defer { Task { await fixture.proxy.stop() } }
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

    // MARK: TLS

    @Test func garbageInsteadOfAClientHelloFailsTheHandshake() throws {
        let fixture = try quickProxy()
        defer { Task { await fixture.proxy.stop() } }
        var garbage: [UInt8] = [0x16, 0x03, 0x01, 0x00, 0x40]
        garbage += (0..<64).map { UInt8(truncatingIfNeeded: $0 &* 37 &+ 11) }
        let outcome = try RawClient.run(port: fixture.port, [
            .send("CONNECT garbage.example:443 HTTP/1.1\r\n\r\n"), .readHead, .sendBytes(garbage), .readToClose(timeout: 10)])
        #expect(outcome.closedByPeer, "\(outcome)")
        let failed = try fixture.waitForEvent { $0.type == .tlsFailed && $0.host == "garbage.example" }
        #expect(failed.cause == .other || failed.cause == .closedDuringHandshake, "\(failed)")
        try recovered(fixture)
    }

    @Test func aTruncatedClientHelloThenSilenceTimesOut() throws {
        let fixture = try quickProxy(shortTimeouts: true)
        defer { Task { await fixture.proxy.stop() } }
        // A record header announcing 512 bytes, and 10 of them.
        let truncated: [UInt8] = [0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc, 0x03, 0x03, 0, 0, 0, 0]
        let outcome = try RawClient.run(port: fixture.port, [
            .send("CONNECT truncated.example:443 HTTP/1.1\r\n\r\n"), .readHead, .sendBytes(truncated), .readToClose(timeout: 20)])
        #expect(outcome.closedByPeer && outcome.seconds < 10, "\(outcome)")
        let failed = try fixture.waitForEvent { $0.type == .tlsFailed && $0.host == "truncated.example" }
        #expect(failed.cause == .timeout && failed.detail == "no complete handshake within 2 s", "\(failed)")
        try recovered(fixture)
    }

    @Test func aTLS10OnlyClientIsRefusedWithProtocolVersion() throws {
        let fixture = try quickProxy()
        defer { Task { await fixture.proxy.stop() } }
        let outcome = try RawClient.run(port: fixture.port, [
            .send("CONNECT old.example:443 HTTP/1.1\r\n\r\n"), .readHead,
            .tls(serverName: "old.example", caFile: fixture.rootFile, version: "TLSv1"), .readToClose(timeout: 10)])
        #expect(outcome.error?.contains("SSLError") == true, "\(outcome)")
        let failed = try fixture.waitForEvent { $0.type == .tlsFailed && $0.host == "old.example" }
        #expect(failed.cause == .protocolVersion || failed.cause == .other, "\(failed)")
        #expect(failed.detail?.contains("unsupported protocol") == true || failed.detail?.contains("version") == true, "\(failed)")
        try recovered(fixture)
    }

    @Test func anSNIWithInvalidCharactersGetsTheConnectHostsLeaf() throws {
        let fixture = try quickProxy()
        defer { Task { await fixture.proxy.stop() } }
        let result = try run("openssl", ["s_client", "-proxy", "127.0.0.1:\(fixture.port)", "-connect", "named.example:443",
                                          "-servername", "bad_name!.example", "-CAfile", fixture.rootFile, "-verify_return_error", "-brief", "-ign_eof"],
                             input: "GET / HTTP/1.1\r\nHost: named.example\r\nConnection: close\r\n\r\n")
        #expect(result.output.contains("Verification: OK"), "\(result)")
        #expect(result.output.contains("the TLS handshake for named.example succeeded"), "\(result)")
        let established = try fixture.waitForEvent { $0.type == .tlsEstablished && $0.host == "named.example" }
        #expect(established.sni == "bad_name!.example")
        try recovered(fixture)
    }

    /// RFC 6066 forbids an IP literal in SNI: it is ignored, so the leaf names the CONNECT host,
    /// the host the request then goes to (no leaf for one address and a request to another).
    @Test func anIPLiteralSNIIsIgnoredForTheConnectHost() throws {
        let fixture = try quickProxy()
        defer { Task { await fixture.proxy.stop() } }
        let result = try run("openssl", ["s_client", "-proxy", "127.0.0.1:\(fixture.port)", "-connect", "named.example:443",
                                          "-servername", "10.9.8.7", "-CAfile", fixture.rootFile, "-verify_hostname", "named.example",
                                          "-verify_return_error", "-brief", "-ign_eof"],
                             input: "GET / HTTP/1.1\r\nHost: named.example\r\nConnection: close\r\n\r\n")
        #expect(result.output.contains("Verification: OK") && result.output.contains("Verified peername: named.example"), "\(result)")
        let established = try fixture.waitForEvent { $0.type == .tlsEstablished && $0.host == "named.example" }
        #expect(established.sni == "10.9.8.7", "the flow log still shows what the client sent")
        try recovered(fixture)
    }

    @Test func anSNILongerThan255BytesFailsTheHandshakeCleanly() throws {
        let fixture = try quickProxy()
        defer { Task { await fixture.proxy.stop() } }
        let outcome = try RawClient.run(port: fixture.port, [
            .send("CONNECT long.example:443 HTTP/1.1\r\n\r\n"), .readHead, .clientHelloWithSNI(length: 300), .readToClose(timeout: 10)])
        // A fatal alert record: 0x15, TLS 1.2, length 2, level fatal.
        #expect(outcome.received.hasSuffix("\u{15}\u{03}\u{03}\u{00}\u{02}\u{02}\u{70}") && outcome.closedByPeer, "\(outcome)")
        let failed = try fixture.waitForEvent { $0.type == .tlsFailed && $0.host == "long.example" }
        #expect(failed.detail?.contains("bad extension") == true, "\(failed)")
        try recovered(fixture)
    }

    @Test func renegotiationIsRefused() throws {
        let fixture = try quickProxy()
        defer { Task { await fixture.proxy.stop() } }
        // s_client renegotiates when it reads a line "R" (TLS 1.2 only), then sends the request.
        let result = try run("sh", ["-c", """
            (sleep 0.5; printf 'R\\n'; sleep 0.5; printf 'GET / HTTP/1.1\\r\\nHost: reneg.example\\r\\nConnection: close\\r\\n\\r\\n'; sleep 1) \
            | openssl s_client -proxy 127.0.0.1:\(fixture.port) -connect reneg.example:443 -servername reneg.example \
              -CAfile \(fixture.rootFile) -tls1_2 -no_ign_eof 2>&1
            """])
        #expect(result.output.contains("RENEGOTIATING"), "\(result)")
        #expect(!result.output.contains("the TLS handshake for reneg.example succeeded") || result.output.contains("no renegotiation"), "\(result)")
        #expect(fixture.proxy.recordedEvents.filter { $0.type == .tlsEstablished }.count == 1)
        try recovered(fixture)
    }
}
