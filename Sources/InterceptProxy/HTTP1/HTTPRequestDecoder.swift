/// Incremental HTTP/1.1 request parsing (RFC 9112): heads, then bodies framed by Content-Length or
/// chunked transfer coding, request after request (pipelining). Feed bytes, collect events. Strict
/// wherever a server behind the proxy could read the bytes differently (see HTTPSyntax.swift):
/// such a request is an error, never forwarded. Time is linear in the bytes (see ByteQueue).
struct HTTPRequestDecoder {
    enum Event: Equatable {
        case head(HTTPRequestHead)
        case body([UInt8])
        case end
    }

    static let maximumHeadSize = 64 * 1024
    /// Apache's LimitRequestFields default: curl sends 3 or 4 fields, browsers about 20.
    static let maximumFieldCount = 100
    /// The trailer section after a chunked body, smaller than a head: trailers are rare (and dropped).
    static let maximumTrailerSize = 16 * 1024
    /// A chunk-size line: at most 15 hex digits, the rest extensions (ignored).
    static let maximumChunkLineSize = 4096

    private enum State {
        case head
        case fixedBody(remaining: Int)
        case chunkSize
        case chunkData(remaining: Int)
        case chunkDataEnd
        case trailers(size: Int, fields: Int)
    }

    private var state = State.head
    private var buffer = ByteQueue()
    private var headLines = HeadScanner()
    /// Body bytes parsed in this `feed` not yet in an event: consecutive pieces (1-byte chunks,
    /// say) become one event, one upstream write.
    private var pendingBody: [UInt8] = []

    /// Bytes received but not yet turned into events.
    var bufferedCount: Int { buffer.count }

    /// Parses as much as possible; with `oneMessage`, stops at the end of a request and leaves
    /// what follows (a pipelined request) buffered for the next call. Throws on the first
    /// malformed or oversized request.
    mutating func feed(_ bytes: [UInt8], oneMessage: Bool = false) throws -> [Event] {
        pendingBody = []  // in case the last feed threw
        buffer.append(bytes)
        var events: [Event] = []
        events.reserveCapacity(2)  // one allocation for the usual head and end
        while try step(&events) {
            if oneMessage, case .end = events.last { break }
        }
        flushBody(into: &events)
        return events
    }

    /// Hands over the bytes not parsed yet (the start of a tunnel after CONNECT).
    mutating func takeBuffered() -> [UInt8] { buffer.takeAll() }

    /// Whether the decoder sits between requests (nothing half-parsed).
    var isIdle: Bool {
        if case .head = state { return buffer.isEmpty }
        return false
    }

    /// Whether a request's body or trailer section is being received (its head is in).
    var isInMessage: Bool {
        if case .head = state { return false }
        return true
    }

    /// What would be cut short if the client closed the connection now; nil between requests.
    var truncation: String? {
        let closed = "the client closed the connection in the middle of"
        switch state {
        case .head: return buffer.isEmpty ? nil : "\(closed) a request head"
        case let .fixedBody(remaining): return "\(closed) a request body (\(remaining) bytes short of its Content-Length)"
        case .chunkSize, .chunkData, .chunkDataEnd: return "\(closed) a chunked request body (before its last chunk)"
        case .trailers: return "\(closed) the trailer section of a chunked request body"
        }
    }

