@testable import InterceptProxy
import Testing

/// The byte-level readers behind both HTTP/1.1 decoders (token bit masks, Content-Length digits,
/// list tokens, status lines, head serialization), checked against their definitions directly:
/// they replaced string and array based code, and must read exactly what it read.
@Suite struct HTTPWireBytesTests {
    /// tchar as RFC 9110 5.6.2 lists it, written out independently of the bit masks.
    @Test func tokenBytesAreExactlyTheTcharsOfRFC9110() {
        let tchar = Set("!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ".utf8)
        for value in 0...255 {
            let byte = UInt8(value)
            #expect(HTTPWire.isTokenByte(byte) == tchar.contains(byte), "byte 0x\(String(value, radix: 16))")
        }
    }

    private func contentLength(_ values: [String]) throws -> Int? {
        try HTTPWire.contentLength(of: HTTPResponseHead(version: "HTTP/1.1", status: 200, reason: "OK",
                                                       headers: values.map { (name: "content-length", value: $0) }), source: "test")
    }

    @Test(arguments: [
        (["5"], 5), ([" 5\t"], 5), (["5 , 5"], 5), (["5", "5,5"], 5), (["0"], 0), (["000"], 0),
        (["999999999999999999"], 999_999_999_999_999_999),
    ])
    func contentLengthsThatAgreeAreRead(values: [String], length: Int) throws {
        #expect(try contentLength(values) == length)
    }

    @Test(arguments: [["5", "05"], ["0", "000"], ["1 2"], ["5,"], [",5"], ["5,,5"], [" "], ["1000000000000000000"], ["٣"], ["5", ""]])
    func contentLengthsThatDisagreeOrAreNotDigitsAreRefused(values: [String]) {
        #expect(throws: HTTPParseError.self) { try contentLength(values) }
    }

    @Test func noContentLengthIsNil() throws {
        #expect(try contentLength([]) == nil)
    }

    @Test func listTokensAreWholeElements() {
        #expect(HTTPWire.listContains("keep-alive ,\tUpgrade", token: "upgrade"))
        #expect(HTTPWire.listContains("Close", token: "close"))
        #expect(HTTPWire.listContains(", ,close,", token: "close"))
        #expect(!HTTPWire.listContains("closed, enclose", token: "close"))
        #expect(!HTTPWire.listContains("", token: "close"))
        #expect(!HTTPWire.listContains("clo se", token: "close"))
    }

    @Test func statusLinesKeepTheirReasonAsSent() throws {
        let plain = try HTTPResponseDecoder.parseHead(ArraySlice("HTTP/1.0 404 Not  Found".utf8))
        #expect(plain.version == "HTTP/1.0" && plain.status == 404 && plain.reason == "Not  Found")
        let bare = try HTTPResponseDecoder.parseHead(ArraySlice("HTTP/1.1 999".utf8))
        #expect(bare.status == 999 && bare.reason.isEmpty)
        let emptyReason = try HTTPResponseDecoder.parseHead(ArraySlice("HTTP/1.1 200 \r\nA: b".utf8))
        #expect(emptyReason.reason.isEmpty && emptyReason.headers.map(\.name) == ["A"])
    }

    @Test(arguments: ["HTTP/1.1 099 X", "HTTP/1.1 +99 X", "HTTP/1.1 2000 X", "HTTP/1.1  200 X", "HTTP/1.1", "HTTP/1.1 20a X", "http/1.1 200 OK", "HTTP/1.1 200 O\u{7F}K"])
    func malformedStatusLinesAreRefused(line: String) {
        #expect(throws: HTTPParseError.malformed("upstream sent a malformed status line '\(HTTPWire.escaped(Array(line.utf8)))'")) {
            try HTTPResponseDecoder.parseHead(ArraySlice(line.utf8))
        }
    }

    @Test func aSerializedHeadIsTheHeadAsReceivedWithTheDroppedFieldsLeftOut() throws {
        let wire = "GET http://a.example/x HTTP/1.1\r\nHost: a.example\r\nPROXY-Connection: keep-alive\r\nX-Cafe: v\u{E9} 1\r\nproxy-authorization: Basic eA==\r\n"
        let head = try HTTPRequestDecoder.parseHead(ArraySlice(wire.utf8).dropLast(2))
        #expect(String(decoding: head.serialized(), as: UTF8.self) == wire + "\r\n")
        #expect(String(decoding: head.serialized(target: "/x", droppingHeaders: ["proxy-connection", "proxy-authorization"]), as: UTF8.self)
                == "GET /x HTTP/1.1\r\nHost: a.example\r\nX-Cafe: v\u{E9} 1\r\n\r\n")
    }
}
