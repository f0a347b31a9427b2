import CNGHTTP2

/// What both legs' nghttp2 sessions share: nghttp2 does framing, HPACK and flow control over bytes
/// the owner moves (`feed`, `takeOutput`), so a session sits on top of a TLS engine like the
/// HTTP/1.1 decoders do. Outgoing bodies (responses on the client leg, requests upstream) are
/// queued per stream and handed to nghttp2 as flow control allows. Subclasses turn nghttp2's
/// callbacks into their leg's events. Confined to one event loop.
class HTTP2Session {
    private(set) var session: OpaquePointer?
    private var bodies: [Int32: OutgoingBody] = [:]

    /// Bounds on one decoded field block (RFC 9113 10.5.1), like the HTTP/1.1 head's 64 KiB: an
    /// HPACK bomb decodes to far more than it weighs on the wire, and nghttp2 sets no bound itself.
    /// Counted as the RFC's SETTINGS_MAX_HEADER_LIST_SIZE does: name + value + 32 per field.
    static let maxHeaderListSize = 64 * 1024
    static let maxHeaderFields = 256
    /// The field block being decoded per stream: its size so far, and whether it went over.
    private var fieldBlocks: [Int32: (bytes: Int, fields: Int, over: Bool)] = [:]

    /// Body bytes waiting for nghttp2 to ask for them.
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

    /// Received DATA is acknowledged (WINDOW_UPDATE) only when the owner says it was passed on
    /// (`consumed`), so a fast sender to a slow receiver is held back instead of buffered.
    init(server: Bool, settings: [(Int32, UInt32)]) throws {
        var callbacks: OpaquePointer?
        guard nghttp2_session_callbacks_new(&callbacks) == 0 else { throw ProtocolError(description: "nghttp2_session_callbacks_new failed") }
        defer { nghttp2_session_callbacks_del(callbacks) }
        nghttp2_session_callbacks_set_on_begin_headers_callback(callbacks) { _, frame, user in
            guard let frame, let me = HTTP2Session.from(user) else { return 0 }
            me.fieldBlocks[frame.pointee.hd.stream_id] = (0, 0, false)
            me.beginHeaders(frame.pointee)
            return 0
        }
        nghttp2_session_callbacks_set_on_header_callback(callbacks) { _, frame, name, nameLength, value, valueLength, _, user in
            guard let frame, let name, let value, let me = HTTP2Session.from(user) else { return 0 }
            let stream = frame.pointee.hd.stream_id
            // Counted before anything is copied, so an oversized block costs no memory here.
            guard var block = me.fieldBlocks[stream], !block.over else { return 0 }
            block.bytes += nameLength + valueLength + 32
            block.fields += 1
            if block.bytes > HTTP2Session.maxHeaderListSize || block.fields > HTTP2Session.maxHeaderFields {
                block.over = true
                me.fieldBlocks[stream] = block
                // The rest of the block is still decoded by nghttp2 (HPACK state), never handed over.
                return me.headerListTooLarge(frame.pointee, size: block.bytes, fields: block.fields)
                    ? Int32(NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE.rawValue) : 0
            }
            me.fieldBlocks[stream] = block
            me.header(stream: stream,
                      name: String(decoding: UnsafeBufferPointer(start: name, count: nameLength), as: UTF8.self),
                      value: String(decoding: UnsafeBufferPointer(start: value, count: valueLength), as: UTF8.self))
            return 0
        }
        nghttp2_session_callbacks_set_on_frame_recv_callback(callbacks) { _, frame, user in
            guard let frame, let me = HTTP2Session.from(user) else { return 0 }
            me.frameReceived(frame.pointee)
            if frame.pointee.hd.type == UInt8(NGHTTP2_HEADERS.rawValue) { me.fieldBlocks[frame.pointee.hd.stream_id] = nil }
            return 0
        }
        nghttp2_session_callbacks_set_on_invalid_frame_recv_callback(callbacks) { _, frame, libError, user in
            guard let frame, let me = HTTP2Session.from(user) else { return 0 }
            me.invalidFrameReceived(frame.pointee, error: libError)
            return 0
        }
        nghttp2_session_callbacks_set_on_frame_send_callback(callbacks) { _, frame, user in
            guard let frame, let me = HTTP2Session.from(user), frame.pointee.hd.type == UInt8(NGHTTP2_GOAWAY.rawValue) else { return 0 }
            let goAway = frame.pointee.goaway
            let debug = goAway.opaque_data.map { String(decoding: UnsafeBufferPointer(start: $0, count: goAway.opaque_data_len), as: UTF8.self) } ?? ""
            me.goAwaySent(errorCode: goAway.error_code, debugData: debug)
            return 0
        }
        nghttp2_session_callbacks_set_on_data_chunk_recv_callback(callbacks) { _, _, stream, data, length, user in
            guard let data, let me = HTTP2Session.from(user) else { return 0 }
            me.dataReceived(Array(UnsafeBufferPointer(start: data, count: length)), stream: stream)
            return 0
        }
        nghttp2_session_callbacks_set_on_stream_close_callback(callbacks) { _, stream, errorCode, user in
            guard let me = HTTP2Session.from(user) else { return 0 }
            me.bodies[stream] = nil
            me.fieldBlocks[stream] = nil
            me.streamClosed(stream, errorCode: errorCode)
            return 0
        }
        var options: OpaquePointer?
        guard nghttp2_option_new(&options) == 0 else { throw ProtocolError(description: "nghttp2_option_new failed") }
        defer { nghttp2_option_del(options) }
        nghttp2_option_set_no_auto_window_update(options, 1)
        var made: OpaquePointer?
        let user = Unmanaged.passUnretained(self).toOpaque()
        let result = server ? nghttp2_session_server_new2(&made, callbacks, user, options)
                            : nghttp2_session_client_new2(&made, callbacks, user, options)
        guard result == 0 else { throw ProtocolError(description: "nghttp2_session_\(server ? "server" : "client")_new failed") }
        session = made
        var entries = settings.map { nghttp2_settings_entry(settings_id: $0.0, value: $0.1) }
        // Our limits are in these SETTINGS (header list size, concurrent streams): no session without them.
        let submitted = nghttp2_submit_settings(made, UInt8(NGHTTP2_FLAG_NONE.rawValue), &entries, entries.count)
        guard submitted == 0 else { throw ProtocolError(description: "nghttp2_submit_settings failed: \(String(cString: nghttp2_strerror(submitted)))") }
    }

