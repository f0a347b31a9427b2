@testable import InterceptProxy
import Testing

@Suite struct HTTPRequestDecoderTests {
    private func feed(_ chunks: [String]) throws -> [HTTPRequestDecoder.Event] {
        var decoder = HTTPRequestDecoder()
        return try chunks.flatMap { try decoder.feed(Array($0.utf8)) }
    }

    private func body(_ events: [HTTPRequestDecoder.Event]) -> String {
        String(decoding: events.flatMap { if case let .body(bytes) = $0 { return bytes } else { return [] } }, as: UTF8.self)
    }

    private func heads(_ events: [HTTPRequestDecoder.Event]) -> [HTTPRequestHead] {
        events.compactMap { if case let .head(head) = $0 { return head } else { return nil } }
    }

    @Test func pipelinedRequestsSplitAnywhere() throws {
        let wire = "GET /a HTTP/1.1\r\nHost: x\r\n\r\nPOST /b HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhelloHEAD /c HTTP/1.0\r\n\r\n"
        for split in [1, 7, 20, 41, wire.count - 1] {
            let events = try feed([String(wire.prefix(split)), String(wire.dropFirst(split))])
            #expect(heads(events).map(\.target) == ["/a", "/b", "/c"], "split at \(split)")
            #expect(events.filter { $0 == .end }.count == 3)
            #expect(body(events) == "hello")
        }
    }

    @Test func byteAtATimeMatchesOneRead() throws {
        let wire = "\r\nPOST /b HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5;x=\"y\"\r\nhello\r\n1 ;e\r\n!\r\n0\r\nX-T: 1\r\n\r\nGET /c HTTP/1.1\r\n\r\n"
        var decoder = HTTPRequestDecoder()
        var events: [HTTPRequestDecoder.Event] = []
        for byte in wire.utf8 { events += try decoder.feed([byte]) }
        #expect(heads(events).map(\.target) == ["/b", "/c"])
        #expect(body(events) == "hello!")
        #expect(events.filter { $0 == .end }.count == 2)
        #expect(decoder.isIdle && decoder.truncation == nil)
    }

    @Test func chunkedBodiesWithExtensionsAndTrailers() throws {
        let events = try feed(["POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5;ext=1\r\nhello\r\n6\r\n", " world\r\n0\r\nX-Trailer: 1\r\n\r\n"])
        #expect(body(events) == "hello world")
        #expect(events.last == .end)
    }

    @Test func connectLeavesTheTunnelBytesUntouched() throws {
        var decoder = HTTPRequestDecoder()
        let events = try decoder.feed(Array("CONNECT a.example:443 HTTP/1.1\r\nHost: a.example:443\r\n\r\n\u{16}\u{03}\u{01}GET / HTTP/1.1\r\n\r\n".utf8))
        #expect(events.count == 2)
        #expect(decoder.takeBuffered() == Array("\u{16}\u{03}\u{01}GET / HTTP/1.1\r\n\r\n".utf8))
    }

    @Test func headerSemantics() throws {
        let head = try HTTPRequestDecoder.parseHead(ArraySlice("GET / HTTP/1.0\r\nconnection: Keep-Alive, Upgrade\r\nX-A:  b ".utf8))
        #expect(head.keepAlive)
        #expect(head.header("x-a") == "b")
        #expect(head.headerContains("Connection", token: "upgrade"))
        let close = try HTTPRequestDecoder.parseHead(ArraySlice("GET / HTTP/1.1\r\nConnection: close".utf8))
        #expect(!close.keepAlive)
    }

