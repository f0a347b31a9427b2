/// Incremental HTTP/1.1 request parsing: heads, then bodies framed by Content-Length or chunked
/// transfer coding, request after request (pipelining). Feed bytes, collect events.
struct HTTPRequestDecoder {
    enum Event: Equatable {
        case head(HTTPRequestHead)
        case body([UInt8])
        case end
    }

    static let maximumHeadSize = 64 * 1024

    private enum State {
        case head
        case fixedBody(remaining: Int)
        case chunkSize
        case chunkData(remaining: Int)
        case chunkDataEnd
        case trailers
    }

    private var state = State.head
    private var buffer: [UInt8] = []

    /// Bytes received but not yet turned into events.
    var bufferedCount: Int { buffer.count }

    /// Parses as much as possible. Throws on the first malformed or oversized request.
    mutating func feed(_ bytes: [UInt8]) throws -> [Event] {
        if buffer.isEmpty { buffer = bytes } else { buffer.append(contentsOf: bytes) }
        var events: [Event] = []
        var progressed = true
        while progressed {
            progressed = false
            switch state {
            case .head:
                guard let end = HTTPWire.find(HTTPWire.headEnd, in: buffer) else {
                    if buffer.count > Self.maximumHeadSize { throw HTTPParseError.headTooLarge }
                    break
                }
                guard end <= Self.maximumHeadSize else { throw HTTPParseError.headTooLarge }
                let head = try Self.parseHead(buffer[..<end])
                buffer.removeFirst(end + 4)
                events.append(.head(head))
                if head.method == "CONNECT" {
                    // What follows a CONNECT head is tunnel data, not HTTP: leave it for takeBuffered().
                    events.append(.end)
                    return events
                }
                state = try Self.bodyState(for: head)
                if case .head = state { events.append(.end) }
                progressed = true
            case let .fixedBody(remaining):
                guard !buffer.isEmpty else { break }
                let take = min(remaining, buffer.count)
                events.append(.body(HTTPWire.takePrefix(take, of: &buffer)))
                if take == remaining {
                    events.append(.end)
                    state = .head
                } else {
                    state = .fixedBody(remaining: remaining - take)
                }
                progressed = true
            case .chunkSize:
                guard let end = HTTPWire.find(HTTPWire.crlf, in: buffer) else {
                    if buffer.count > 4096 { throw HTTPParseError.malformed("chunk size line too long") }
                    break
                }
                guard let size = HTTPWire.chunkSize(buffer[..<end]) else {
                    throw HTTPParseError.malformed("invalid chunk size '\(String(decoding: buffer[..<end], as: UTF8.self))'")
                }
                buffer.removeFirst(end + 2)
                state = size == 0 ? .trailers : .chunkData(remaining: size)
                progressed = true
            case let .chunkData(remaining):
                guard !buffer.isEmpty else { break }
                let take = min(remaining, buffer.count)
                events.append(.body(HTTPWire.takePrefix(take, of: &buffer)))
                state = take == remaining ? .chunkDataEnd : .chunkData(remaining: remaining - take)
                progressed = true
            case .chunkDataEnd:
                guard buffer.count >= 2 else { break }
                guard buffer[0] == 13, buffer[1] == 10 else { throw HTTPParseError.malformed("chunk not followed by CRLF") }
                buffer.removeFirst(2)
                state = .chunkSize
                progressed = true
            case .trailers:
                guard let end = HTTPWire.find(HTTPWire.crlf, in: buffer) else {
                    if buffer.count > Self.maximumHeadSize { throw HTTPParseError.headTooLarge }
                    break
                }
                buffer.removeFirst(end + 2)
                if end == 0 {  // the empty line that ends the trailer section
                    events.append(.end)
                    state = .head
                }
                progressed = true
            }
        }
        return events
    }

    /// Hands over the bytes not parsed yet (the start of a tunnel after CONNECT).
    mutating func takeBuffered() -> [UInt8] {
        defer { buffer = [] }
        return buffer
    }

    /// Whether the decoder sits between requests (nothing half-parsed).
    var isIdle: Bool {
        if case .head = state { return buffer.isEmpty }
        return false
    }

    static func parseHead(_ bytes: ArraySlice<UInt8>) throws -> HTTPRequestHead {
        let lines = HTTPWire.lines(bytes)
        let requestLine = String(decoding: lines[0], as: UTF8.self)
        let parts = requestLine.split(separator: " ", omittingEmptySubsequences: false)
        guard parts.count == 3, !parts[0].isEmpty, !parts[1].isEmpty,
              parts[0].allSatisfy({ $0.isLetter && $0.isUppercase || $0 == "-" }) else {
            throw HTTPParseError.malformed("malformed request line '\(requestLine.prefix(100))'")
        }
        let version = String(parts[2])
        guard version == "HTTP/1.1" || version == "HTTP/1.0" else {
            throw HTTPParseError.malformed("unsupported protocol version '\(version.prefix(20))'")
        }
        let headers = try HTTPWire.headerFields(lines.dropFirst(), source: "malformed header line")
        return HTTPRequestHead(method: String(parts[0]), target: String(parts[1]), version: version, headers: headers)
    }

    private static func bodyState(for head: HTTPRequestHead) throws -> State {
        let lengths = head.headers.filter { $0.name.equalsIgnoringASCIICase("Content-Length") }.map(\.value)
        let chunked = head.headerContains("Transfer-Encoding", token: "chunked")
        if head.header("Transfer-Encoding") != nil {
            // Both framings at once is how requests are smuggled; refuse rather than guess (RFC 9112 6.3).
            guard lengths.isEmpty else { throw HTTPParseError.malformed("both Transfer-Encoding and Content-Length") }
            guard chunked else { throw HTTPParseError.malformed("unsupported Transfer-Encoding '\(head.header("Transfer-Encoding")!)'") }
            return .chunkSize
        }
        guard let first = lengths.first else { return .head }
        guard Set(lengths).count == 1, first.allSatisfy(\.isNumber), let length = Int(first) else {
            throw HTTPParseError.malformed("invalid Content-Length '\(lengths.joined(separator: ","))'")
        }
        return length == 0 ? .head : .fixedBody(remaining: length)
    }
}
