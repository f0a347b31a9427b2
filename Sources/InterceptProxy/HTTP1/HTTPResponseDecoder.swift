/// A status line plus headers from an upstream.
struct HTTPResponseHead: Equatable, HTTPHeaderFields {
    var version: String
    var status: Int
    var reason: String
    var headers: [(name: String, value: String)]

    static func == (lhs: HTTPResponseHead, rhs: HTTPResponseHead) -> Bool {
        lhs.status == rhs.status && lhs.version == rhs.version && lhs.reason == rhs.reason
            && lhs.headers.map(\.name) == rhs.headers.map(\.name) && lhs.headers.map(\.value) == rhs.headers.map(\.value)
    }

}

import FoundationEssentials

/// Finds response boundaries in an upstream byte stream so responses can be relayed verbatim:
/// every event carries the raw bytes to forward. Knows RFC 9112's framing: no body for HEAD,
/// 1xx, 204 and 304; chunked; Content-Length; or until the connection closes. As strict as the
/// request decoder where the client behind the proxy could frame the bytes differently (bare CR,
/// LF or NUL in fields, both framings, conflicting lengths, bad chunk sizes): such a response is a
/// protocol error, which the pipeline answers with a 502 instead of relaying it.
struct HTTPResponseDecoder {
    enum Event {
        /// A final or interim (1xx) head and its raw bytes.
        case head(HTTPResponseHead, raw: [UInt8])
        /// Payload bytes of the body, exactly as they appeared on the wire.
        case body([UInt8])
        /// Chunked framing around the payload (a chunk-size line, the CRLF after chunk data, the
        /// blank line ending the trailers): relayed verbatim to an HTTP/1.1 client, no payload.
        case framing([UInt8])
        /// A trailer field after a chunked body.
        case trailer(name: String, value: String, raw: [UInt8])
        /// The response is complete.
        case end
    }

    /// More than requests get: responses carry Set-Cookie, security headers and the like.
    static let maximumFieldCount = 256

    private enum State {
        case head
        case fixed(remaining: Int)
        case chunkSize
        case chunkData(remaining: Int)
        case chunkDataEnd
        case trailers(size: Int, fields: Int)
        case untilClose
        /// After `101 Switching Protocols`: what follows is the new protocol's, not parsed.
        case switched
    }

    private var state = State.head
    private var buffer = ByteQueue()
    private var headLines = HeadScanner()
    /// Methods of requests sent upstream whose responses have not started, oldest first.
    private var pendingMethods: [String] = []

    /// Registers a request sent upstream, so its response can be framed (HEAD has no body).
    mutating func expectResponse(toMethod method: String) {
        pendingMethods.append(method)
    }

    /// True when a response body runs until the upstream closes the connection.
    var readsUntilClose: Bool { if case .untilClose = state { return true } else { return false } }

    /// True after a 101 (or a 2xx to CONNECT): the rest is the new protocol's, for `takeBuffered()`.
    var hasSwitched: Bool { if case .switched = state { return true } else { return false } }

    /// After a 101: the bytes that came after its head (the new protocol's), handed over once.
    mutating func takeBuffered() -> [UInt8] { buffer.takeAll() }

    /// Whether a response is partly received.
    var isMidResponse: Bool {
        switch state {
        case .head: return !buffer.isEmpty
        case .switched: return false
        default: return true
        }
    }

    mutating func feed(_ bytes: [UInt8]) throws -> [Event] {
        buffer.append(bytes)
        var events: [Event] = []
        events.reserveCapacity(3)  // one allocation for the usual head, body and end
        while try next(into: &events) {}
        return events
    }

    /// The upstream closed: ends a close-delimited body, or reports a truncated response.
    mutating func finish() throws -> [Event] {
        switch state {
        case .untilClose:
            state = .head
            return [.end]
        case .head where buffer.isEmpty, .switched:
            return []
        default:
            throw HTTPParseError.malformed("upstream closed the connection in the middle of a response")
        }
    }

