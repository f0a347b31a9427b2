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
        let proxy = try ProxySubprocess(["--offline"])
        defer { proxy.stop() }
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
        let proxy = try ProxySubprocess(["--offline"])
        defer { proxy.stop() }
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
        let proxy = try ProxySubprocess(["--offline"])
        defer { proxy.stop() }
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
        let proxy = try ProxySubprocess(["--map-remote", "origin.test:443=127.0.0.1:\(origin.port)", "--upstream-ca", origin.caFile])
        defer { proxy.stop() }
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
        let proxy = try ProxySubprocess(["--map-remote", "origin.test:443=127.0.0.1:\(origin.port)", "--upstream-ca", origin.caFile])
        defer { proxy.stop() }
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
        let proxy = try ProxySubprocess(["--map-remote", "origin.test:443=127.0.0.1:\(origin.port)", "--upstream-ca", origin.caFile])
        defer { proxy.stop() }
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
        let proxy = try ProxySubprocess(["--map-remote", "origin.test:443=127.0.0.1:\(origin.port)", "--upstream-ca", origin.caFile])
        defer { proxy.stop() }
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

/// The proxy binary, started as CI starts it, with its own flow log and CA directory.
final class ProxySubprocess: @unchecked Sendable {
    let scratch: TemporaryDirectory
    let port: Int
    let root: String
    private let process = Process()
    private let flows: String