    /// Parses one piece; false when more bytes are needed (or a CONNECT head leaves the rest alone).
    private mutating func step(_ events: inout [Event]) throws -> Bool {
        switch state {
        case .head:
            let line = try headLines.next(in: &buffer, maximumSize: Self.maximumHeadSize, maximumLines: Self.maximumFieldCount + 1,
                                          tooLarge: .headTooLarge, tooMany: .tooManyFields,
                                          bareLF: "request head with a line ending in a bare LF (no CR before it)")
            switch line {
            case nil:
                return false
            case .leadingBlankLine:
                buffer.consume(2)
            case let .line(range, first):
                // Checked once complete: HTTP/0.9 and the h2 preface are answered without waiting
                // for a blank line that may never come.
                if first { _ = try HTTPWire.requestLine(buffer[range]) }
            case let .end(length, total):
                let head = try Self.parseHead(buffer[0..<length])
                buffer.consume(total)
                flushBody(into: &events)
                events.append(.head(head))
                if head.method == "CONNECT" {
                    // What follows a CONNECT head is tunnel data, not HTTP: leave it for takeBuffered().
                    events.append(.end)
                    return false
                }
                state = try Self.bodyState(for: head)
                if case .head = state { events.append(.end) }
            }
        case let .fixedBody(remaining):
            guard !buffer.isEmpty else { return false }
            let take = min(remaining, buffer.count)
            buffer.move(take, to: &pendingBody)
            if take == remaining {
                flushBody(into: &events)
                events.append(.end)
                state = .head
            } else {
                state = .fixedBody(remaining: remaining - take)
            }
        case .chunkSize:
            guard let end = try lineEnd(limit: Self.maximumChunkLineSize, what: "chunk size line",
                                        tooLong: .malformed("chunk size line longer than \(Self.maximumChunkLineSize) bytes")) else { return false }
            let size = try HTTPWire.chunkSize(buffer[0..<end])
            buffer.consume(end + 2)
            state = size == 0 ? .trailers(size: 0, fields: 0) : .chunkData(remaining: size)
        case let .chunkData(remaining):
            guard !buffer.isEmpty else { return false }
            let take = min(remaining, buffer.count)
            buffer.move(take, to: &pendingBody)
            state = take == remaining ? .chunkDataEnd : .chunkData(remaining: remaining - take)
        case .chunkDataEnd:
            guard buffer.count >= 2 else { return false }
            guard buffer[0] == 13, buffer[1] == 10 else { throw HTTPParseError.malformed("chunk data not followed by CRLF") }
            buffer.consume(2)
            state = .chunkSize
        case let .trailers(size, fields):
            guard let end = try lineEnd(limit: Self.maximumTrailerSize - size, what: "trailer line", tooLong: .trailersTooLarge) else { return false }
            if end == 0 {  // the empty line that ends the trailer section
                buffer.consume(2)
                flushBody(into: &events)
                events.append(.end)
                state = .head
                return true
            }
            guard fields < Self.maximumFieldCount else { throw HTTPParseError.trailersTooLarge }
            _ = try HTTPWire.headerField(buffer[0..<end], source: "malformed trailer line")  // checked, then dropped
            buffer.consume(end + 2)
            state = .trailers(size: size + end + 2, fields: fields + 1)
        }
        return true
    }

    /// Where the CRLF ending the line at the front starts, nil until it arrives. A bare LF is an
    /// error, and so is a line (CRLF included) longer than `limit`.
    private mutating func lineEnd(limit: Int, what: String, tooLong: @autoclosure () -> HTTPParseError) throws -> Int? {
        try buffer.crlfLineEnd(limit: limit, tooLong: tooLong, bareLF: { .malformed("\(what) ending in a bare LF (no CR before it)") })
    }

    private mutating func flushBody(into events: inout [Event]) {
        guard !pendingBody.isEmpty else { return }
        events.append(.body(pendingBody))
        pendingBody = []
    }

    static func parseHead(_ bytes: ArraySlice<UInt8>) throws -> HTTPRequestHead {
        var lines = HeadLines(bytes)
        let (method, target, version) = try HTTPWire.requestLine(lines.next() ?? [])
        guard lines.remainingCount <= maximumFieldCount else { throw HTTPParseError.tooManyFields }
        let head = HTTPRequestHead(method: method, target: target, version: version,
                                   headers: try HTTPWire.headerFields(lines, source: "malformed header line"))
        // Which of two Host fields names the origin is a guess a server behind could make differently (RFC 9112 3.2).
        guard head.count(of: "Host") <= 1 else { throw HTTPParseError.malformed("more than one Host field") }
        return head
    }

    /// How the body is framed (RFC 9112 6). Anything a server behind the proxy could frame
    /// differently is refused: both framings, a Transfer-Encoding in HTTP/1.0, chunked not last or
    /// twice, Content-Lengths that differ. Other codings than chunked get 501, as from nginx.
    private static func bodyState(for head: HTTPRequestHead) throws -> State {
        let encodings = head.values(of: "Transfer-Encoding")
        guard !encodings.isEmpty else {
            guard let length = try HTTPWire.contentLength(of: head, source: "request with"), length > 0 else { return .head }
            return .fixedBody(remaining: length)
        }
        let shown = HTTPWire.escaped(Array(encodings.joined(separator: ", ").utf8))
        // Both framings at once is how requests are smuggled; refuse rather than guess (RFC 9112 6.3).
        guard head.header("Content-Length") == nil else { throw HTTPParseError.malformed("both Transfer-Encoding and Content-Length") }
        guard head.version == "HTTP/1.1" else {
            throw HTTPParseError.malformed("Transfer-Encoding in an HTTP/1.0 request: its framing cannot be trusted (RFC 9112 6.1)")
        }
        let codings = HTTPWire.transferCodings(encodings)
        guard codings.last == "chunked", codings.filter({ $0 == "chunked" }).count == 1 else {
            throw HTTPParseError.malformed("Transfer-Encoding '\(shown)': chunked must be the final transfer coding, applied once (RFC 9112 6.3)")
        }
        guard codings.count == 1 else {
            throw HTTPParseError.notImplemented("unsupported Transfer-Encoding '\(shown)': the proxy implements only chunked")
        }
        return .chunkSize
    }
}