    /// Appends the events of one parsing step (possibly none); false when more bytes are needed.
    private mutating func next(into events: inout [Event]) throws -> Bool {
        switch state {
        case .head:
            let line = try headLines.next(in: &buffer, maximumSize: HTTPRequestDecoder.maximumHeadSize, maximumLines: Self.maximumFieldCount + 1,
                                          tooLarge: .malformed("upstream sent a response head larger than \(HTTPRequestDecoder.maximumHeadSize / 1024) KiB"),
                                          tooMany: .malformed("upstream sent more than \(Self.maximumFieldCount) header fields"),
                                          bareLF: "upstream sent a head line ending in a bare LF (no CR before it)")
            switch line {
            case nil:
                return false
            case .leadingBlankLine:
                buffer.consume(2)
            case .line:
                break
            case let .end(length, total):
                let head = try Self.parseHead(buffer[0..<length])
                try begin(head, raw: buffer.take(total), into: &events)
            }
        case let .fixed(remaining):
            guard !buffer.isEmpty else { return false }
            let take = min(remaining, buffer.count)
            events.append(.body(buffer.take(take)))
            if take == remaining {
                state = .head
                events.append(.end)
            } else {
                state = .fixed(remaining: remaining - take)
            }
        case .untilClose:
            guard !buffer.isEmpty else { return false }
            events.append(.body(buffer.takeAll()))
        case .switched:
            return false
        case .chunkSize:
            guard let end = try lineEnd(limit: HTTPRequestDecoder.maximumChunkLineSize, what: "chunk size line") else { return false }
            let size: Int
            do { size = try HTTPWire.chunkSize(buffer[0..<end]) } catch let HTTPParseError.malformed(detail) {
                throw HTTPParseError.malformed("upstream sent an \(detail)")
            }
            state = size == 0 ? .trailers(size: 0, fields: 0) : .chunkData(remaining: size)
            events.append(.framing(buffer.take(end + 2)))
        case let .chunkData(remaining):
            guard !buffer.isEmpty else { return false }
            let take = min(remaining, buffer.count)
            events.append(.body(buffer.take(take)))
            state = take == remaining ? .chunkDataEnd : .chunkData(remaining: remaining - take)
        case .chunkDataEnd:
            guard buffer.count >= 2 else { return false }
            guard buffer[0] == 13, buffer[1] == 10 else { throw HTTPParseError.malformed("upstream sent chunk data not followed by CRLF") }
            buffer.consume(2)
            state = .chunkSize
            events.append(.framing([13, 10]))
        case let .trailers(size, fields):
            guard let end = try lineEnd(limit: HTTPRequestDecoder.maximumTrailerSize - size, what: "trailer line") else { return false }
            if end == 0 {
                state = .head
                events.append(.framing(buffer.take(2)))
                events.append(.end)
                return true
            }
            guard fields < HTTPRequestDecoder.maximumFieldCount else { throw Self.trailersTooLarge }
            let field = try HTTPWire.headerField(buffer[0..<end], source: "upstream sent a malformed trailer line")
            state = .trailers(size: size + end + 2, fields: fields + 1)
            events.append(.trailer(name: field.name, value: field.value, raw: buffer.take(end + 2)))
        }
        return true
    }

    private static let trailersTooLarge = HTTPParseError.malformed(
        "upstream sent a trailer section larger than \(HTTPRequestDecoder.maximumTrailerSize / 1024) KiB or with more than \(HTTPRequestDecoder.maximumFieldCount) fields")