    /// Valid if unusual: what the strict rules must still let through.
    @Test(arguments: [
        ("purge /x HTTP/1.1\r\nHost: x\r\n\r\n", "", "a lower-case method is a token (methods are case-sensitive, kept as sent)"),
        ("POST / HTTP/1.1\r\nContent-Length: 5, 5\r\n\r\nhello", "hello", "an identical repeated Content-Length counts once"),
        ("POST / HTTP/1.1\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\nhello", "hello", "two identical Content-Length fields count once"),
        ("POST / HTTP/1.1\r\nTransfer-Encoding: Chunked\r\n\r\n2\r\nhi\r\n0\r\n\r\n", "hi", "codings compare case-insensitively"),
        ("POST / HTTP/1.1\r\nTransfer-Encoding: , chunked\r\n\r\n2\r\nhi\r\n0\r\n\r\n", "hi", "empty list elements are ignored"),
        ("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n00002 ;a=\"b c\"\r\nhi\r\n0\r\n\r\n", "hi", "leading zeros, BWS and a quoted extension"),
        ("GET / HTTP/1.1\r\nX-A: caf\u{E9}\t!\r\n\r\n", "", "obs-text and HTAB in a value"),
        ("\r\n\r\nGET / HTTP/1.1\r\n\r\n", "", "empty lines before a request line are ignored"),
    ])
    func unusualButValidRequestsAreAccepted(wire: String, expectedBody: String, why: String) throws {
        let events = try feed([wire])
        #expect(heads(events).count == 1, "\(why)")
        #expect(body(events) == expectedBody, "\(why)")
        #expect(events.last == .end, "\(why)")
    }

    @Test func methodAndTargetAreKeptAsSent() throws {
        let head = try #require(heads(try feed(["purge http://a.example/%7Ex?q=1 HTTP/1.1\r\n\r\n"])).first)
        #expect(head.method == "purge" && head.target == "http://a.example/%7Ex?q=1")
    }

