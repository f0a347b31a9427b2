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

    /// Whether a response is partly received.
    var isMidResponse: Bool {
        if case .head = state { return !buffer.isEmpty }
        return true
    }

    mutating func feed(_ bytes: [UInt8]) throws -> [Event] {
        buffer.append(bytes)
        var events: [Event] = []
        while let event = try next() { events.append(contentsOf: event) }
        return events
    }

    /// The upstream closed: ends a close-delimited body, or reports a truncated response.
    mutating func finish() throws -> [Event] {
        switch state {
        case .untilClose:
            state = .head
            return [.end]
        case .head where buffer.isEmpty:
            return []
        default:
            throw HTTPParseError.malformed("upstream closed the connection in the middle of a response")
        }
    }

    /// The events of one parsing step (possibly none), nil when more bytes are needed.
    private mutating func next() throws -> [Event]? {
        switch state {
        case .head:
            let line = try headLines.next(in: &buffer, maximumSize: HTTPRequestDecoder.maximumHeadSize, maximumLines: Self.maximumFieldCount + 1,
                                          tooLarge: .malformed("upstream sent a response head larger than \(HTTPRequestDecoder.maximumHeadSize / 1024) KiB"),
                                          tooMany: .malformed("upstream sent more than \(Self.maximumFieldCount) header fields"),
                                          bareLF: "upstream sent a head line ending in a bare LF (no CR before it)")
            switch line {
            case nil:
                return nil
            case .leadingBlankLine:
                buffer.consume(2)
                return []
            case .line:
                return []
            case let .end(length, total):
                let head = try Self.parseHead(buffer[0..<length])
                return try begin(head, raw: buffer.take(total))
            }
        case let .fixed(remaining):
            guard !buffer.isEmpty else { return nil }
            let take = min(remaining, buffer.count)
            let raw = buffer.take(take)
            if take == remaining {
                state = .head
                return [.body(raw), .end]
            }
            state = .fixed(remaining: remaining - take)
            return [.body(raw)]
        case .untilClose:
            guard !buffer.isEmpty else { return nil }
            return [.body(buffer.takeAll())]
        case .chunkSize:
            guard let end = try lineEnd(limit: HTTPRequestDecoder.maximumChunkLineSize, what: "chunk size line") else { return nil }
            let size: Int
            do { size = try HTTPWire.chunkSize(buffer[0..<end]) } catch let HTTPParseError.malformed(detail) {
                throw HTTPParseError.malformed("upstream sent an \(detail)")
            }
            state = size == 0 ? .trailers(size: 0, fields: 0) : .chunkData(remaining: size)
            return [.framing(buffer.take(end + 2))]
        case let .chunkData(remaining):
            guard !buffer.isEmpty else { return nil }
            let take = min(remaining, buffer.count)
            let raw = buffer.take(take)
            state = take == remaining ? .chunkDataEnd : .chunkData(remaining: remaining - take)
            return [.body(raw)]
        case .chunkDataEnd:
            guard buffer.count >= 2 else { return nil }
            guard buffer[0] == 13, buffer[1] == 10 else { throw HTTPParseError.malformed("upstream sent chunk data not followed by CRLF") }
            buffer.consume(2)
            state = .chunkSize
            return [.framing([13, 10])]
        case let .trailers(size, fields):
            guard let end = try lineEnd(limit: HTTPRequestDecoder.maximumTrailerSize - size, what: "trailer line") else { return nil }
            if end == 0 {
                state = .head
                return [.framing(buffer.take(2)), .end]
            }
            guard fields < HTTPRequestDecoder.maximumFieldCount else { throw Self.trailersTooLarge }
            let field = try HTTPWire.headerField(buffer[0..<end], source: "upstream sent a malformed trailer line")
            state = .trailers(size: size + end + 2, fields: fields + 1)
            return [.trailer(name: field.name, value: field.value, raw: buffer.take(end + 2))]
        }
    }

    private static let trailersTooLarge = HTTPParseError.malformed(
        "upstream sent a trailer section larger than \(HTTPRequestDecoder.maximumTrailerSize / 1024) KiB or with more than \(HTTPRequestDecoder.maximumFieldCount) fields")

    /// The events for a complete head, and the framing of the body that follows (RFC 9112 6.3).
    private mutating func begin(_ head: HTTPResponseHead, raw: [UInt8]) throws -> [Event] {
        if (100..<200).contains(head.status) && head.status != 101 {
            return [.head(head, raw: raw)]  // interim: the final response follows
        }
        let method = pendingMethods.isEmpty ? "GET" : pendingMethods.removeFirst()
        if method == "HEAD" || head.status == 204 || head.status == 304 || head.status == 101 {
            return [.head(head, raw: raw), .end]
        }
        let lengths = head.values(of: "Content-Length"), encodings = head.values(of: "Transfer-Encoding")
        if !encodings.isEmpty {
            guard lengths.isEmpty else { throw HTTPParseError.malformed("upstream sent both Transfer-Encoding and Content-Length") }
            guard head.version == "HTTP/1.1" else { throw HTTPParseError.malformed("upstream sent Transfer-Encoding in an HTTP/1.0 response") }
            let codings = HTTPWire.transferCodings(encodings)
            guard codings.filter({ $0 == "chunked" }).count <= 1 else {
                throw HTTPParseError.malformed("upstream sent Transfer-Encoding '\(HTTPWire.escaped(Array(encodings.joined(separator: ", ").utf8)))' with chunked twice")
            }
            // Chunked last: chunked framing (other codings are content for the client); otherwise the body runs until close.
            state = codings.last == "chunked" ? .chunkSize : .untilClose
        } else if let length = try HTTPWire.contentLength(lengths, source: "upstream sent") {
            if length == 0 { return [.head(head, raw: raw), .end] }
            state = .fixed(remaining: length)
        } else {
            state = .untilClose
        }
        return [.head(head, raw: raw)]
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
        let lines = HTTPWire.lines(bytes)
        let statusLine = lines[0]
        let parts = statusLine.split(separator: 32, maxSplits: 2, omittingEmptySubsequences: false)
        let version = String(decoding: parts[0], as: UTF8.self)
        guard parts.count >= 2, version == "HTTP/1.1" || version == "HTTP/1.0", parts[1].count == 3,
              let status = Int(String(decoding: parts[1], as: UTF8.self)), (100...999).contains(status),
              statusLine.allSatisfy(HTTPWire.isFieldValueByte) else {
            throw HTTPParseError.malformed("upstream sent a malformed status line '\(HTTPWire.escaped(statusLine))'")
        }
        guard lines.count - 1 <= maximumFieldCount else {
            throw HTTPParseError.malformed("upstream sent more than \(maximumFieldCount) header fields")
        }
        let headers = try HTTPWire.headerFields(lines.dropFirst(), source: "upstream sent a malformed header line")
        return HTTPResponseHead(version: version, status: status,
                                reason: parts.count > 2 ? String(decoding: parts[2], as: UTF8.self) : "", headers: headers)
    }
}

extension HTTPResponseDecoder.Event {
    /// What the event means to an exchange, whatever the framing: nil for framing bytes.
    var part: ResponsePart? {
        switch self {
        case let .head(head, _): return .head(head)
        case let .body(bytes): return .body(bytes)
        case .framing: return nil
        case let .trailer(name, value, _): return .trailer(name: name, value: value)
        case .end: return .end
        }
    }
}