    /// The events for a complete head, and the framing of the body that follows (RFC 9112 6.3).
    private mutating func begin(_ head: HTTPResponseHead, raw: [UInt8], into events: inout [Event]) throws {
        events.append(.head(head, raw: raw))
        if (100..<200).contains(head.status) && head.status != 101 {
            return  // interim: the final response follows
        }
        let method = pendingMethods.isEmpty ? "GET" : pendingMethods.removeFirst()
        // After 101, and after a 2xx to CONNECT (RFC 9112 6.3), the connection carries another protocol.
        if head.status == 101 || (method == "CONNECT" && (200..<300).contains(head.status)) {
            state = .switched
            events.append(.end)
            return
        }
        if method == "HEAD" || head.status == 204 || head.status == 304 {
            events.append(.end)
            return
        }
        let encodings = head.values(of: "Transfer-Encoding")
        if !encodings.isEmpty {
            guard head.header("Content-Length") == nil else { throw HTTPParseError.malformed("upstream sent both Transfer-Encoding and Content-Length") }
            guard head.version == "HTTP/1.1" else { throw HTTPParseError.malformed("upstream sent Transfer-Encoding in an HTTP/1.0 response") }
            let codings = HTTPWire.transferCodings(encodings)
            guard codings.filter({ $0 == "chunked" }).count <= 1 else {
                throw HTTPParseError.malformed("upstream sent Transfer-Encoding '\(HTTPWire.escaped(Array(encodings.joined(separator: ", ").utf8)))' with chunked twice")
            }
            // Chunked last: chunked framing (other codings are content for the client); otherwise the body runs until close.
            state = codings.last == "chunked" ? .chunkSize : .untilClose
        } else if let length = try HTTPWire.contentLength(of: head, source: "upstream sent") {
            if length == 0 { events.append(.end) } else { state = .fixed(remaining: length) }
        } else {
            state = .untilClose
        }
    }

    /// Where the CRLF ending the line at the front starts, nil until it arrives; a bare LF or a
    /// line (CRLF included) longer than `limit` is an error.
    private mutating func lineEnd(limit: Int, what: String) throws -> Int? {
        func tooLong() -> HTTPParseError {
            what == "trailer line" ? Self.trailersTooLarge : .malformed("upstream sent a \(what) longer than allowed")
        }
        return try buffer.crlfLineEnd(limit: limit, tooLong: tooLong,
                                      bareLF: { .malformed("upstream sent a \(what) ending in a bare LF (no CR before it)") })
    }

    /// `HTTP/1.x SP 3DIGIT [SP reason]` (RFC 9112 4), then fields.
    static func parseHead(_ bytes: ArraySlice<UInt8>) throws -> HTTPResponseHead {
        var lines = HeadLines(bytes)
        let statusLine = lines.next() ?? []
        let space = statusLine.firstIndex(of: 32) ?? statusLine.endIndex
        let afterSpace = space == statusLine.endIndex ? space : space + 1
        let code = statusLine[afterSpace...].prefix { $0 != 32 }
        guard space < statusLine.endIndex, let version = HTTPWire.knownVersion(statusLine[..<space]), let status = statusCode(code),
              statusLine.allSatisfy(HTTPWire.isFieldValueByte) else {
            throw HTTPParseError.malformed("upstream sent a malformed status line '\(HTTPWire.escaped(statusLine))'")
        }
        guard lines.remainingCount <= maximumFieldCount else {
            throw HTTPParseError.malformed("upstream sent more than \(maximumFieldCount) header fields")
        }
        let headers = try HTTPWire.headerFields(lines, source: "upstream sent a malformed header line")
        let reason = code.endIndex < statusLine.endIndex ? String(decoding: statusLine[(code.endIndex + 1)...], as: UTF8.self) : ""
        return HTTPResponseHead(version: version, status: status, reason: reason, headers: headers)
    }

    /// Three digits, 100 to 999.
    private static func statusCode(_ digits: ArraySlice<UInt8>) -> Int? {
        guard digits.count == 3, digits.allSatisfy(HTTPWire.isDigit), digits.first != UInt8(ascii: "0") else { return nil }
        return digits.reduce(0) { $0 * 10 + Int($1 - UInt8(ascii: "0")) }
    }
}
