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

/// The server side of HTTP/2 on the client leg: nghttp2 does framing, HPACK and flow control over
/// bytes the owner moves (`feed`, `takeOutput`), so it sits on top of the TLS engine like the
/// HTTP/1.1 decoders do. Confined to the connection's event loop.
final class HTTP2ServerSession {
    weak var delegate: HTTP2ServerSessionDelegate?
    private var session: OpaquePointer?
    private var partialHeads: [Int32: HTTP2RequestHead] = [:]
    private var bodies: [Int32: OutgoingBody] = [:]

    /// Response bytes waiting for nghttp2 to ask for them (flow control decides when).
    private final class OutgoingBody {
        var queued: [UInt8] = []
        var offset = 0
        var ended = false
        var trailers: [(name: String, value: String)] = []
        var pending: Int { queued.count - offset }
    }

    struct ProtocolError: Error, CustomStringConvertible {
        let description: String
    }

    init(maxConcurrentStreams: UInt32 = 128) throws {
        var callbacks: OpaquePointer?
        guard nghttp2_session_callbacks_new(&callbacks) == 0 else { throw ProtocolError(description: "nghttp2_session_callbacks_new failed") }
        defer { nghttp2_session_callbacks_del(callbacks) }
        nghttp2_session_callbacks_set_on_begin_headers_callback(callbacks) { _, frame, user in
            guard let frame, let me = HTTP2ServerSession.from(user), frame.pointee.hd.type == UInt8(NGHTTP2_HEADERS.rawValue),
                  frame.pointee.headers.cat == NGHTTP2_HCAT_REQUEST else { return 0 }
            me.partialHeads[frame.pointee.hd.stream_id] = HTTP2RequestHead()
            return 0
        }
        nghttp2_session_callbacks_set_on_header_callback(callbacks) { _, frame, name, nameLength, value, valueLength, _, user in
            guard let frame, let name, let value, let me = HTTP2ServerSession.from(user),
                  me.partialHeads[frame.pointee.hd.stream_id] != nil else { return 0 }
            let field = String(decoding: UnsafeBufferPointer(start: name, count: nameLength), as: UTF8.self)
            let text = String(decoding: UnsafeBufferPointer(start: value, count: valueLength), as: UTF8.self)
            me.partialHeads[frame.pointee.hd.stream_id]?.add(field, text)
            return 0
        }
        nghttp2_session_callbacks_set_on_frame_recv_callback(callbacks) { _, frame, user in
            guard let frame, let me = HTTP2ServerSession.from(user) else { return 0 }
            me.frameReceived(frame.pointee)
            return 0
        }
        nghttp2_session_callbacks_set_on_data_chunk_recv_callback(callbacks) { session, _, stream, data, length, user in
            guard let data, let me = HTTP2ServerSession.from(user) else { return 0 }
            me.delegate?.http2RequestData(Array(UnsafeBufferPointer(start: data, count: length)), stream: stream)
            return 0
        }
        nghttp2_session_callbacks_set_on_stream_close_callback(callbacks) { _, stream, errorCode, user in
            guard let me = HTTP2ServerSession.from(user) else { return 0 }
            me.partialHeads[stream] = nil
            me.bodies[stream] = nil
            me.delegate?.http2StreamClosed(stream: stream, errorCode: errorCode)
            return 0
        }
        // Request bodies are acknowledged (WINDOW_UPDATE) only once the upstream has taken them
        // (`consumed`), so a fast uploader to a slow origin is held back instead of buffered.
        var options: OpaquePointer?
        guard nghttp2_option_new(&options) == 0 else { throw ProtocolError(description: "nghttp2_option_new failed") }
        defer { nghttp2_option_del(options) }
        nghttp2_option_set_no_auto_window_update(options, 1)
        var server: OpaquePointer?
        guard nghttp2_session_server_new2(&server, callbacks, Unmanaged.passUnretained(self).toOpaque(), options) == 0 else {
            throw ProtocolError(description: "nghttp2_session_server_new failed")
        }
        session = server
        var settings = [nghttp2_settings_entry(settings_id: Int32(NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS.rawValue), value: maxConcurrentStreams)]
        nghttp2_submit_settings(server, UInt8(NGHTTP2_FLAG_NONE.rawValue), &settings, settings.count)
    }

