/// A response for an HTTP/1.1 client, as bytes: an HTTP/1.1 origin's bytes verbatim (head,
/// body, chunk framing and trailers as they came), or, for a response from an h2 origin, a head
/// written here and a body chunked when no length was given (trailers kept). Also says whether
/// the client connection must close after the response: a body delimited by the close, or a head
/// that says close, leaves no other way for the client to know where it ended.
struct HTTP1ResponseWriter {
    private var verbatim = true
    private var chunked = false
    private var trailers: [(name: String, value: String)] = []
    /// Set by a response that only a close can end (or that asked for one).
    private(set) var closesConnection = false

    /// The bytes for `write`, or nil for what the client leg handles itself (local answers,
    /// aborts, flushes).
    mutating func bytes(for write: ExchangeWrite) -> [UInt8]? {
        switch write {
        case let .interim(head, raw):
            return raw ?? Self.serialize(head, extra: [])
        case let .head(head, raw, bodyless):
            trailers = []
            closesConnection = !head.keepAliveResponse
            if let raw {
                verbatim = true
                chunked = false
                if !bodyless && head.header("Content-Length") == nil && !head.headerContains("Transfer-Encoding", token: "chunked") {
                    closesConnection = true  // read until close by the client too
                }
                return raw
            }
            verbatim = false
            closesConnection = false  // an h2 origin's response has its end framed here
            chunked = !bodyless && head.header("Content-Length") == nil
            return Self.serialize(head, extra: chunked ? [("transfer-encoding", "chunked")] : [])
        case let .body(bytes):
            return !verbatim && chunked ? HTTPWire.chunk(bytes) : bytes
        case let .framing(bytes):
            return verbatim ? bytes : nil
        case let .trailer(name, value, raw):
            if verbatim { return raw }
            trailers.append((name, value))
            return nil
        case .end:
            guard !verbatim, chunked else { return nil }
            return HTTPWire.lastChunk(trailers: trailers)
        case .local, .abort, .flush:
            return nil
        }
    }

    /// A head from an h2 origin as HTTP/1.1 (its fields are lowercase; connection-specific ones
    /// cannot be among them, RFC 9113 8.2.2).
    private static func serialize(_ head: HTTPResponseHead, extra: [(String, String)]) -> [UInt8] {
        var text = "HTTP/1.1 \(head.status) \(head.reason.isEmpty ? HTTPResponse.reasons[head.status] ?? "" : head.reason)\r\n"
        for (name, value) in head.headers { text += "\(name): \(value)\r\n" }
        for (name, value) in extra { text += "\(name): \(value)\r\n" }
        return Array((text + "\r\n").utf8)
    }
}
