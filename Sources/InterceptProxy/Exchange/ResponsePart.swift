/// A response as an exchange sees it, whichever protocol framed it upstream: an HTTP/1.1
/// upstream's decoder events (with their bytes as the origin sent them, relayed verbatim to an
/// HTTP/1.1 client) or an h2 stream's HEADERS, DATA and trailers (no bytes of their own: an
/// HTTP/1.1 client gets them framed by `HTTP1ResponseWriter`).
enum ResponsePart {
    /// A response head; from an HTTP/1.1 upstream also interim (1xx) ones.
    case head(HTTPResponseHead, raw: [UInt8]?)
    /// Payload bytes of the body.
    case body([UInt8])
    /// Chunk framing around the payload from an HTTP/1.1 upstream: no payload, relayed verbatim
    /// to an HTTP/1.1 client and dropped for h2.
    case framing([UInt8])
    case trailer(name: String, value: String, raw: [UInt8]?)
    /// The response is complete.
    case end
}

/// Part of a request on its way upstream, whichever version the client spoke.
enum RequestPart {
    case head(UpstreamRequest)
    case body([UInt8])
    case end
}