    deinit { nghttp2_session_del(session) }

    private static func from(_ user: UnsafeMutableRawPointer?) -> HTTP2Session? {
        user.map { Unmanaged<HTTP2Session>.fromOpaque($0).takeUnretainedValue() }
    }

    // MARK: Events, for subclasses

    func beginHeaders(_ frame: nghttp2_frame) {}
    func header(stream: Int32, name: String, value: String) {}
    /// The frame's field block went over `maxHeaderListSize` or `maxHeaderFields`; no more of its
    /// fields arrive. Returns whether nghttp2 should reset the stream (RST_STREAM INTERNAL_ERROR).
    func headerListTooLarge(_ frame: nghttp2_frame, size: Int, fields: Int) -> Bool { true }
    func frameReceived(_ frame: nghttp2_frame) {}
    /// nghttp2 rejected a frame (`error` is its library error code), answering with RST_STREAM
    /// (a stream beyond the concurrency limit, a malformed request) or GOAWAY.
    func invalidFrameReceived(_ frame: nghttp2_frame, error: Int32) {}
    /// A GOAWAY left: ours, or nghttp2's answer to a connection error (its code and reason).
    func goAwaySent(errorCode: UInt32, debugData: String) {}
    func dataReceived(_ bytes: [UInt8], stream: Int32) {}
    /// The stream is gone: completed, or reset by either side (`errorCode` != 0).
    func streamClosed(_ stream: Int32, errorCode: UInt32) {}

