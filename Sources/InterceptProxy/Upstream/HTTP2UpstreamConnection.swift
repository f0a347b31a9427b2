import CNGHTTP2

/// What one request on a multiplexed upstream connection hears. Called on the loop, often from
/// inside nghttp2's receive callbacks: it may submit frames, never ask for output.
protocol HTTP2UpstreamStreamDelegate: AnyObject {
    /// The next part of the response.
    func upstreamStream(_ stream: Int32, received part: ResponsePart)
    /// The stream ended without a complete response. `refused`: the upstream never processed it
    /// (REFUSED_STREAM, or beyond a GOAWAY's last stream), so it may be sent again.
    func upstreamStream(_ stream: Int32, failed failure: UpstreamFailure, refused: Bool)
    /// The upstream took queued request-body bytes: more may be acknowledged to the client.
    func upstreamStreamWritable(_ stream: Int32)
}

/// Told when a batch of upstream input is processed (flush the client side once per read), and
/// when the connection can take no more streams.
protocol HTTP2UpstreamConnectionOwner: AnyObject {
    func multiplexedInputProcessed(_ connection: HTTP2UpstreamConnection)
    func multiplexedConnectionEnded(_ connection: HTTP2UpstreamConnection)
}

/// One upstream connection that negotiated h2: requests become streams on it, one to one with
/// the client's, and each stream's events go to its own delegate. Confined to its loop.
final class HTTP2UpstreamConnection: UpstreamConnectionDelegate, HTTP2UpstreamSessionDelegate {
    let transport: UpstreamTransport
    private let session: HTTP2UpstreamSession
    weak var owner: HTTP2UpstreamConnectionOwner?
    /// Strong until the stream ends or its delegate lets go (`release`, `cancel`).
    private var streams: [Int32: HTTP2UpstreamStreamDelegate] = [:]
    /// False after a GOAWAY, a protocol error or the transport's end.
    private(set) var acceptsStreams = true
    private var ended = false
    /// Set while nghttp2 parses input (see `flush`).
    private var receiving = false
    private var goAway: (lastStream: Int32, code: UInt32)?
    private var completedStreams = 0

    /// Whether the upstream processed any stream here: a refusal from a connection that did is
    /// routine (nginx's keepalive_requests), so refused streams may be retried again and again.
    var madeProgress: Bool { completedStreams > 0 || (goAway?.lastStream ?? 0) > 0 }

    /// Takes over a ready connection whose ALPN said h2.
    init(adopting transport: UpstreamTransport) throws {
        self.transport = transport
        session = try HTTP2UpstreamSession()
        session.delegate = self
        transport.delegate = self
        flush()  // the connection preface and SETTINGS
    }

    var isIdle: Bool { streams.isEmpty }

    // MARK: Requests

    /// Opens a stream for a request; nil when the connection takes no more.
    func open(_ fields: [(String, String)], endStream: Bool, delegate: HTTP2UpstreamStreamDelegate) -> Int32? {
        guard acceptsStreams, let stream = session.request(fields, endStream: endStream) else { return nil }
        streams[stream] = delegate
        return stream
    }

    /// Queues request-body bytes; returns how many of the stream's are still queued.
    @discardableResult
    func send(_ bytes: [UInt8], stream: Int32) -> Int { session.send(bytes, stream: stream) }

    func queuedBytes(stream: Int32) -> Int { session.queuedBytes(stream: stream) }

    func finish(stream: Int32) { session.finish(stream: stream) }

    /// Response bytes the client side has taken: the upstream may send that many more.
    func consumed(_ count: Int, stream: Int32) { session.consumed(count, stream: stream) }

    /// The stream's response is complete and its delegate done with it.
    func release(stream: Int32) {
        if streams.removeValue(forKey: stream) != nil { completedStreams += 1 }
        closeIfDone()
    }

    /// The client no longer wants the stream: RST_STREAM CANCEL upstream, the others go on.
    func cancel(stream: Int32) {
        guard streams.removeValue(forKey: stream) != nil else { return }
        session.reset(stream: stream, errorCode: NGHTTP2_CANCEL.rawValue)
        flush()
        closeIfDone()
    }

    /// Sends what nghttp2 has ready, unless it is mid-parse (`received` flushes after).
    func flush() {
        guard !receiving, !ended else { return }
        let output = session.takeOutput()
        if !output.isEmpty { transport.send(output) }
        if !session.isAlive { end(.closedEarly("the upstream's HTTP/2 session ended")) }
    }

