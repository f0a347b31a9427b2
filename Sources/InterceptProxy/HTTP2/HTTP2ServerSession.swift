import CNGHTTP2

/// What the client asked for on one stream: pseudo-headers apart, regular fields in order.
struct HTTP2RequestHead {
    var method = ""
    var scheme = "https"
    var authority = ""
    var path = ""
    var headers: [(name: String, value: String)] = []
}

/// Events of the client leg's HTTP/2 session, in the order nghttp2 parses them.
protocol HTTP2ServerSessionDelegate: AnyObject {
    func http2Request(_ head: HTTP2RequestHead, stream: Int32, endStream: Bool)
    func http2RequestData(_ bytes: [UInt8], stream: Int32)
    func http2RequestEnded(stream: Int32)
    /// The stream is gone: answered completely, or reset by either side (`errorCode` != 0).
    func http2StreamClosed(stream: Int32, errorCode: UInt32)
}

/// The server side of HTTP/2 on the client leg: requests in, responses out.
final class HTTP2ServerSession: HTTP2Session {
    weak var delegate: HTTP2ServerSessionDelegate?
    private var partialHeads: [Int32: HTTP2RequestHead] = [:]

    init(maxConcurrentStreams: UInt32 = 128) throws {
        try super.init(server: true, settings: [(Int32(NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS.rawValue), maxConcurrentStreams)])
    }

    override func beginHeaders(_ frame: nghttp2_frame) {
        guard frame.hd.type == UInt8(NGHTTP2_HEADERS.rawValue), frame.headers.cat == NGHTTP2_HCAT_REQUEST else { return }
        partialHeads[frame.hd.stream_id] = HTTP2RequestHead()
    }

    override func header(stream: Int32, name: String, value: String) {
        partialHeads[stream]?.add(name, value)  // request trailers have no entry: they are dropped
    }

    override func frameReceived(_ frame: nghttp2_frame) {
        let stream = frame.hd.stream_id
        let endStream = frame.hd.flags & UInt8(NGHTTP2_FLAG_END_STREAM.rawValue) != 0
        switch UInt32(frame.hd.type) {
        case NGHTTP2_HEADERS.rawValue:
            if let head = partialHeads.removeValue(forKey: stream) {
                delegate?.http2Request(head, stream: stream, endStream: endStream)
            } else if endStream {
                delegate?.http2RequestEnded(stream: stream)  // request trailers end the body
            }
        case NGHTTP2_DATA.rawValue where endStream:
            delegate?.http2RequestEnded(stream: stream)
        default:
            break
        }
    }

    override func dataReceived(_ bytes: [UInt8], stream: Int32) {
        delegate?.http2RequestData(bytes, stream: stream)
    }

    override func streamClosed(_ stream: Int32, errorCode: UInt32) {
        partialHeads[stream] = nil
        delegate?.http2StreamClosed(stream: stream, errorCode: errorCode)
    }

    /// Starts a response; without `endStream`, the body follows through `send` and `finish`.
    func respond(stream: Int32, status: Int, headers: [(name: String, value: String)], endStream: Bool) {
        let fields = [(":status", String(status))] + headers.compactMap(Self.h2Field)
        withNameValues(fields) { nva in
            if endStream {
                _ = nghttp2_submit_response(session, stream, nva.baseAddress, nva.count, nil)
                return
            }
            openBody(stream: stream)
            var provider = bodyProvider
            _ = nghttp2_submit_response(session, stream, nva.baseAddress, nva.count, &provider)
        }
    }
}

extension HTTP2RequestHead {
    mutating func add(_ name: String, _ value: String) {
        switch name {
        case ":method": method = value
        case ":scheme": scheme = value
        case ":authority": authority = value
        case ":path": path = value
        default: headers.append((name, value))
        }
    }

    /// The HTTP/1.1 request head for an upstream that speaks only HTTP/1.1 (RFC 9113 8.3.1):
    /// `:authority` becomes `Host`, cookies are joined again, and a body of unknown length is chunked.
    func http1(hasBody: Bool) -> (bytes: [UInt8], chunked: Bool) {
        var text = "\(method) \(path.isEmpty ? "/" : path) HTTP/1.1\r\nHost: \(authority)\r\n"
        var cookies: [String] = []
        var hasLength = false
        for (name, value) in headers {
            switch name {
            case "cookie": cookies.append(value)
            case _ where HTTP2Session.connectionSpecificFields.contains(name): continue
            case "content-length": hasLength = true; text += "\(name): \(value)\r\n"
            default: text += "\(name): \(value)\r\n"
            }
        }
        if !cookies.isEmpty { text += "cookie: \(cookies.joined(separator: "; "))\r\n" }
        let chunked = hasBody && !hasLength
        if chunked { text += "transfer-encoding: chunked\r\n" }
        text += "\r\n"
        return (Array(text.utf8), chunked)
    }
}