    // MARK: Bytes in and out

    /// nghttp2 declared the session dead (a flood, a broken preface, a failed callback): it parses
    /// nothing more. `code` is its library error code.
    struct FatalError: Error, CustomStringConvertible {
        let code: Int32
        var description: String { String(cString: nghttp2_strerror(code)) }
        /// Floods of frames the peer does not read (FLOODED), or of CONTINUATION frames (-905,
        /// NGHTTP2_ERR_CONTINUATION_FLOOD in nghttp2 1.61; Debian's 1.52 has the check, not the name).
        var isFlood: Bool { code == NGHTTP2_ERR_FLOODED.rawValue || code == -905 }
    }

    /// Hands received bytes to nghttp2. A connection error it can name (a window overflow, a bad
    /// frame) ends the session with a GOAWAY it queues itself; a fatal one throws `FatalError`.
    func feed(_ bytes: [UInt8]) throws {
        let result = bytes.withUnsafeBufferPointer { nghttp2_session_mem_recv(session, $0.baseAddress, $0.count) }
        if result < 0 { throw FatalError(code: Int32(result)) }
    }

    /// Queues GOAWAY with `errorCode` and ends the session once it is sent (no new streams, the
    /// open ones dropped). Also after a fatal error, when nghttp2 queued nothing itself.
    func terminate(errorCode: UInt32) {
        _ = nghttp2_session_terminate_session(session, errorCode)  // fails only when already terminating
    }

    /// Frames ready to go to the peer, up to about `limit` bytes (the frame that crosses it is
    /// included): a caller with a limit calls again until it gets nothing. Pieces of a bounded size
    /// keep a bulk body from being copied again at every doubling of one growing array.
    func takeOutput(limit: Int = .max) -> [UInt8] {
        var output: [UInt8] = []
        while output.count < limit {
            var data: UnsafePointer<UInt8>?
            let length = nghttp2_session_mem_send(session, &data)
            guard length > 0, let data else { break }
            if output.isEmpty && limit != .max { output.reserveCapacity(limit + Self.largestFrame) }
            output.append(contentsOf: UnsafeBufferPointer(start: data, count: length))
        }
        return output
    }

    /// A DATA frame as nghttp2 writes it by default: 16 KiB of payload and the 9-byte header.
    static let largestFrame = 16_384 + 9

    /// Whether the session still has work: false once GOAWAY is done both ways.
    var isAlive: Bool { nghttp2_session_want_read(session) != 0 || nghttp2_session_want_write(session) != 0 }

    /// Opens the flow-control window again for `count` received DATA bytes the stream has passed on.
    func consumed(_ count: Int, stream: Int32) {
        guard count > 0 else { return }
        if nghttp2_session_consume(session, stream, count) != 0 {
            nghttp2_session_consume_connection(session, count)  // the stream is gone; the connection still counts them
        }
    }

    // MARK: Outgoing bodies

    /// Opens the stream's body queue, read by nghttp2 through `bodyProvider`.
    func openBody(stream: Int32) {
        bodies[stream] = OutgoingBody()
    }

    /// A data provider that reads whichever stream's queue nghttp2 asks for.
    var bodyProvider: nghttp2_data_provider {
        var provider = nghttp2_data_provider()
        provider.read_callback = { session, stream, buffer, length, flags, _, user in
            guard let me = HTTP2Session.from(user), let buffer, let flags else { return Int(NGHTTP2_ERR_CALLBACK_FAILURE.rawValue) }
            return me.readBody(session: session, stream: stream, into: buffer, length: length, flags: flags)
        }
        return provider
    }