    static let rejected: [(String, Int, String)] = [
        // Request line.
        ("G\u{C9}T / HTTP/1.1\r\n\r\n", 400, "the method is not a token"),
        ("GE(T / HTTP/1.1\r\n\r\n", 400, "the method is not a token"),
        ("GET  / HTTP/1.1\r\n\r\n", 400, "malformed request line"),
        ("GET / HTTP/1.1 \r\n\r\n", 400, "malformed request line 'GET / HTTP/1.1 '"),
        ("\u{01}\u{02}hello\r\n\r\n", 400, "malformed request line"),
        ("GET /a\rb HTTP/1.1\r\n\r\n", 400, "the request target must be visible ASCII"),
        ("GET /caf\u{E9} HTTP/1.1\r\n\r\n", 400, "the request target must be visible ASCII"),
        ("GET /a\u{0}b HTTP/1.1\r\n\r\n", 400, "the request target must be visible ASCII"),
        ("GET /a\nb HTTP/1.1\r\n\r\n", 400, "request head with a line ending in a bare LF"),
        ("GET / HTTP/1.1\n\n", 400, "request head with a line ending in a bare LF"),
        ("GET / http/1.1\r\n\r\n", 400, "no valid HTTP version"),
        ("GET / HTTP/1.10\r\n\r\n", 400, "no valid HTTP version"),
        ("GET /\r\n", 400, "HTTP/0.9 requests (no HTTP version) are not supported"),
        ("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", 505, "HTTP/2 with prior knowledge is not supported; h2 works inside a CONNECT tunnel, negotiated by TLS ALPN"),
        ("PRI * HTTP/2.0\r\n", 505, "the HTTP/2 connection preface"),
        ("GET / HTTP/2.0\r\n\r\n", 505, "unsupported protocol version 'HTTP/2.0'"),
        ("GET / HTTP/1.2\r\n\r\n", 505, "unsupported protocol version 'HTTP/1.2'"),
        // Field lines.
        ("GET / HTTP/1.1\r\nNo colon here\r\n\r\n", 400, "malformed header line 'No colon here'"),
        ("GET / HTTP/1.1\r\nX-A : b\r\n\r\n", 400, "malformed header line 'X-A : b'"),
        ("GET / HTTP/1.1\r\n: b\r\n\r\n", 400, "malformed header line"),
        ("GET / HTTP/1.1\r\nX@A: b\r\n\r\n", 400, "the field name is not a token"),
        ("GET / HTTP/1.1\r\nX-\u{E9}: b\r\n\r\n", 400, "the field name is not a token"),
        ("GET / HTTP/1.1\r\nX-A: a\r\n b\r\n\r\n", 400, "obsolete line folding"),
        ("GET / HTTP/1.1\r\nX-A: a\r\n\tb\r\n\r\n", 400, "obsolete line folding"),
        ("GET / HTTP/1.1\r\nX-A: a\u{0}b\r\n\r\n", 400, "malformed header line 'X-A: a\\0b': the field value contains a control character"),
        ("GET / HTTP/1.1\r\nX-A: a\rb\r\n\r\n", 400, "malformed header line 'X-A: a\\rb': the field value contains a control character"),
        ("GET / HTTP/1.1\r\nX-A: a\u{7F}\r\n\r\n", 400, "the field value contains a control character"),
        ("GET / HTTP/1.1\r\nX-A: a\u{1B}[31m\r\n\r\n", 400, "the field value contains a control character"),
        ("POST / HTTP/1.1\r\nX-A: a\nContent-Length: 48\r\n\r\n", 400, "request head with a line ending in a bare LF"),
        ("GET / HTTP/1.1\r\nHost: a.example\r\nhost: b.example\r\n\r\n", 400, "more than one Host field"),
        // Framing.
        ("GET / HTTP/1.1\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n", 400, "both Transfer-Encoding and Content-Length"),
        ("GET / HTTP/1.1\r\nTransfer-Encoding: chunked\r\nContent-Length: 0\r\n\r\n", 400, "both Transfer-Encoding and Content-Length"),
        ("GET / HTTP/1.1\r\nContent-Length: 3x\r\n\r\n", 400, "invalid Content-Length '3x'"),
        ("GET / HTTP/1.1\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\n", 400, "invalid Content-Length '3, 4'"),
        ("GET / HTTP/1.1\r\nContent-Length: 3, 4\r\n\r\n", 400, "invalid Content-Length"),
        ("GET / HTTP/1.1\r\nContent-Length: 5,\r\n\r\n", 400, "invalid Content-Length"),
        ("GET / HTTP/1.1\r\nContent-Length: -1\r\n\r\n", 400, "invalid Content-Length '-1'"),
        ("GET / HTTP/1.1\r\nContent-Length: +5\r\n\r\n", 400, "invalid Content-Length"),
        ("GET / HTTP/1.1\r\nContent-Length:\r\n\r\n", 400, "invalid Content-Length"),
        ("GET / HTTP/1.1\r\nContent-Length: 0x10\r\n\r\n", 400, "invalid Content-Length"),
        ("GET / HTTP/1.1\r\nContent-Length: 99999999999999999999\r\n\r\n", 400, "invalid Content-Length '99999999999999999999'"),
        ("GET / HTTP/1.1\r\nContent-Length: 9223372036854775808\r\n\r\n", 400, "invalid Content-Length"),
        ("GET / HTTP/1.1\r\nTransfer-Encoding: chunked, identity\r\n\r\n", 400, "chunked must be the final transfer coding, applied once"),
        ("GET / HTTP/1.1\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: identity\r\n\r\n", 400, "Transfer-Encoding 'chunked, identity': chunked must be the final"),
        ("GET / HTTP/1.1\r\nTransfer-Encoding: chunked, chunked\r\n\r\n", 400, "chunked must be the final transfer coding, applied once"),
        ("GET / HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n", 400, "chunked must be the final transfer coding"),
        ("GET / HTTP/1.1\r\nTransfer-Encoding: ,\r\n\r\n", 400, "chunked must be the final transfer coding"),
        ("GET / HTTP/1.1\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", 501, "unsupported Transfer-Encoding 'gzip, chunked': the proxy implements only chunked"),
        ("GET / HTTP/1.1\r\nTransfer-Encoding: x-custom\r\nTransfer-Encoding: chunked\r\n\r\n", 501, "unsupported Transfer-Encoding"),
        ("GET / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n", 400, "Transfer-Encoding in an HTTP/1.0 request"),
        // Chunks.
        ("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", 400, "invalid chunk size line 'zz'"),
        ("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n 5\r\nhello\r\n", 400, "invalid chunk size line"),
        ("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5 x\r\nhello\r\n", 400, "invalid chunk size line"),
        ("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n-5\r\nhello\r\n", 400, "invalid chunk size line"),
        ("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5;a\rb\r\nhello\r\n", 400, "invalid chunk size line '5;a\\rb'"),
        ("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5;a\u{0}\r\nhello\r\n", 400, "invalid chunk size line"),
        ("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n1000000000000000\r\n", 400, "more than 15 hex digits"),
        ("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nffffffffffffffffffff\r\n", 400, "more than 15 hex digits"),
        ("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5\nhello\r\n", 400, "chunk size line ending in a bare LF"),
        ("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\n0\r\n\r\n", 400, "chunk data not followed by CRLF"),
        ("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhelloXX", 400, "chunk data not followed by CRLF"),
        ("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5;" + String(repeating: "e", count: 5000), 400, "chunk size line longer than 4096 bytes"),
        ("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\n", 400, "trailer line ending in a bare LF"),
        // Trailers.
        ("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nX-T a\r\n\r\n", 400, "malformed trailer line 'X-T a'"),
        ("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nX-T: a\u{0}\r\n\r\n", 400, "the field value contains a control character"),
        ("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n X-T: a\r\n\r\n", 400, "obsolete line folding"),
        ("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n" + String(repeating: "X-T: " + String(repeating: "t", count: 1000) + "\r\n", count: 17), 431,
         "request trailer section larger than 16 KiB"),
        ("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n" + String(repeating: "X-T: 1\r\n", count: 101) + "\r\n", 431, "or with more than 100 fields"),
        ("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nX-T: " + String(repeating: "t", count: 17 * 1024), 431, "request trailer section larger than 16 KiB"),
        // Size and count bounds.
        ("GET / HTTP/1.1\r\n" + String(repeating: "A: b\r\n", count: 101) + "\r\n", 431, "request head with more than 100 header fields"),
        ("GET / HTTP/1.1\r\n" + String(repeating: "A: b\r\n", count: 10_000) + "\r\n", 431, "request head with more than 100 header fields"),
        ("GET / HTTP/1.1\r\nX-Big: " + String(repeating: "a", count: 70 * 1024), 431, "request head larger than 64 KiB"),
        ("GET / HTTP/1.1\r\nX-Big: " + String(repeating: "a", count: 65 * 1024) + "\r\n\r\n", 431, "request head larger than 64 KiB"),
    ]

