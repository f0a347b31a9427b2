import CertForge
import Foundation
import Testing
import TestSupport

/// Hostile HTTP/1.1 from raw sockets against the built proxy, one subprocess per case so that its
/// open fds and RSS are its own (tests running beside it in this process do not blur them). Each
/// case asserts the exact status line, the flow event, that the proxy still serves afterwards, and
/// that the proxy's fd count is back to its baseline.
@Suite struct HostileHTTP1Tests {
    struct Case: Sendable, CustomTestStringConvertible {
        let name: String
        let payload: [UInt8]
        var statusLine: String
        var cause = "bad_request"
        var reason: String
        /// Send, then half-close (the client is done sending) before reading the answer.
        var halfClose = false
        var testDescription: String { name }

        init(_ name: String, _ payload: String, _ statusLine: String, cause: String = "bad_request", _ reason: String, halfClose: Bool = false) {
            self.name = name
            self.payload = Array(payload.utf8)
            self.statusLine = statusLine
            self.cause = cause
            self.reason = reason
            self.halfClose = halfClose
        }

        var status: Int { Int(statusLine.split(separator: " ")[1])! }
    }

    static let bad = "HTTP/1.1 400 Bad Request"
    static let tooLarge = "HTTP/1.1 431 Request Header Fields Too Large"
    static let chunked = "POST http://h.example/up HTTP/1.1\r\nHost: h.example\r\nTransfer-Encoding: chunked\r\n\r\n"

    static let cases: [Case] = [
        Case("invalid method token", "G\u{C9}T http://h.example/ HTTP/1.1\r\nHost: h.example\r\n\r\n", bad,
             "malformed request line 'G\\xC3\\x89T http://h.example/ HTTP/1.1': the method is not a token"),
        Case("header without colon", "GET http://h.example/ HTTP/1.1\r\nHost h.example\r\n\r\n", bad, "malformed header line 'Host h.example'"),
        Case("obs-fold", "GET http://h.example/ HTTP/1.1\r\nHost: h.example\r\nX-A: a\r\n b\r\n\r\n", bad,
             "malformed header line ' b': obsolete line folding (a line starting with a space or tab) is not accepted"),
        Case("NUL in a field value", "GET http://h.example/ HTTP/1.1\r\nHost: h.example\r\nX-A: a\u{0}b\r\n\r\n", bad,
             "malformed header line 'X-A: a\\0b': the field value contains a control character (a bare CR or LF, NUL, ...)"),
        Case("bare CR in a field value", "GET http://h.example/ HTTP/1.1\r\nHost: h.example\r\nX-A: a\rb\r\n\r\n", bad,
             "malformed header line 'X-A: a\\rb': the field value contains a control character (a bare CR or LF, NUL, ...)"),
        Case("bare LF in a field value (smuggling)",
             "POST http://h.example/ HTTP/1.1\r\nHost: h.example\r\nX-A: a\nContent-Length: 48\r\n\r\n" + smuggled, bad,
             "request head with a line ending in a bare LF (no CR before it)"),
        Case("bare LF in the request target", "GET http://h.example/a\nb HTTP/1.1\r\nHost: h.example\r\n\r\n", bad,
             "request head with a line ending in a bare LF (no CR before it)"),
        Case("head over 64 KiB", "GET http://h.example/ HTTP/1.1\r\nX-Big: " + String(repeating: "b", count: 65 * 1024) + "\r\n\r\n",
             tooLarge, cause: "head_too_large", "request head larger than 64 KiB"),
        Case("10,000 tiny headers", "GET http://h.example/ HTTP/1.1\r\n" + String(repeating: "A: b\r\n", count: 10_000) + "\r\n",
             tooLarge, cause: "head_too_large", "request head with more than 100 header fields"),
        Case("Content-Length with Transfer-Encoding",
             "POST http://h.example/ HTTP/1.1\r\nHost: h.example\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", bad,
             "both Transfer-Encoding and Content-Length"),
        Case("two different Content-Lengths",
             "POST http://h.example/ HTTP/1.1\r\nHost: h.example\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!", bad,
             "request with an invalid Content-Length '5, 6'"),
        Case("negative Content-Length", "POST http://h.example/ HTTP/1.1\r\nHost: h.example\r\nContent-Length: -1\r\n\r\n", bad,
             "request with an invalid Content-Length '-1'"),
        Case("overflowing Content-Length",
             "POST http://h.example/ HTTP/1.1\r\nHost: h.example\r\nContent-Length: 99999999999999999999\r\n\r\n", bad,
             "request with an invalid Content-Length '99999999999999999999'"),
        Case("chunk size overflow", chunked + "ffffffffffffffffff\r\nx\r\n", bad, "invalid chunk size line 'ffffffffffffffffff': more than 15 hex digits"),
        Case("Transfer-Encoding chunked not last",
             "POST http://h.example/ HTTP/1.1\r\nHost: h.example\r\nTransfer-Encoding: chunked, identity\r\n\r\n0\r\n\r\n", bad,
             "Transfer-Encoding 'chunked, identity': chunked must be the final transfer coding, applied once (RFC 9112 6.3)"),
        Case("unknown transfer coding",
             "POST http://h.example/ HTTP/1.1\r\nHost: h.example\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n",
             "HTTP/1.1 501 Not Implemented", cause: "not_implemented", "unsupported Transfer-Encoding 'gzip, chunked': the proxy implements only chunked"),
        Case("missing last chunk, then close", chunked + "5\r\nhello\r\n", bad,
             "the client closed the connection in the middle of a chunked request body (before its last chunk)", halfClose: true),
        Case("HTTP/0.9", "GET /\r\n", bad, "malformed request line 'GET /': HTTP/0.9 requests (no HTTP version) are not supported; send HTTP/1.1"),
        Case("h2 preface on the HTTP/1 port", "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", "HTTP/1.1 505 HTTP Version Not Supported",
             cause: "version_not_supported",
             "the HTTP/2 connection preface arrived on the proxy port: HTTP/2 with prior knowledge is not supported; h2 works inside a CONNECT tunnel, negotiated by TLS ALPN"),
        Case("oversized trailers", chunked + "5\r\nhello\r\n0\r\n" + String(repeating: "X-T: " + String(repeating: "t", count: 1000) + "\r\n", count: 17) + "\r\n",
             tooLarge, cause: "head_too_large", "request trailer section larger than 16 KiB or with more than 100 fields"),
    ]

