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
protocol HTTP2ClientLegSessionDelegate: AnyObject {
    func http2Request(_ head: HTTP2RequestHead, stream: Int32, endStream: Bool)
    func http2RequestData(_ bytes: [UInt8], stream: Int32)
    func http2RequestEnded(stream: Int32)
    /// The stream is gone: answered completely, or reset by either side (`errorCode` != 0).
    func http2StreamClosed(stream: Int32, errorCode: UInt32)
    /// The request's field block went over the limits; nothing of it was kept.
    func http2RequestHeadTooLarge(stream: Int32, size: Int, fields: Int, endStream: Bool)
    /// The client reset a stream (RST_STREAM received).
    func http2ClientReset(stream: Int32, errorCode: UInt32)
    /// nghttp2 refused a frame of the client's (see `HTTP2Session.invalidFrameReceived`);
    /// `atStreamLimit`: a HEADERS frame beyond `maxConcurrentStreams`.
    func http2InvalidFrame(type: UInt8, stream: Int32, error: Int32, atStreamLimit: Bool)
    /// A GOAWAY went to the client.
    func http2GoAwaySent(errorCode: UInt32, debugData: String)
}

/// The server side of HTTP/2 on the client leg: requests in, responses out.
final class HTTP2ClientLegSession: HTTP2Session {
    weak var delegate: HTTP2ClientLegSessionDelegate?
    private var partialHeads: [Int32: HTTP2RequestHead] = [:]
    /// Streams whose request head went over the limits: answered 431 once the block ends.
    private var oversizedHeads: [Int32: (size: Int, fields: Int)] = [:]
    /// Streams the client opened that are not closed yet (nghttp2 counts the same for its limit).
    private var openStreams: Set<Int32> = []

    /// Streams one client may have open at once; nghttp2 refuses more (RST_STREAM REFUSED_STREAM
    /// before our SETTINGS are acknowledged, PROTOCOL_ERROR after, RFC 9113 5.1.2).
    static let maxConcurrentStreams: UInt32 = 100

    init() throws {
        try super.init(server: true, settings: [(Int32(NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS.rawValue), Self.maxConcurrentStreams),
                                                (Int32(NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE.rawValue), UInt32(Self.maxHeaderListSize))])
    }

    override func headerListTooLarge(_ frame: nghttp2_frame, size: Int, fields: Int) -> Bool {
        let stream = frame.hd.stream_id
        guard partialHeads.removeValue(forKey: stream) != nil else { return true }  // trailers: the stream is reset
        oversizedHeads[stream] = (size, fields)
        return false
    }

    override func invalidFrameReceived(_ frame: nghttp2_frame, error: Int32) {
        let stream = frame.hd.stream_id
        let atLimit = frame.hd.type == UInt8(NGHTTP2_HEADERS.rawValue) && !openStreams.contains(stream)
            && openStreams.count >= Int(Self.maxConcurrentStreams)
        delegate?.http2InvalidFrame(type: frame.hd.type, stream: stream, error: error, atStreamLimit: atLimit)
    }

    override func goAwaySent(errorCode: UInt32, debugData: String) {
        delegate?.http2GoAwaySent(errorCode: errorCode, debugData: debugData)
    }

    override func beginHeaders(_ frame: nghttp2_frame) {
        guard frame.hd.type == UInt8(NGHTTP2_HEADERS.rawValue), frame.headers.cat == NGHTTP2_HCAT_REQUEST else { return }
        openStreams.insert(frame.hd.stream_id)
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
            if let oversized = oversizedHeads.removeValue(forKey: stream) {
                delegate?.http2RequestHeadTooLarge(stream: stream, size: oversized.size, fields: oversized.fields, endStream: endStream)
            } else if let head = partialHeads.removeValue(forKey: stream) {
                delegate?.http2Request(head, stream: stream, endStream: endStream)
            } else if endStream {
                delegate?.http2RequestEnded(stream: stream)  // request trailers end the body
            }
        case NGHTTP2_DATA.rawValue where endStream:
            delegate?.http2RequestEnded(stream: stream)
        case NGHTTP2_RST_STREAM.rawValue:
            delegate?.http2ClientReset(stream: stream, errorCode: frame.rst_stream.error_code)
        default:
            break
        }
    }

    override func dataReceived(_ bytes: [UInt8], stream: Int32) {
        delegate?.http2RequestData(bytes, stream: stream)
    }

    override func streamClosed(_ stream: Int32, errorCode: UInt32) {
        partialHeads[stream] = nil
        oversizedHeads[stream] = nil
        openStreams.remove(stream)
        delegate?.http2StreamClosed(stream: stream, errorCode: errorCode)
    }

    /// Starts a response; without `endStream`, the body follows through `send` and `finish`.
    func respond(stream: Int32, status: Int, headers: [(name: String, value: String)], endStream: Bool) {
        let fields = [(":status", String(status))] + headers.compactMap(Self.h2Field)
        let submitted = withNameValues(fields) { nva in
            if endStream { return nghttp2_submit_response(session, stream, nva.baseAddress, nva.count, nil) }
            openBody(stream: stream)
            var provider = bodyProvider
            return nghttp2_submit_response(session, stream, nva.baseAddress, nva.count, &provider)
        }
        // A response nghttp2 refused (a closed stream, no memory) must not leave the stream hanging.
        if submitted != 0 { reset(stream: stream) }
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

    /// RFC 9113 8.3.1: the target's authority is `:authority`, else the Host field (which a client
    /// may send instead). Returns why the request is refused when both name different authorities:
    /// an origin reading Host would serve another host than the one the proxy saw.
    mutating func resolveAuthority() -> String? {
        let hosts = headers.filter { $0.name == "host" }.map(\.value)
        if authority.isEmpty, let first = hosts.first { authority = first }
        guard let conflict = hosts.first(where: { $0.lowercased() != authority.lowercased() }) else { return nil }
        return "the request names two authorities, :authority '\(authority.prefix(200))' and host '\(conflict.prefix(200))' (RFC 9113 8.3.1)"
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