    @Test(arguments: rejected)
    func malformedRequestsAreRejected(wire: String, status: Int, reason: String) {
        do {
            let events = try feed([wire])
            Issue.record("accepted \(wire.prefix(200).debugDescription): \(events.count) events")
        } catch let error as HTTPParseError {
            #expect(error.status == status, "\(error.reason)")
            #expect(error.reason.contains(reason), "\(error.reason)")
        } catch {
            Issue.record("unexpected \(error)")
        }
    }

    /// The same bytes a byte at a time: refused as soon as the evidence is in, never accepted.
    @Test(arguments: rejected.filter { $0.0.utf8.count < 2000 })
    func malformedRequestsAreRejectedByteAtATime(wire: String, status: Int, reason: String) {
        var decoder = HTTPRequestDecoder()
        do {
            for byte in wire.utf8 { _ = try decoder.feed([byte]) }
            Issue.record("accepted \(wire.debugDescription)")
        } catch let error as HTTPParseError {
            #expect(error.status == status && error.reason.contains(reason), "\(error.reason)")
        } catch {
            Issue.record("unexpected \(error)")
        }
    }

    @Test func exactlyTheFieldLimitIsAccepted() throws {
        let events = try feed(["GET / HTTP/1.1\r\n" + String(repeating: "A: b\r\n", count: HTTPRequestDecoder.maximumFieldCount) + "\r\n"])
        #expect(heads(events).first?.headers.count == 100)
    }

