import CNGHTTP2
import FoundationEssentials
import Dispatch

/// A tunnel whose client negotiated h2: each stream becomes one exchange (HTTP2ClientStream),
/// answered locally (offline, catalogue) or forwarded over the tunnel's `UpstreamPool`.
/// Hostile clients meet bounds here: streams start only after the whole read is parsed (a stream
/// opened and reset in one read never starts), resets are rate-limited, a dead session ends the
/// connection once with one flow event, and an idle connection ends after `http2IdleTimeout`.
/// Owned by its ClientConnection and confined to that connection's loop (the `@unchecked
/// Sendable` only lets timers carry it there).
final class HTTP2ClientLeg: HTTP2ClientLegSessionDelegate, UpstreamPoolOwner, @unchecked Sendable {
    /// The connection, seen as a `ClientLegHost`. Strong, like its reference to the leg:
    /// `ClientConnection.clientClosed` breaks the cycle.
    let host: ClientLegHost
    let session: HTTP2ClientLegSession
    private(set) var streams: [Int32: HTTP2ClientStream] = [:]
    /// The tunnel's upstream connections, shared by its streams (owned by the connection; nil offline).
    let pool: UpstreamPool?

    init(host: ClientLegHost, pool: UpstreamPool?) throws {
        self.host = host
        self.pool = pool
        session = try HTTP2ClientLegSession()
        idle = IdleDeadline(timeout: host.http2IdleTimeout)
        session.delegate = self
        pool?.owner = self
        armIdleTimer(after: idle.timeout)
    }

    /// Set while nghttp2 parses input: its callbacks start streams that may answer at once, and
    /// nghttp2 must not be asked for output from inside its own callbacks.
    private var receiving = false
    /// What nghttp2 reported during one read, dispatched once the read is parsed (`dispatch`).
    private var batch: [SessionEvent] = []
    private enum SessionEvent {
        case request(HTTP2RequestHead, stream: Int32, endStream: Bool)
        case headTooLarge(stream: Int32, size: Int, fields: Int)
        case data([UInt8], stream: Int32)
        case ended(stream: Int32)
        case closed(stream: Int32, errorCode: UInt32)
    }
    /// Set once the connection is ending for a connection-level reason (a dead session, a flood,
    /// rapid resets, idleness): its one flow event is recorded, nothing starts any more.
    private var ending = false
    /// Set once the last frames are queued and the connection half-closed (`closeConnection`).
    private var closing = false
    private var resets = ResetRateLimit()
    /// Kinds of refused frames already recorded for this connection (one event each), and those
    /// waiting for `flush` (see `recordRefusals`).
    private var recordedRefusals: Set<String> = []
    private var refusals: [(cause: FlowCause, detail: String, stream: Int32)] = []
    private var idle: IdleDeadline
    private var idleTimer: LoopTimer?
    /// A closing connection whose client does not read its last frames is closed after this.
    static let closeGracePeriod: TimeInterval = 5
    /// Frames are encrypted and written in pieces of about this size (four full TLS records).
    static let outputPiece = 64 * 1024

    /// Decrypted bytes from the client.
    func receive(_ bytes: [UInt8]) {
        host.loop.assertInEventLoop()
        guard !ending, !closing else { return }
        idle.touch()
        receiving = true
        do {
            try session.feed(bytes)
        } catch let error as HTTP2Session.FatalError {
            // nghttp2 parses nothing more and queued no GOAWAY of its own: ours says why.
            end(cause: error.isFlood ? .h2Flood : .h2ProtocolError, "the client's HTTP/2 session is dead: \(error)",
                errorCode: error.isFlood ? NGHTTP2_ENHANCE_YOUR_CALM.rawValue : NGHTTP2_PROTOCOL_ERROR.rawValue)
        } catch {
            end(cause: .h2ProtocolError, "the client's HTTP/2 session is dead: \(error)", errorCode: NGHTTP2_PROTOCOL_ERROR.rawValue)
        }
        receiving = false
        dispatch()
        flush()
    }

    /// Moves whatever nghttp2 has ready to the client, unless the socket is backed up (the
    /// connection's drain calls this again) or nghttp2 is mid-parse (`receive` flushes after).
    /// An ending connection's last frames go out whatever is queued: nghttp2 bounds them.
    func flush() {
        host.loop.assertInEventLoop()
        guard !receiving, !closing, ending || host.clientPendingOutbound < ClientConnection.backpressureLimit else { return }
        repeat {
            let output = session.takeOutput(limit: Self.outputPiece)
            recordRefusals()
            guard !output.isEmpty else { break }
            host.sendToClient(output)
        } while !closing && (ending || host.clientPendingOutbound < ClientConnection.backpressureLimit)
        for exchange in streams.values { exchange.resumeIfDrained() }
        if ending || !session.isAlive { closeConnection() }
    }

