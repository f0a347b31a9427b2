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

import Foundation

/// Finds response boundaries in an upstream byte stream so responses can be relayed verbatim:
/// every event carries the raw bytes to forward. Knows RFC 9112's framing: no body for HEAD,
/// 1xx, 204 and 304; chunked; Content-Length; or until the connection closes.
struct HTTPResponseDecoder {
    enum Event {
        /// A final or interim (1xx) head and its raw bytes.
        case head(HTTPResponseHead, raw: [UInt8])
        /// Body bytes as they appeared on the wire (chunk framing included) and how many were payload.
        case body(raw: [UInt8], payload: Int)
        /// A trailer field after a chunked body (a malformed trailer line arrives as `body` instead).
        case trailer(name: String, value: String, raw: [UInt8])
        /// The response is complete.
        case end
    }

    private enum State {
        case head
        case fixed(remaining: Int)
        case chunkSize
        case chunkData(remaining: Int)
        case chunkDataEnd
        case trailers
        case untilClose
    }

    private var state = State.head
    private var buffer: [UInt8] = []
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
        if buffer.isEmpty { buffer = bytes } else { buffer.append(contentsOf: bytes) }
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

    private mutating func next() throws -> [Event]? {
        switch state {
        case .head:
            guard let end = HTTPWire.find(HTTPWire.headEnd, in: buffer) else {
                if buffer.count > HTTPRequestDecoder.maximumHeadSize { throw HTTPParseError.headTooLarge }
                return nil
            }
            let raw = Array(buffer[..<(end + 4)])
            let head = try Self.parseHead(buffer[..<end])
            buffer.removeFirst(end + 4)
            if (100..<200).contains(head.status) && head.status != 101 {
                return [.head(head, raw: raw)]  // interim: the final response follows
            }
            let method = pendingMethods.isEmpty ? "GET" : pendingMethods.removeFirst()
            if method == "HEAD" || head.status == 204 || head.status == 304 || head.status == 101 {
                return [.head(head, raw: raw), .end]
            }
            if head.headerContains("Transfer-Encoding", token: "chunked") {
                state = .chunkSize
            } else if let length = head.header("Content-Length") {
                guard length.allSatisfy(\.isNumber), let value = Int(length) else {
                    throw HTTPParseError.malformed("upstream sent an invalid Content-Length '\(length)'")
                }
                if value == 0 { return [.head(head, raw: raw), .end] }
                state = .fixed(remaining: value)
            } else {
                state = .untilClose
            }
            return [.head(head, raw: raw)]
        case let .fixed(remaining):
            guard !buffer.isEmpty else { return nil }
            let take = min(remaining, buffer.count)
            let raw = HTTPWire.takePrefix(take, of: &buffer)
            if take == remaining {
                state = .head
                return [.body(raw: raw, payload: take), .end]
            }
            state = .fixed(remaining: remaining - take)
            return [.body(raw: raw, payload: take)]
        case .untilClose:
            guard !buffer.isEmpty else { return nil }
            let raw = buffer
            buffer = []
            return [.body(raw: raw, payload: raw.count)]
        case .chunkSize:
            guard let end = HTTPWire.find(HTTPWire.crlf, in: buffer) else { return nil }
            guard let size = HTTPWire.chunkSize(buffer[..<end]) else {
                throw HTTPParseError.malformed("upstream sent an invalid chunk size '\(String(decoding: buffer[..<end], as: UTF8.self))'")
            }
            let raw = Array(buffer[..<(end + 2)])
            buffer.removeFirst(end + 2)
            state = size == 0 ? .trailers : .chunkData(remaining: size)
            return [.body(raw: raw, payload: 0)]
        case let .chunkData(remaining):
            guard !buffer.isEmpty else { return nil }
            let take = min(remaining, buffer.count)
            let raw = HTTPWire.takePrefix(take, of: &buffer)
            state = take == remaining ? .chunkDataEnd : .chunkData(remaining: remaining - take)
            return [.body(raw: raw, payload: take)]
        case .chunkDataEnd:
            guard buffer.count >= 2 else { return nil }
            buffer.removeFirst(2)
            state = .chunkSize
            return [.body(raw: [13, 10], payload: 0)]
        case .trailers:
            guard let end = HTTPWire.find(HTTPWire.crlf, in: buffer) else { return nil }
            let raw = Array(buffer[..<(end + 2)])
            buffer.removeFirst(end + 2)
            if end == 0 {
                state = .head
                return [.body(raw: raw, payload: 0), .end]
            }
            guard let field = try? HTTPWire.headerFields([raw[..<end]][...], source: "trailer").first else {
                return [.body(raw: raw, payload: 0)]
            }
            return [.trailer(name: field.name, value: field.value, raw: raw)]
        }
    }

    static func parseHead(_ bytes: ArraySlice<UInt8>) throws -> HTTPResponseHead {
        let lines = HTTPWire.lines(bytes)
        let statusLine = String(decoding: lines[0], as: UTF8.self)
        let parts = statusLine.split(separator: " ", maxSplits: 2, omittingEmptySubsequences: false)
        guard parts.count >= 2, parts[0].hasPrefix("HTTP/1."), let status = Int(parts[1]), (100...999).contains(status) else {
            throw HTTPParseError.malformed("upstream sent a malformed status line '\(statusLine.prefix(100))'")
        }
        let headers = try HTTPWire.headerFields(lines.dropFirst(), source: "upstream sent a malformed header line")
        return HTTPResponseHead(version: String(parts[0]), status: status,
                                reason: parts.count > 2 ? String(parts[2]) : "", headers: headers)
    }
}