    /// Ten thousand tiny fields are refused at the 101st, not after buffering all of them.
    @Test func tooManyFieldsFailFast() throws {
        var decoder = HTTPRequestDecoder()
        _ = try decoder.feed(Array("GET / HTTP/1.1\r\n".utf8))
        var sent = 0
        #expect(throws: HTTPParseError.tooManyFields) {
            while sent < 10_000 {
                sent += 1
                _ = try decoder.feed(Array("A: b\r\n".utf8))
            }
        }
        #expect(sent == 101)
    }

    @Test func theRequestLineIsCheckedBeforeTheHeadEnds() {
        var decoder = HTTPRequestDecoder()
        #expect(throws: HTTPParseError.self) { _ = try decoder.feed(Array("G\u{C9}T / HTTP/1.1\r\nHost: x".utf8)) }
    }

    @Test func statusesOfEachError() {
        #expect(HTTPParseError.headTooLarge.status == 431)
        #expect(HTTPParseError.tooManyFields.status == 431)
        #expect(HTTPParseError.trailersTooLarge.status == 431)
        #expect(HTTPParseError.malformed("x").status == 400)
        #expect(HTTPParseError.notImplemented("x").status == 501)
        #expect(HTTPParseError.versionNotSupported("x").status == 505)
        #expect(HTTPResponse(status: 505).serialized().starts(with: Array("HTTP/1.1 505 HTTP Version Not Supported\r\n".utf8)))
    }

    @Test func truncationSaysWhatWasCutShort() throws {
        func truncation(_ wire: String) throws -> String? {
            var decoder = HTTPRequestDecoder()
            _ = try decoder.feed(Array(wire.utf8))
            return decoder.truncation
        }
        #expect(try truncation("GET / HTTP/1.1\r\n\r\n") == nil)
        #expect(try truncation("GET / HTTP/1.1\r\nHost") == "the client closed the connection in the middle of a request head")
        #expect(try truncation("POST / HTTP/1.1\r\nContent-Length: 10\r\n\r\nabc")
            == "the client closed the connection in the middle of a request body (7 bytes short of its Content-Length)")
        #expect(try truncation("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n")
            == "the client closed the connection in the middle of a chunked request body (before its last chunk)")
        #expect(try truncation("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nX-T: 1\r\n")
            == "the client closed the connection in the middle of the trailer section of a chunked request body")
    }

    /// 1 MiB of 1-byte chunks in 64 KiB reads: all of it arrives, coalesced into one body event per
    /// read (the parse was quadratic; a micro-benchmark is in the commit history, not a timing here).
    @Test func oneByteChunksOfAMebibyte() throws {
        var wire = Array("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n".utf8)
        wire.reserveCapacity(6 << 20 + 100)
        for _ in 0..<(1 << 20) { wire += [0x31, 13, 10, 0x61, 13, 10] }
        wire += Array("0\r\n\r\n".utf8)
        var decoder = HTTPRequestDecoder()
        var bodyBytes = 0, bodyEvents = 0, ends = 0
        var index = 0
        while index < wire.count {
            let read = Array(wire[index..<min(index + 65536, wire.count)])
            index += read.count
            for event in try decoder.feed(read) {
                switch event {
                case let .body(bytes): bodyBytes += bytes.count; bodyEvents += 1
                case .end: ends += 1
                case .head: break
                }
            }
            #expect(decoder.bufferedCount < 6)  // at most a partial chunk is held
        }
        #expect(bodyBytes == 1 << 20 && ends == 1)
        #expect(bodyEvents <= wire.count / 65536 + 1)
    }
}

@Suite struct ByteQueueTests {
    @Test func linesAreFoundOnceAcrossAppendsAndCompaction() {
        var queue = ByteQueue()
        queue.append(Array("ab\ncd".utf8))
        var found = queue.nextLineFeed()
        #expect(found == 2)
        found = queue.nextLineFeed()
        #expect(found == nil)
        queue.append(Array("e\n".utf8))
        found = queue.nextLineFeed()
        #expect(found == 6)
        queue.consume(3)
        #expect(queue.count == 4 && queue[0] == UInt8(ascii: "c"))
        // Enough consumed to compact: offsets stay right afterwards.
        queue.append(Array(repeating: UInt8(ascii: "x"), count: 9000) + [10])
        queue.consume(5000)
        found = queue.nextLineFeed()
        #expect(found == 4004)
        let two = queue.take(2)
        #expect(two == [UInt8(ascii: "x"), UInt8(ascii: "x")])
        #expect(queue.count == 4003)
        let rest = queue.takeAll()
        #expect(rest.count == 4003 && rest.last == 10)
        #expect(queue.isEmpty)
        found = queue.nextLineFeed()
        #expect(found == nil)
    }
}

@Suite struct HTTPResponseDecoderTests {
    private func decode(_ wire: String, methods: [String] = ["GET"]) throws -> [HTTPResponseDecoder.Event] {
        var decoder = HTTPResponseDecoder()
        methods.forEach { decoder.expectResponse(toMethod: $0) }
        return try decoder.feed(Array(wire.utf8))
    }

    private func raw(_ events: [HTTPResponseDecoder.Event]) -> [UInt8] {
        events.flatMap { event -> [UInt8] in
            switch event {
            case let .head(_, raw), let .body(raw), let .framing(raw), let .trailer(_, _, raw): return raw
            case .end: return []
            }
        }
    }