    /// Ends the connection for a connection-level reason: one flow event, GOAWAY `errorCode`
    /// (nil when nghttp2 sent its own), nothing more parsed; `flush` closes once it is sent.
    private func end(cause: FlowCause, _ detail: String, errorCode: UInt32?) {
        guard !ending else { return }
        ending = true
        host.recordError(cause, detail, status: nil, url: nil, streamId: nil)
        if let errorCode { session.terminate(errorCode: errorCode) }
    }

    /// After the last frames: close_notify and FIN once they are sent. What the client still
    /// sends is read and dropped unparsed (`receive`) until its EOF ends the connection: closing
    /// with unread input would answer with RST, which can discard the GOAWAY at the client. A
    /// client that neither reads nor stops (a flood's sender) is cut off after a grace period.
    private func closeConnection() {
        guard !closing, !host.isClosing else { return }
        closing = true
        host.finishWriting(closingAfter: Self.closeGracePeriod)
    }

    /// Starts what the read brought, in order, except streams opened and reset within it: those
    /// never start (no request event, no upstream), so a rapid reset costs no dial.
    private func dispatch() {
        let events = batch
        batch = []
        var opened: Set<Int32> = [], stillborn: Set<Int32> = []
        for event in events {
            switch event {
            case let .request(_, stream, _), let .headTooLarge(stream, _, _): opened.insert(stream)
            case let .closed(stream, _) where opened.contains(stream): stillborn.insert(stream)
            default: break
            }
        }
        for event in events {
            switch event {
            case let .request(head, stream, endStream):
                guard !ending, !stillborn.contains(stream) else { continue }
                let exchange = HTTP2ClientStream(stream: stream, head: head, leg: self, context: host)
                streams[stream] = exchange
                exchange.begin(endStream: endStream)
            case let .headTooLarge(stream, size, fields):
                guard !ending, !stillborn.contains(stream) else { continue }
                rejectHead(stream: stream, size: size, fields: fields)
            case let .data(bytes, stream):
                http2RequestData(bytes, stream: stream)
            case let .ended(stream):
                http2RequestEnded(stream: stream)
            case let .closed(stream, errorCode):
                http2StreamClosed(stream: stream, errorCode: errorCode)
            }
        }
    }

    /// 431 for a request whose fields decode to more than the limits (RFC 9113 10.5.1); any body
    /// the client still sends is acknowledged and dropped (`http2RequestData`).
    private func rejectHead(stream: Int32, size: Int, fields: Int) {
        let reason = "stream \(stream): the request's header list exceeds \(HTTP2Session.maxHeaderListSize) bytes or \(HTTP2Session.maxHeaderFields) fields "
            + "(at least \(size) bytes in \(fields) fields decoded when it was cut off)"
        host.recordError(.h2HeaderListTooLarge, reason, status: 431, url: nil, streamId: stream)
        let response = HTTPResponse.text(431, "intercept-proxy: \(reason)")
        session.respond(stream: stream, status: 431, headers: response.headers.map { (name: $0.0, value: $0.1) } + [("content-length", String(response.body.count))],
                        endStream: false)
        session.send(response.body, stream: stream)
        session.finish(stream: stream)
    }

    // MARK: Idle connections

    private func armIdleTimer(after delay: TimeInterval) {
        guard idle.timeout > 0 else { return }
        let timer = idleTimer ?? LoopTimer(loop: host.loop) { [weak self] in self?.idleTimerFired() }
        idleTimer = timer
        timer.arm(after: max(delay, 0.05))
    }

    /// With no stream open and nothing received for the whole period: GOAWAY NO_ERROR and close.
    private func idleTimerFired() {
        guard !ending, !host.isClosing else { return }
        let remaining = idle.remaining()
        guard streams.isEmpty, remaining <= 0 else {
            armIdleTimer(after: streams.isEmpty ? remaining : idle.timeout)
            return
        }
        end(cause: .idleTimeout, "h2 connection idle for \(Self.seconds(idle.timeout)) s", errorCode: NGHTTP2_NO_ERROR.rawValue)
        flush()
    }

    private static func seconds(_ value: Double) -> String {
        value == value.rounded() ? String(Int(value)) : String(value)
    }

    /// Graceful shutdown: no new streams, open ones finish.
    func goAway() {
        host.loop.assertInEventLoop()
        session.goAway()
        flush()
    }

    var hasOpenStreams: Bool { !streams.isEmpty }