    deinit { nghttp2_session_del(session) }

    private static func from(_ user: UnsafeMutableRawPointer?) -> HTTP2ServerSession? {
        user.map { Unmanaged<HTTP2ServerSession>.fromOpaque($0).takeUnretainedValue() }
    }

    private func frameReceived(_ frame: nghttp2_frame) {
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

    /// Hands received bytes to nghttp2; a protocol violation ends the session (nghttp2 queues GOAWAY).
    func feed(_ bytes: [UInt8]) throws {
        let result = bytes.withUnsafeBufferPointer { nghttp2_session_mem_recv(session, $0.baseAddress, $0.count) }
        if result < 0 { throw ProtocolError(description: String(cString: nghttp2_strerror(Int32(result)))) }
    }

    /// Frames ready to go to the client.
    func takeOutput() -> [UInt8] {
        var output: [UInt8] = []
        while true {
            var data: UnsafePointer<UInt8>?
            let length = nghttp2_session_mem_send(session, &data)
            guard length > 0, let data else { break }
            output.append(contentsOf: UnsafeBufferPointer(start: data, count: length))
        }
        return output
    }

    /// Whether the session still has work: false once GOAWAY is done both ways.
    var isAlive: Bool { nghttp2_session_want_read(session) != 0 || nghttp2_session_want_write(session) != 0 }

    /// Opens the flow-control window again for `count` request-body bytes the stream has passed on.
    func consumed(_ count: Int, stream: Int32) {
        guard count > 0 else { return }
        if nghttp2_session_consume(session, stream, count) != 0 {
            nghttp2_session_consume_connection(session, count)  // the stream is gone; the connection still counts them
        }
    }

    /// Starts a response; without `endStream`, the body follows through `send` and `finish`.
    func respond(stream: Int32, status: Int, headers: [(name: String, value: String)], endStream: Bool) {
        let fields = [(":status", String(status))] + headers.compactMap(Self.h2Field)
        withNameValues(fields) { nva in
            if endStream {
                _ = nghttp2_submit_response(session, stream, nva.baseAddress, nva.count, nil)
                return
            }
            bodies[stream] = OutgoingBody()
            var provider = nghttp2_data_provider()
            provider.read_callback = { session, stream, buffer, length, flags, _, user in
                guard let me = HTTP2ServerSession.from(user), let buffer, let flags else { return Int(NGHTTP2_ERR_CALLBACK_FAILURE.rawValue) }
                return me.readBody(session: session, stream: stream, into: buffer, length: length, flags: flags)
            }
            _ = nghttp2_submit_response(session, stream, nva.baseAddress, nva.count, &provider)
        }
    }

    /// Queues response body bytes; how many are still queued (for backpressure) is returned.
    @discardableResult
    func send(_ bytes: [UInt8], stream: Int32) -> Int {
        guard let body = bodies[stream], !bytes.isEmpty else { return 0 }
        // Drop what nghttp2 already took, so a long response never accumulates its sent prefix.
        if body.offset == body.queued.count {
            body.queued = []
            body.offset = 0
        } else if body.offset >= 64 * 1024 && body.offset >= body.pending {
            body.queued.removeFirst(body.offset)
            body.offset = 0
        }
        body.queued.append(contentsOf: bytes)
        nghttp2_session_resume_data(session, stream)
        return body.pending
    }

    /// Bytes of the stream's response not yet taken by nghttp2.
    func queuedBytes(stream: Int32) -> Int { bodies[stream]?.pending ?? 0 }

    /// Ends the response body, with trailers when there are any (gRPC's status lives there).
    func finish(stream: Int32, trailers: [(name: String, value: String)] = []) {
        guard let body = bodies[stream] else { return }
        body.ended = true
        body.trailers = trailers
        nghttp2_session_resume_data(session, stream)
    }

    /// Resets one stream; the others go on.
    func reset(stream: Int32, errorCode: UInt32 = NGHTTP2_INTERNAL_ERROR.rawValue) {
        bodies[stream] = nil
        nghttp2_submit_rst_stream(session, UInt8(NGHTTP2_FLAG_NONE.rawValue), stream, errorCode)
    }

    /// Announces that no new streams will be accepted; open ones finish (a graceful GOAWAY naming
    /// the last stream taken, not nghttp2_session_terminate_session, which ends the session).
    func goAway() {
        nghttp2_submit_goaway(session, UInt8(NGHTTP2_FLAG_NONE.rawValue), nghttp2_session_get_last_proc_stream_id(session),
                              NGHTTP2_NO_ERROR.rawValue, nil, 0)
    }

    private func readBody(session: OpaquePointer?, stream: Int32, into buffer: UnsafeMutablePointer<UInt8>, length: Int,
                          flags: UnsafeMutablePointer<UInt32>) -> Int {
        guard let body = bodies[stream] else { return Int(NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE.rawValue) }
        let count = min(length, body.pending)
        if count > 0 {
            body.queued.withUnsafeBufferPointer { source in
                buffer.update(from: source.baseAddress! + body.offset, count: count)
            }
            body.offset += count
        }
        if body.pending == 0 {
            if !body.ended { return count > 0 ? count : Int(NGHTTP2_ERR_DEFERRED.rawValue) }
            flags.pointee |= NGHTTP2_DATA_FLAG_EOF.rawValue
            if !body.trailers.isEmpty {
                flags.pointee |= NGHTTP2_DATA_FLAG_NO_END_STREAM.rawValue
                withNameValues(body.trailers.compactMap(Self.h2Field)) { nva in
                    _ = nghttp2_submit_trailer(session, stream, nva.baseAddress, nva.count)
                }
            }
        }
        return count
    }

    /// HTTP/2 field names are lower case, and connection-specific fields are not allowed (RFC 9113 8.2.2).
    static func h2Field(_ field: (name: String, value: String)) -> (String, String)? {
        let name = field.name.lowercased()
        if ["connection", "keep-alive", "proxy-connection", "transfer-encoding", "upgrade", "host"].contains(name) { return nil }
        if name == "te" && field.value.lowercased() != "trailers" { return nil }
        return (name, field.value)
    }

    /// Builds an nghttp2_nv array over one byte buffer that lives for the duration of `body`
    /// (nghttp2 copies the fields it is given).
    private func withNameValues(_ fields: [(String, String)], _ body: (UnsafeMutableBufferPointer<nghttp2_nv>) -> Void) {
        var bytes: [UInt8] = []
        var spans: [(Int, Int, Int, Int)] = []
        for (name, value) in fields {
            let nameStart = bytes.count
            bytes.append(contentsOf: name.utf8)
            let valueStart = bytes.count
            bytes.append(contentsOf: value.utf8)
            spans.append((nameStart, valueStart - nameStart, valueStart, bytes.count - valueStart))
        }
        bytes.append(0)  // never empty, so baseAddress is never nil
        bytes.withUnsafeMutableBufferPointer { storage in
            var nva = spans.map { span in
                nghttp2_nv(name: storage.baseAddress! + span.0, value: storage.baseAddress! + span.2,
                           namelen: span.1, valuelen: span.3, flags: UInt8(NGHTTP2_NV_FLAG_NONE.rawValue))
            }
            nva.withUnsafeMutableBufferPointer { body($0) }
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
            case "host", "connection", "keep-alive", "proxy-connection", "transfer-encoding", "upgrade": continue
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