    /// Relayed verbatim: the raw bytes of the events are the bytes received, however split.
    @Test func responsesRelayVerbatimSplitAnywhere() throws {
        let wire = "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
            + String(repeating: "1\r\na\r\n", count: 50) + "5;x=y\r\nhello\r\n0\r\ngrpc-status: 0\r\n\r\n"
            + "HTTP/1.1 204 No Content\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 5, 5\r\n\r\nworld"
        let bytes = Array(wire.utf8)
        for piece in [1, 7, bytes.count] {
            var decoder = HTTPResponseDecoder()
            (0..<3).forEach { _ in decoder.expectResponse(toMethod: "GET") }
            var events: [HTTPResponseDecoder.Event] = []
            var index = 0
            while index < bytes.count {
                events += try decoder.feed(Array(bytes[index..<min(index + piece, bytes.count)]))
                index += piece
            }
            #expect(raw(events) == bytes, "piece \(piece)")
            #expect(events.filter { if case .end = $0 { return true } else { return false } }.count == 3)
            #expect(events.contains { if case .trailer("grpc-status", "0", _) = $0 { return true } else { return false } })
            #expect(events.reduce(0) { if case let .body(payload) = $1 { return $0 + payload.count } else { return $0 } } == 50 + 5 + 5)
        }
    }

    @Test func chunkedNotLastReadsUntilClose() throws {
        var decoder = HTTPResponseDecoder()
        decoder.expectResponse(toMethod: "GET")
        _ = try decoder.feed(Array("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, gzip\r\n\r\nabc".utf8))
        #expect(decoder.readsUntilClose)
        #expect(try decoder.finish().count == 1)
    }

    @Test(arguments: [
        ("HTTP/1.1 200 OK\r\nX-A: a\nContent-Length: 0\r\n\r\n", "upstream sent a head line ending in a bare LF"),
        ("HTTP/1.1 200 OK\r\nX-A: a\rb\r\nContent-Length: 0\r\n\r\n", "the field value contains a control character"),
        ("HTTP/1.1 200 OK\r\nX-A: a\u{0}b\r\nContent-Length: 0\r\n\r\n", "the field value contains a control character"),
        ("HTTP/1.1 200 OK\r\nX-A: a\r\n b\r\nContent-Length: 0\r\n\r\n", "obsolete line folding"),
        ("HTTP/1.1 200 OK\r\nX A: a\r\nContent-Length: 0\r\n\r\n", "upstream sent a malformed header line"),
        ("HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n", "upstream sent both Transfer-Encoding and Content-Length"),
        ("HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n", "upstream sent an invalid Content-Length '5, 6'"),
        ("HTTP/1.1 200 OK\r\nContent-Length: 99999999999999999999\r\n\r\n", "upstream sent an invalid Content-Length"),
        ("HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n", "upstream sent an invalid Content-Length"),
        ("HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", "Transfer-Encoding in an HTTP/1.0 response"),
        ("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, chunked\r\n\r\n", "with chunked twice"),
        ("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1000000000000000\r\n", "more than 15 hex digits"),
        ("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", "upstream sent an invalid chunk size line 'zz'"),
        ("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\nhello\r\n", "chunk size line ending in a bare LF"),
        ("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhelloXX", "chunk data not followed by CRLF"),
        ("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nbad trailer\r\n\r\n", "upstream sent a malformed trailer line"),
        ("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n" + String(repeating: "X-T: 1\r\n", count: 101), "upstream sent a trailer section larger than 16 KiB"),
        ("HTTP/1.1 200 O\u{0}K\r\nContent-Length: 0\r\n\r\n", "upstream sent a malformed status line 'HTTP/1.1 200 O\\0K'"),
        ("HTTP/1.1 20 OK\r\n\r\n", "upstream sent a malformed status line"),
        ("HTTP/2.0 200 OK\r\n\r\n", "upstream sent a malformed status line"),
        ("HTTP/1.1 200 OK\r\n" + String(repeating: "A: b\r\n", count: 257) + "\r\n", "upstream sent more than 256 header fields"),
        ("HTTP/1.1 200 OK\r\nX-Big: " + String(repeating: "a", count: 70 * 1024), "upstream sent a response head larger than 64 KiB"),
    ])
    func smugglingShapedResponsesAreProtocolErrors(wire: String, reason: String) {
        do {
            _ = try decode(wire)
            Issue.record("accepted \(wire.prefix(200).debugDescription)")
        } catch let HTTPParseError.malformed(detail) {
            #expect(detail.contains(reason), "\(detail)")
        } catch {
            Issue.record("unexpected \(error)")
        }
    }
}
