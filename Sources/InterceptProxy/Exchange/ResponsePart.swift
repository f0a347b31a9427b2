/// A response as an exchange sees it, whichever protocol framed it upstream: HTTP/1.1 decoder
/// events without their framing (`HTTPResponseDecoder.Event.part`), or an h2 stream's HEADERS,
/// DATA and trailers (`HTTP2UpstreamConnection`).
enum ResponsePart {
    /// A response head; on HTTP/1.1 also interim (1xx) ones.
    case head(HTTPResponseHead)
    /// Payload bytes of the body.
    case body([UInt8])
    case trailer(name: String, value: String)
    /// The response is complete.
    case end
}