    /// Queues body bytes; how many are still queued (for backpressure) is returned.
    @discardableResult
    func send(_ bytes: [UInt8], stream: Int32) -> Int {
        guard let body = bodies[stream], !bytes.isEmpty else { return 0 }
        // Drop what nghttp2 already took, so a long body never accumulates its sent prefix.
        if body.offset == body.queued.count {
            body.queued = []
            body.offset = 0
        } else if body.offset >= 64 * 1024 && body.offset >= body.pending {
            body.queued.removeFirst(body.offset)
            body.offset = 0
        }
        body.queued.append(contentsOf: bytes)
        _ = nghttp2_session_resume_data(session, stream)  // "invalid argument" only when not deferred: nothing to resume
        return body.pending
    }

    /// Body bytes of the stream not yet taken by nghttp2.
    func queuedBytes(stream: Int32) -> Int { bodies[stream]?.pending ?? 0 }

    /// Ends the body, with trailers when there are any (gRPC's status lives there).
    func finish(stream: Int32, trailers: [(name: String, value: String)] = []) {
        guard let body = bodies[stream] else { return }
        body.ended = true
        body.trailers = trailers
        _ = nghttp2_session_resume_data(session, stream)  // as in `send`
    }

    /// Resets one stream; the others go on.
    func reset(stream: Int32, errorCode: UInt32 = NGHTTP2_INTERNAL_ERROR.rawValue) {
        bodies[stream] = nil
        _ = nghttp2_submit_rst_stream(session, UInt8(NGHTTP2_FLAG_NONE.rawValue), stream, errorCode)  // fails only for stream 0 or without memory
    }

    /// Announces that no new streams will be accepted; open ones finish (a graceful GOAWAY naming
    /// the last stream taken, not nghttp2_session_terminate_session, which ends the session).
    func goAway() {
        let submitted = nghttp2_submit_goaway(session, UInt8(NGHTTP2_FLAG_NONE.rawValue), nghttp2_session_get_last_proc_stream_id(session),
                                              NGHTTP2_NO_ERROR.rawValue, nil, 0)
        if submitted != 0 { terminate(errorCode: NGHTTP2_NO_ERROR.rawValue) }  // the peer must still learn that we stop
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
                let submitted = withNameValues(body.trailers.compactMap(Self.h2Field)) { nva in
                    nghttp2_submit_trailer(session, stream, nva.baseAddress, nva.count)
                }
                // Ending the stream without its trailers would lose gRPC's status: reset it instead.
                if submitted != 0 { return Int(NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE.rawValue) }
            }
        }
        return count
    }

    // MARK: Fields

    /// Fields that describe one HTTP/1.1 connection (RFC 9113 8.2.2), and `host`, which is :authority in h2.
    static let connectionSpecificFields: Set<String> = ["connection", "keep-alive", "proxy-connection", "transfer-encoding", "upgrade", "host"]

    /// HTTP/2 field names are lower case, and connection-specific fields are not allowed (RFC 9113 8.2.2).
    static func h2Field(_ field: (name: String, value: String)) -> (String, String)? {
        let name = field.name.lowercased()
        if connectionSpecificFields.contains(name) { return nil }
        if name == "te" && field.value.lowercased() != "trailers" { return nil }
        return (name, field.value)
    }

    /// Builds an nghttp2_nv array over one byte buffer that lives for the duration of `body`
    /// (nghttp2 copies the fields it is given).
    func withNameValues<Result>(_ fields: [(String, String)], _ body: (UnsafeMutableBufferPointer<nghttp2_nv>) -> Result) -> Result {
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
        return bytes.withUnsafeMutableBufferPointer { storage in
            var nva = spans.map { span in
                nghttp2_nv(name: storage.baseAddress! + span.0, value: storage.baseAddress! + span.2,
                           namelen: span.1, valuelen: span.3, flags: UInt8(NGHTTP2_NV_FLAG_NONE.rawValue))
            }
            return nva.withUnsafeMutableBufferPointer { body($0) }
        }
    }

    /// The RFC's name for an error code, for flow events ("INTERNAL_ERROR").
    static func errorName(_ code: UInt32) -> String {
        let name = String(cString: nghttp2_http2_strerror(code))
        return name == "unknown" ? "error \(code)" : name
    }
}