    init(_ arguments: [String]) throws {
        scratch = try TemporaryDirectory()
        flows = scratch.path("flows.jsonl")
        let ready = scratch.path("ready.json")
        // One CA for every case: generating a root per proxy costs seconds in a debug build.
        let caDirectory = scratch.path("ca")
        try FileManager.default.copyItem(atPath: try Self.sharedCA(), toPath: caDirectory)
        process.executableURL = URL(fileURLWithPath: CLI.binary)
        process.arguments = ["run", "--port", "0", "--ready-file", ready, "--flows", flows, "--ca-dir", caDirectory] + arguments
        process.environment = cleanEnvironment()
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        let deadline = Date() + 30
        while !FileManager.default.fileExists(atPath: ready) && Date() < deadline && process.isRunning { usleep(20_000) }
        usleep(50_000)  // the ready file may be mid-write
        let info = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: ready))) as! [String: Any]
        port = info["port"] as! Int
        root = info["caCertificate"] as! String
    }

    /// Generated once per test run (it outlives the run in the temporary directory: statics are never released).
    private static let sharedCADirectory: Result<TemporaryDirectory, any Error> = Result {
        let scratch = try TemporaryDirectory()
        let result = try CLI.run(["ca", "init", "--ca-dir", scratch.path("ca")])
        guard result.status == 0 else { throw CAInitFailed(result: result) }
        return scratch
    }

    struct CAInitFailed: Error { let result: ProcessResult }

    static func sharedCA() throws -> String { try sharedCADirectory.get().path("ca") }

    func stop() {
        guard process.isRunning else { return }
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
    }

    var openFDs: Int { (try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(process.processIdentifier)/fd").count) ?? -1 }

    var residentKiB: Int {
        let status = (try? String(contentsOfFile: "/proc/\(process.processIdentifier)/status", encoding: .utf8)) ?? ""
        let line = status.split(separator: "\n").first { $0.hasPrefix("VmRSS:") } ?? ""
        return Int(line.split(separator: " ").dropFirst().first ?? "") ?? -1
    }

    func events() throws -> [[String: Any]] {
        let text = (try? String(contentsOfFile: flows, encoding: .utf8)) ?? ""
        return try text.split(separator: "\n").map { try JSONSerialization.jsonObject(with: Data($0.utf8)) as! [String: Any] }
    }

    @discardableResult
    func waitForEvent(timeout: TimeInterval = 10, _ predicate: ([String: Any]) -> Bool) throws -> [String: Any] {
        let deadline = Date() + timeout
        while Date() < deadline {
            if let event = try events().first(where: predicate) { return event }
            usleep(20_000)
        }
        throw TimedOut(command: "waiting for a flow event; recorded: \(try events().map { $0["type"] as? String ?? "?" })", seconds: timeout)
    }

    /// curl through the proxy: a plain request answered offline, or an https URL through a tunnel.
    func assertStillServes(url: String = "http://after.example/", sourceLocation: SourceLocation = #_sourceLocation) throws {
        let result = try run("curl", ["-sS", "--max-time", "20", "--http1.1", "-x", "http://127.0.0.1:\(port)", "--cacert", root, url])
        let host = URL(string: url)!.host!, path = URL(string: url)!.path
        #expect(result.status == 0 && (result.stdout.contains(host) || result.stdout.contains(path)), "\(result)", sourceLocation: sourceLocation)
    }

    /// One exchange first, so that what the proxy opens lazily counts in the baseline.
    func warmUp(url: String = "http://warm-up.example/") throws -> (fds: Int, rssKiB: Int) {
        try assertStillServes(url: url)
        usleep(200_000)
        return (openFDs, residentKiB)
    }

    /// Every connection the case opened is closed again: the fd count returns to the baseline
    /// within a few seconds, and the resident size has not run away (bounded, not exact: freed
    /// memory stays with the allocator; measured growth is under 2 MiB, the 1 MiB upload included).
    func assertBackToBaseline(_ baseline: (fds: Int, rssKiB: Int), sourceLocation: SourceLocation = #_sourceLocation) throws {
        #expect(baseline.fds > 0 && baseline.rssKiB > 0, "no /proc entry for the proxy", sourceLocation: sourceLocation)
        let deadline = Date() + 5
        while openFDs > baseline.fds && Date() < deadline { usleep(50_000) }
        #expect(openFDs <= baseline.fds, "fds \(openFDs), baseline \(baseline.fds)", sourceLocation: sourceLocation)
        #expect(residentKiB - baseline.rssKiB < 16 * 1024, "RSS \(residentKiB) KiB, baseline \(baseline.rssKiB) KiB", sourceLocation: sourceLocation)
    }
}

extension RawClient {
    /// Sends `payload` (and a half-close if asked) and returns all the proxy answered before
    /// closing; `<<TIMEOUT>>` or `<<RESET>>` at the end when it did not close cleanly.
    static func exchange(port: Int, payload: [UInt8], halfClose: Bool = false) throws -> String {
        let outcome = try run(port: port, [.sendBytes(payload)] + (halfClose ? [.shutdownWrite] : []) + [.readToClose(timeout: 30)])
        return outcome.received + marker(outcome)
    }

    /// CONNECT to origin.test, TLS with the proxy's root, one well-formed request and its answer
    /// (unless `first` is empty), then `then` (and, a second later, a half-close if asked); returns
    /// everything read after the CONNECT's answer until the proxy closed.
    static func throughTunnel(port: Int, root: String, first: String, then payload: [UInt8], halfClose: Bool = false) throws -> String {
        var steps: [Step] = [.send("CONNECT origin.test:443 HTTP/1.1\r\nHost: origin.test:443\r\n\r\n"), .readHead,
                             .tls(serverName: "origin.test", caFile: root, alpn: ["http/1.1"])]
        if !first.isEmpty { steps += [.send(first), .readUntil("origin saw")] }
        steps.append(.sendBytes(payload))
        if halfClose { steps += [.sleep(1), .shutdownWrite] }  // the head and the first chunk reach the origin first
        let outcome = try run(port: port, steps + [.readToClose(timeout: 10)])
        guard let connected = outcome.received.range(of: "\r\n\r\n") else { return outcome.received + marker(outcome) }
        return String(outcome.received[connected.upperBound...]) + marker(outcome)
    }

    private static func marker(_ outcome: Outcome) -> String {
        guard let error = outcome.error else { return "" }
        if error.hasPrefix("TimeoutError") || error.contains("timed out") { return "<<TIMEOUT>>" }
        return error.hasPrefix("ConnectionResetError") ? "<<RESET>>" : "<<\(error)>>"
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
