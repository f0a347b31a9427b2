/// A request as it goes upstream, whichever version either side speaks: the HTTP/1.1 upstream
/// leg writes it as a request line and fields (Host first), the h2 one as pseudo-header fields.
/// The client leg that made it has settled the authority (the one place: `ClientConnection
/// .authority(named:)`), so neither side can send an empty Host.
struct UpstreamRequest {
    /// How the body is delimited, as the client sent it.
    enum Body: Equatable {
        case none
        case length(Int)
        /// Chunked from an HTTP/1.1 client; an h2 client's body without content-length.
        case unknown
    }

    var method: String
    var scheme: String
    /// `host[:port]`: Host on HTTP/1.1, `:authority` on h2.
    var authority: String
    /// The origin-form target (the path and query).
    var target: String
    /// What an HTTP/1.1 client sent ("HTTP/1.0" stays so); h2 clients' requests go as HTTP/1.1.
    var version = "HTTP/1.1"
    /// Every field but Host, as the client sent it (an h2 upstream drops the connection-specific ones).
    var fields: [(name: String, value: String)]
    var body: Body

    /// Whether the request asks to switch protocols (WebSocket): it needs an HTTP/1.1 upstream.
    var isUpgrade: Bool {
        fields.contains { $0.name.equalsIgnoringASCIICase("Upgrade") }
    }

    /// The head for an HTTP/1.1 upstream, and whether its body goes chunked (a body of unknown
    /// length from an h2 client gets `transfer-encoding: chunked`).
    func http1Head() -> (bytes: [UInt8], chunked: Bool) {
        var head = HTTPRequestHead(method: method, target: target.isEmpty ? "/" : target, version: version, headers: [("Host", authority)])
        head.headers += fields
        let sentChunked = fields.contains { $0.name.equalsIgnoringASCIICase("Transfer-Encoding") }
        let chunked = body == .unknown
        if chunked && !sentChunked { head.headers.append(("transfer-encoding", "chunked")) }
        return (head.serialized(), chunked)
    }

    /// The fields for an h2 upstream: pseudo-headers first, connection-specific fields dropped
    /// (RFC 9113 8.2.2), names lowercased.
    var http2Fields: [(String, String)] {
        [(":method", method), (":scheme", scheme), (":authority", authority), (":path", target.isEmpty ? "/" : target)]
            + fields.compactMap { $0.name.equalsIgnoringASCIICase("Host") ? nil : HTTP2Session.h2Field($0) }
    }
}