    /// Ends the connection; streams still open fail with `failure`.
    func close() {
        end(nil)
    }

    // MARK: UpstreamConnectionDelegate

    func upstream(_ upstream: UpstreamTransport, received plaintext: [UInt8]) {
        // Callbacks may end the connection and its owner's reference while nghttp2 still parses.
        withExtendedLifetime(self) { receive(plaintext) }
    }

    private func receive(_ plaintext: [UInt8]) {
        receiving = true
        do {
            try session.feed(plaintext)
        } catch {
            receiving = false
            end(.protocolError("the upstream broke HTTP/2: \(error)"))
            return
        }
        receiving = false
        flush()
        // A WINDOW_UPDATE from the upstream lets nghttp2 take queued request bodies in `flush`:
        // their streams may acknowledge more to the client (the socket need not have backed up).
        for (stream, delegate) in streams { delegate.upstreamStreamWritable(stream) }
        owner?.multiplexedInputProcessed(self)
    }

    func upstreamDrained(_ upstream: UpstreamTransport) {
        for (stream, delegate) in streams { delegate.upstreamStreamWritable(stream) }
        flush()
    }

    func upstreamClosed(_ upstream: UpstreamTransport, failure: UpstreamFailure?) {
        let reason = failure ?? goAway.map { .goAway(code: $0.code, lastStream: $0.lastStream) }
            ?? .closedEarly("the upstream closed its HTTP/2 connection")
        end(reason)
    }

    // MARK: HTTP2UpstreamSessionDelegate

    func http2Response(_ head: HTTPResponseHead, stream: Int32) {
        streams[stream]?.upstreamStream(stream, received: .head(head, raw: nil))
    }

    func http2ResponseData(_ bytes: [UInt8], stream: Int32) {
        guard let delegate = streams[stream] else {
            session.consumed(bytes.count, stream: stream)  // a cancelled stream's bytes still count for the connection
            return
        }
        delegate.upstreamStream(stream, received: .body(bytes))
    }

    func http2ResponseTrailers(_ fields: [(name: String, value: String)], stream: Int32) {
        for field in fields { streams[stream]?.upstreamStream(stream, received: .trailer(name: field.name, value: field.value, raw: nil)) }
    }

    func http2ResponseEnded(stream: Int32) {
        streams[stream]?.upstreamStream(stream, received: .end)
    }

    func http2StreamClosed(stream: Int32, errorCode: UInt32) {
        guard let delegate = streams.removeValue(forKey: stream) else { return closeIfDone() }
        // Still registered: the response did not end (a complete one releases its stream first).
        let refused = StreamRetry.wasUnprocessed(stream: stream, errorCode: errorCode, goAwayLastStream: goAway?.lastStream)
        if let goAway, refused {
            delegate.upstreamStream(stream, failed: .goAway(code: goAway.code, lastStream: goAway.lastStream), refused: true)
        } else {
            delegate.upstreamStream(stream, failed: errorCode == 0 ? .closedEarly("the upstream closed the stream without a response") : .reset(code: errorCode),
                                    refused: refused)
        }
        closeIfDone()
    }

    func http2GoAway(lastStream: Int32, errorCode: UInt32) {
        goAway = (lastStream, errorCode)
        stopAcceptingStreams()
    }

    // MARK: Ending

    private func stopAcceptingStreams() {
        guard acceptsStreams else { return }
        acceptsStreams = false
        owner?.multiplexedConnectionEnded(self)
    }

    /// A connection that takes no new streams closes once its last stream is done.
    private func closeIfDone() {
        if !acceptsStreams && streams.isEmpty { end(nil) }
    }

    private func end(_ failure: UpstreamFailure?) {
        guard !ended else { return }
        ended = true
        stopAcceptingStreams()
        transport.delegate = nil
        transport.close()
        let orphans = streams
        streams = [:]
        let reason = failure ?? .closedEarly("the proxy closed the upstream HTTP/2 connection")
        for (stream, delegate) in orphans.sorted(by: { $0.key < $1.key }) {
            delegate.upstreamStream(stream, failed: reason,
                                    refused: StreamRetry.wasUnprocessed(stream: stream, errorCode: nil, goAwayLastStream: goAway?.lastStream))
        }
    }
}