    /// The client connection is gone: every upstream goes too.
    func closeAll() {
        host.loop.assertInEventLoop()
        idleTimer?.cancel()
        pool?.cancelWaiting()
        for exchange in streams.values { exchange.abandon(quietly: ending) }
        streams = [:]
    }

    // MARK: UpstreamPoolOwner

    func upstreamPoolInputProcessed() {
        host.loop.assertInEventLoop()
        flush()  // once per upstream read, so a stream's last DATA and END_STREAM share a frame
    }

    // MARK: HTTP2ClientLegSessionDelegate
    // Inside a read, events wait in `batch` for `dispatch`; outside one (a stream closing as its
    // last frame is sent), they take effect at once.

    func http2Request(_ head: HTTP2RequestHead, stream: Int32, endStream: Bool) {
        host.loop.assertInEventLoop()
        host.requestArrived()  // even one that never starts: the client did accept the certificate
        batch.append(.request(head, stream: stream, endStream: endStream))
    }

    func http2RequestHeadTooLarge(stream: Int32, size: Int, fields: Int, endStream: Bool) {
        host.loop.assertInEventLoop()
        host.requestArrived()
        batch.append(.headTooLarge(stream: stream, size: size, fields: fields))
    }

    func http2RequestData(_ bytes: [UInt8], stream: Int32) {
        host.loop.assertInEventLoop()
        if receiving { batch.append(.data(bytes, stream: stream)); return }
        if let exchange = streams[stream] {
            exchange.requestBody(bytes)
        } else {
            session.consumed(bytes.count, stream: stream)  // no one takes it (a rejected or unstarted stream): the windows stay open
        }
    }

    func http2RequestEnded(stream: Int32) {
        host.loop.assertInEventLoop()
        if receiving { batch.append(.ended(stream: stream)); return }
        streams[stream]?.requestEnded()
    }

    func http2ClientReset(stream: Int32, errorCode: UInt32) {
        host.loop.assertInEventLoop()
        if resets.exceeded() {
            end(cause: .h2RapidReset, "the client reset streams faster than \(Int(ResetRateLimit.burst)) at once or \(Int(ResetRateLimit.perSecond)) a second (HTTP/2 rapid reset, CVE-2023-44487)",
                errorCode: NGHTTP2_ENHANCE_YOUR_CALM.rawValue)
        }
    }

    func http2InvalidFrame(type: UInt8, stream: Int32, error: Int32, atStreamLimit: Bool) {
        host.loop.assertInEventLoop()
        let kind: FlowCause = atStreamLimit ? .h2TooManyStreams : .h2InvalidFrame
        guard !ending, recordedRefusals.insert(atStreamLimit ? kind.rawValue : "\(kind) \(error)").inserted else { return }  // once per connection and kind
        let frame = String(cString: nghttp2_strerror(error))
        refusals.append((kind, atStreamLimit
            ? "stream \(stream) refused: the client may open at most \(HTTP2ClientLegSession.maxConcurrentStreams) concurrent streams (further refusals on this connection are not recorded)"
            : "a frame of type \(type) on stream \(stream) was refused: \(frame) (further ones of this kind on this connection are not recorded)",
            stream))
    }

    /// Refusals are recorded once nghttp2's answer is sent: one that ended the connection (a
    /// GOAWAY, recorded by `http2GoAwaySent`) needs no event of its own.
    private func recordRefusals() {
        if !ending { refusals.forEach { host.recordError($0.cause, $0.detail, status: nil, url: nil, streamId: $0.stream) } }
        refusals = []
    }

    func http2GoAwaySent(errorCode: UInt32, debugData: String) {
        host.loop.assertInEventLoop()
        // nghttp2 ended the session over a connection error of the client's (a window overflow, a
        // malformed frame): the GOAWAY it sent names the error.
        guard errorCode != NGHTTP2_NO_ERROR.rawValue else { return }
        end(cause: errorCode == NGHTTP2_ENHANCE_YOUR_CALM.rawValue ? .h2Flood : .h2ProtocolError,
            "the client broke HTTP/2: GOAWAY \(HTTP2Session.errorName(errorCode)) sent" + (debugData.isEmpty ? "" : " (\(debugData))"), errorCode: nil)
    }

    func http2StreamClosed(stream: Int32, errorCode: UInt32) {
        host.loop.assertInEventLoop()
        if receiving { batch.append(.closed(stream: stream, errorCode: errorCode)); return }
        guard let exchange = streams.removeValue(forKey: stream) else { return }
        exchange.streamClosed(errorCode: errorCode)
        // A draining connection is not closed here: nghttp2 reports the close while its last frame
        // still sits in `flush`'s output. `flush` closes once that is sent and the GOAWAY'd session ends.
    }
}
