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

    @Test func pipelinedRequestsSplitAnywhere() throws {
        let wire = "GET /a HTTP/1.1\r\nHost: x\r\n\r\nPOST /b HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhelloHEAD /c HTTP/1.0\r\n\r\n"
        for split in [1, 7, 20, 41, wire.count - 1] {
            let events = try feed([String(wire.prefix(split)), String(wire.dropFirst(split))])
            let heads = events.compactMap { if case let .head(head) = $0 { return head.target } else { return nil } }
            #expect(heads == ["/a", "/b", "/c"], "split at \(split)")
            #expect(events.filter { $0 == .end }.count == 3)
            #expect(body(events) == "hello")
        }
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

    @Test(arguments: [
        ("GET / HTTP/1.1\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n", "both Transfer-Encoding and Content-Length"),
        ("GET / HTTP/1.1\r\nContent-Length: 3x\r\n\r\n", "invalid Content-Length"),
        ("GET / HTTP/1.1\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\n", "invalid Content-Length"),
        ("GET / HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n", "unsupported Transfer-Encoding"),
        ("GET /\r\n\r\n", "malformed request line"),
        ("GET / HTTP/2.0\r\n\r\n", "unsupported protocol version"),
        ("GET / HTTP/1.1\r\nNo colon here\r\n\r\n", "malformed header line"),
        ("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", "invalid chunk size"),
    ])
    func malformedRequestsAreRejected(wire: String, reason: String) {
        do {
            _ = try feed([wire])
            Issue.record("accepted: \(wire.debugDescription)")
        } catch let error as HTTPParseError {
            #expect(error.status == 400)
            #expect(error.reason.contains(reason), "\(error.reason)")
        } catch {
            Issue.record("unexpected \(error)")
        }
    }

    @Test func oversizedHeadsAre431() {
        let huge = "GET / HTTP/1.1\r\nX-Big: " + String(repeating: "a", count: 70 * 1024)
        #expect(throws: HTTPParseError.headTooLarge) { _ = try feed([huge]) }
    }
}
