import CNGHTTP2

/// Events of an upstream HTTP/2 session, per stream, in the order nghttp2 parses them.
protocol HTTP2UpstreamSessionDelegate: AnyObject {
    /// A final response head (interim 1xx heads are not reported).
    func http2Response(_ head: HTTPResponseHead, stream: Int32)
    func http2ResponseData(_ bytes: [UInt8], stream: Int32)
    func http2ResponseTrailers(_ fields: [(name: String, value: String)], stream: Int32)
    /// END_STREAM: the response is complete.
    func http2ResponseEnded(stream: Int32)
    /// The stream is gone; `errorCode` != 0 when it was reset (REFUSED_STREAM also for streams a GOAWAY did not cover).
    func http2StreamClosed(stream: Int32, errorCode: UInt32)
    /// The upstream will take no new streams; those above `lastStream` were never processed.
    func http2GoAway(lastStream: Int32, errorCode: UInt32)
}

/// The client side of HTTP/2 on the upstream leg: requests out, responses in.
final class HTTP2UpstreamSession: HTTP2Session {
    weak var delegate: HTTP2UpstreamSessionDelegate?
    /// Fields of a HEADERS frame being received: a response head, or trailers when it has no `:status`.
    private var partialFields: [Int32: [(name: String, value: String)]] = [:]

    /// Per-stream receive window; response DATA is acknowledged as the client leg takes it (`consumed`).
    static let streamWindow: UInt32 = 1 << 20

    init() throws {
        try super.init(server: false, settings: [(Int32(NGHTTP2_SETTINGS_ENABLE_PUSH.rawValue), 0),
                                                 (Int32(NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE.rawValue), Self.streamWindow),
                                                 (Int32(NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE.rawValue), UInt32(Self.maxHeaderListSize))])
        // The connection window bounds all streams together; wide enough that one paused stream does not stall the rest.
        guard nghttp2_session_set_local_window_size(session, UInt8(NGHTTP2_FLAG_NONE.rawValue), 0, 16 << 20) == 0 else {
            throw ProtocolError(description: "nghttp2_session_set_local_window_size failed")
        }
    }

    /// Submits a request; the body, unless `endStream`, follows through `send` and `finish`.
    /// Returns the stream id, or nil when nghttp2 refuses (no stream ids left, session going away).
    func request(_ fields: [(String, String)], endStream: Bool) -> Int32? {
        let stream: Int32 = withNameValues(fields) { nva in
            if endStream { return nghttp2_submit_request(session, nil, nva.baseAddress, nva.count, nil, nil) }
            var provider = bodyProvider
            return nghttp2_submit_request(session, nil, nva.baseAddress, nva.count, &provider, nil)
        }
        guard stream > 0 else { return nil }
        if !endStream { openBody(stream: stream) }  // read only from `takeOutput`, after this
        return stream
    }

    override func beginHeaders(_ frame: nghttp2_frame) {
        guard frame.hd.type == UInt8(NGHTTP2_HEADERS.rawValue) else { return }
        partialFields[frame.hd.stream_id] = []
    }

    override func header(stream: Int32, name: String, value: String) {
        partialFields[stream]?.append((name, value))
    }

    /// An origin's oversized head is not relayed: the stream is reset and fails like any other reset.
    override func headerListTooLarge(_ frame: nghttp2_frame, size: Int, fields: Int) -> Bool {
        partialFields[frame.hd.stream_id] = nil
        return true
    }

    override func frameReceived(_ frame: nghttp2_frame) {
        let stream = frame.hd.stream_id
        let endStream = frame.hd.flags & UInt8(NGHTTP2_FLAG_END_STREAM.rawValue) != 0
        switch UInt32(frame.hd.type) {
        case NGHTTP2_HEADERS.rawValue:
            guard let fields = partialFields.removeValue(forKey: stream) else { break }
            if let status = fields.first(where: { $0.name == ":status" }).flatMap({ Int($0.value) }) {
                if (100..<200).contains(status) { return }  // interim: the final head follows
                let regular = fields.filter { !$0.name.hasPrefix(":") }
                delegate?.http2Response(HTTPResponseHead(version: "HTTP/2", status: status, reason: "", headers: regular), stream: stream)
            } else {
                delegate?.http2ResponseTrailers(fields, stream: stream)
            }
            if endStream { delegate?.http2ResponseEnded(stream: stream) }
        case NGHTTP2_DATA.rawValue where endStream:
            delegate?.http2ResponseEnded(stream: stream)
        case NGHTTP2_GOAWAY.rawValue:
            delegate?.http2GoAway(lastStream: frame.goaway.last_stream_id, errorCode: frame.goaway.error_code)
        default:
            break
        }
    }

    override func dataReceived(_ bytes: [UInt8], stream: Int32) {
        delegate?.http2ResponseData(bytes, stream: stream)
    }

    override func streamClosed(_ stream: Int32, errorCode: UInt32) {
        partialFields[stream] = nil
        delegate?.http2StreamClosed(stream: stream, errorCode: errorCode)
    }
}
