import CNGHTTP2

/// HTTP/1.1 exchanges carried over an upstream connection that chose h2: the HTTP/1.1 leg's
/// request bytes become one stream per request, and each stream's response comes back as HTTP/1.1
/// bytes (chunked when the length is unknown, trailers kept), in request order. The owner moves
/// bytes both ways (`outgoing`, `incoming`). Confined to the connection's loop.
final class HTTP1OverHTTP2: HTTP2UpstreamSessionDelegate {
    private let session: HTTP2UpstreamSession
    private var requests = HTTPRequestDecoder()
    /// The stream whose request body is being written.
    private var writing: Int32?
    /// Streams whose responses have not been passed on completely, in request order.
    private var order: [Int32] = []
    private var responses: [Int32: Response] = [:]
    private var failure: UpstreamFailure?
    private var goAwayReceived = false

    /// One response, turned into HTTP/1.1 bytes as it arrives; passed on when it is first in line.
    private struct Response {
        var method: String
        var bytes: [UInt8] = []
        var chunked = false
        var bodyless = false
        var trailers: [(name: String, value: String)] = []
        var ended = false
    }

    /// For requests without a Host field (HTTP/1.0): the tunnel's host.
    private let defaultAuthority: String

    init(defaultAuthority: String) throws {
        self.defaultAuthority = defaultAuthority
        session = try HTTP2UpstreamSession()
        session.delegate = self
    }

    /// HTTP/1.1 request bytes in, h2 frames out (the connection preface first).
    func outgoing(_ http1: [UInt8]) throws -> [UInt8] {
        for event in try requests.feed(http1) {
            switch event {
            case let .head(head):
                let hasBody = head.header("Content-Length").map { $0 != "0" } ?? head.headerContains("Transfer-Encoding", token: "chunked")
                guard let stream = session.request(Self.fields(of: head, defaultAuthority: defaultAuthority), endStream: !hasBody) else {
                    throw HTTP2Session.ProtocolError(description: "the upstream's h2 session takes no new stream")
                }
                order.append(stream)
                responses[stream] = Response(method: head.method)
                writing = hasBody ? stream : nil
            case let .body(bytes):
                if let writing { session.send(bytes, stream: writing) }
            case .end:
                if let writing { session.finish(stream: writing) }
                writing = nil
            }
        }
        return session.takeOutput()
    }

    /// h2 frames in; the HTTP/1.1 response bytes now due, and a failure once the connection can
    /// carry no more (a reset or refused stream, GOAWAY with nothing left to answer).
    func incoming(_ frames: [UInt8]) -> (http1: [UInt8], failure: UpstreamFailure?) {
        do {
            try session.feed(frames)
        } catch {
            failure = failure ?? .protocolError("the upstream broke HTTP/2: \(error)")
        }
        var due: [UInt8] = []
        while let first = order.first, var response = responses[first] {
            due += response.bytes
            response.bytes = []
            guard response.ended else { responses[first] = response; break }
            responses[first] = nil
            order.removeFirst()
        }
        if failure == nil, goAwayReceived, order.isEmpty { failure = .closedEarly("the upstream ended its HTTP/2 connection (GOAWAY)") }
        return (due, failure)
    }

    /// Frames nghttp2 has ready outside `outgoing` (WINDOW_UPDATE, SETTINGS acknowledgements).
    func takeOutput() -> [UInt8] { session.takeOutput() }

    /// Request-body bytes nghttp2 holds for lack of flow-control window.
    var queuedBodyBytes: Int { writing.map { session.queuedBytes(stream: $0) } ?? 0 }

    /// The HTTP/1.1 request's fields for h2: `Host` becomes `:authority`, hop-by-hop fields go.
    static func fields(of head: HTTPRequestHead, defaultAuthority: String) -> [(String, String)] {
        [(":method", head.method), (":scheme", "https"), (":authority", head.header("Host") ?? defaultAuthority), (":path", head.target)]
            + head.headers.compactMap(HTTP2Session.h2Field)
    }

    // MARK: HTTP2UpstreamSessionDelegate

    func http2Response(_ head: HTTPResponseHead, stream: Int32) {
        guard var response = responses[stream] else { return }
        response.bodyless = response.method == "HEAD" || head.status == 204 || head.status == 304
        response.chunked = !response.bodyless && head.header("Content-Length") == nil
        var text = "HTTP/1.1 \(head.status) \(HTTPResponse.reasons[head.status] ?? "")\r\n"
        for (name, value) in head.headers { text += "\(name): \(value)\r\n" }
        if response.chunked { text += "transfer-encoding: chunked\r\n" }
        response.bytes += Array((text + "\r\n").utf8)
        responses[stream] = response
    }

    func http2ResponseData(_ bytes: [UInt8], stream: Int32) {
        // The HTTP/1.1 side holds back by not reading the socket; the window opens at once.
        session.consumed(bytes.count, stream: stream)
        guard var response = responses[stream], !response.bodyless, !bytes.isEmpty else { return }
        response.bytes += response.chunked ? HTTPWire.chunk(bytes) : bytes
        responses[stream] = response
    }

    func http2ResponseTrailers(_ fields: [(name: String, value: String)], stream: Int32) {
        responses[stream]?.trailers += fields
    }

    func http2ResponseEnded(stream: Int32) {
        guard var response = responses[stream] else { return }
        if response.chunked { response.bytes += HTTPWire.lastChunk(trailers: response.trailers) }
        response.ended = true
        responses[stream] = response
    }

    func http2StreamClosed(stream: Int32, errorCode: UInt32) {
        guard let response = responses[stream], !response.ended else { return }
        // HTTP/1.1 cannot fail one response and keep the connection: the whole connection goes.
        failure = failure ?? (errorCode == NGHTTP2_REFUSED_STREAM.rawValue || goAwayReceived
            ? .closedEarly("the upstream refused the request (HTTP/2 \(HTTP2Session.errorName(errorCode)))")
            : .reset(code: errorCode))
    }

    func http2GoAway(lastStream: Int32, errorCode: UInt32) {
        goAwayReceived = true
        if errorCode != 0 { failure = failure ?? .goAway(code: errorCode, lastStream: lastStream) }
    }
}