    /// 48 bytes: what a server reading the bare LF as a line break would take as the next request.
    static let smuggled = "GET http://h.example/smuggled HTTP/1.1\r\nX: 1\r\n\r\n"

    @Test(arguments: cases)
    func hostileRequestIsRefused(_ hostile: Case) throws {
        #expect(Self.smuggled.utf8.count == 48)
        let proxy = try ProxyProcess(["--offline"], flows: .stdout)
        let baseline = try proxy.warmUp()

        let answer = try RawClient.exchange(port: proxy.port, payload: hostile.payload, halfClose: hostile.halfClose)
        #expect(answer.hasPrefix(hostile.statusLine + "\r\n"), "\(answer.prefix(300))")
        #expect(answer.hasSuffix("\r\n\r\nintercept-proxy: \(hostile.reason)\n"), "\(answer.prefix(600))")
        #expect(answer.contains("Connection: close"))
        let error = try proxy.waitForEvent { $0["type"] as? String == "error" }
        #expect(error["cause"] as? String == hostile.cause && error["status"] as? Int == hostile.status, "\(error)")
        #expect(error["detail"] as? String == hostile.reason, "\(error)")
        // Never answered, never forwarded as a whole request.
        #expect(try proxy.events().contains { $0["type"] as? String == "response" && ($0["url"] as? String)?.contains("h.example") == true } == false)

        try proxy.assertStillServes()
        try proxy.assertBackToBaseline(baseline)
    }

    @Test func thousandPipelinedRequestsAreAnsweredInOrder() throws {
        let proxy = try ProxyProcess(["--offline"], flows: .stdout)
        let baseline = try proxy.warmUp()
        let requests = (0..<1000).map { "GET http://p.example/\($0) HTTP/1.1\r\nHost: p.example\r\n" + ($0 == 999 ? "Connection: close\r\n" : "") + "\r\n" }
        let answer = try RawClient.exchange(port: proxy.port, payload: Array(requests.joined().utf8))
        #expect(answer.components(separatedBy: "HTTP/1.1 200 OK\r\n").count - 1 == 1000, "\(answer.suffix(300))")
        let order = answer.matches(of: /request: GET http:\/\/p\.example\/(\d+)/).map { Int($0.1)! }
        #expect(order == Array(0..<1000))
        try proxy.waitForEvent { $0["type"] as? String == "response" && $0["url"] as? String == "http://p.example/999" }
        let responses = try proxy.events().filter { $0["type"] as? String == "response" && ($0["url"] as? String)?.hasPrefix("http://p.example/") == true }
        #expect(responses.count == 1000 && responses.allSatisfy { $0["status"] as? Int == 200 })
        #expect(try proxy.events().contains { $0["type"] as? String == "error" } == false)
        try proxy.assertStillServes()
        try proxy.assertBackToBaseline(baseline)
    }

    /// 1 MiB of 1-byte chunks (6 MiB on the wire) completes within the client's normal timeout;
    /// the parse was quadratic before. Not a timing assertion.
    @Test func oneByteChunksOfAMebibyteComplete() throws {
        let proxy = try ProxyProcess(["--offline"], flows: .stdout)
        let baseline = try proxy.warmUp()
        var payload = Array("POST http://c.example/upload HTTP/1.1\r\nHost: c.example\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n".utf8)
        payload.reserveCapacity(6 << 20 + 200)
        for _ in 0..<(1 << 20) { payload += [0x31, 13, 10, 0x61, 13, 10] }
        payload += Array("0\r\n\r\n".utf8)
        let answer = try RawClient.exchange(port: proxy.port, payload: payload)
        #expect(answer.hasPrefix("HTTP/1.1 200 OK\r\n") && answer.contains("request: POST http://c.example/upload"), "\(answer.prefix(300))")
        let response = try proxy.waitForEvent { $0["type"] as? String == "response" && $0["url"] as? String == "http://c.example/upload" }
        #expect(response["requestBodyBytes"] as? Int == 1 << 20, "\(response)")
        try proxy.assertStillServes()
        try proxy.assertBackToBaseline(baseline)
    }
}
