import FoundationEssentials

/// What an exchange hears from its upstream, whichever connection carries it. Called on the loop.
protocol ExchangeUpstreamDelegate: AnyObject {
    func upstreamAttached(version: String)
    func upstreamReceived(_ part: ResponsePart)
    /// One read from an HTTP/1.1 origin is relayed (an h2 origin's reads reach the pool's owner).
    func upstreamReadProcessed()
    func upstreamFailed(_ failure: UpstreamFailure)
    /// The request body queued upstream was taken: the client may send more.
    func upstreamTookRequestBody()
}

/// One exchange's way upstream: asks the pool for a connection, sends the request's parts over
/// whichever it gets (a pooled HTTP/1.1 connection, or a stream on the tunnel's h2 connection),
/// and hands the response's parts to the exchange. Holds request parts while no connection is
/// there, sends a request again when an h2 upstream refused it unprocessed (RFC 9113 8.7,
/// `StreamRetry`), paces the response to the client (h2: its WINDOW_UPDATEs; HTTP/1.1: reading),
/// and gives the connection back, drained, cancelled or closed, when the exchange is done with it.
/// The same for both client legs. Confined to the loop.
final class ExchangeUpstream: PooledExchange, HTTP1UpstreamUser, HTTP2UpstreamStreamDelegate {
    private enum State {
        case idle
        case waiting
        case http1(HTTP1UpstreamLeg)
        case http2(HTTP2UpstreamConnection, stream: Int32)
        /// Given back, handed over or failed: nothing more goes either way.
        case done
    }

    private var state = State.idle
    private let pool: UpstreamPool
    private let request: UpstreamRequest
    private weak var delegate: ExchangeUpstreamDelegate?
    /// Request body that arrived before a connection did (bounded: the client leg stops reading
    /// beyond `ClientConnection.backpressureLimit` of `pendingOutbound`).
    private var heldBody: [[UInt8]] = []
    private var heldBytes = 0
    private var requestEnded = false
    private var bodySent = 0
    private var responseStarted = false
    /// How often an h2 upstream refused the stream unprocessed.
    private var refusals = 0
    /// Set while the client does not take the response: an h2 stream's DATA is then not
    /// acknowledged (the origin stops at its window), an HTTP/1.1 connection not read.
    private var responsePaused = false
    private var unacknowledged = 0
    /// Whether the upstream ended the response (an h2 stream released before cannot be reused:
    /// it is cancelled).
    private var responseEnded = false

    init(pool: UpstreamPool, request: UpstreamRequest, delegate: ExchangeUpstreamDelegate) {
        self.pool = pool
        self.request = request
        self.delegate = delegate
        // A request without a body is complete as it starts: an h2 stream opens with END_STREAM
        // (an empty DATA frame after a HEAD's HEADERS is refused by some origins).
        requestEnded = request.body == .none || request.body == .length(0)
    }

    func start() {
        guard case .idle = state else { return }
        state = .waiting
        pool.acquire(for: self, http1: request.isUpgrade)
    }

    func sendBody(_ bytes: [UInt8]) {
        guard !bytes.isEmpty else { return }
        switch state {
        case .idle, .waiting:
            heldBody.append(bytes)
            heldBytes += bytes.count
        case let .http1(leg):
            bodySent += bytes.count
            leg.send(.body(bytes))
        case let .http2(connection, id):
            bodySent += bytes.count
            connection.send(bytes, stream: id)
            connection.flush()
        case .done:
            break
        }
    }

    func endRequest() {
        guard !requestEnded else { return }
        requestEnded = true
        switch state {
        case let .http1(leg): leg.send(.end)
        case let .http2(connection, id):
            connection.finish(stream: id)
            connection.flush()
        case .idle, .waiting, .done: break
        }
    }

    /// Request bytes not yet taken by the origin.
    var pendingOutbound: Int {
        switch state {
        case .idle, .waiting: return heldBytes
        case let .http1(leg): return leg.pendingOutbound
        case let .http2(connection, id): return connection.queuedBytes(stream: id)
        case .done: return 0
        }
    }

    func pauseResponse() {
        guard !responsePaused else { return }
        responsePaused = true
        if case let .http1(leg) = state { leg.transport.pauseReading() }
    }

    func resumeResponse() {
        guard responsePaused else { return }
        responsePaused = false
        switch state {
        case let .http1(leg): leg.transport.resumeReading()
        case let .http2(connection, id):
            connection.consumed(unacknowledged, stream: id)  // WINDOW_UPDATE: the origin may send again
            unacknowledged = 0
            connection.flush()
        case .idle, .waiting, .done: break
        }
    }

    /// The response is complete: the connection serves the next exchange.
    func release() {
        switch state {
        case let .http1(leg): pool.release(leg)
        case let .http2(connection, id):
            if responseEnded { connection.release(stream: id) } else { connection.cancel(stream: id) }
        case .idle, .waiting, .done: break
        }
        state = .done
    }

    /// The exchange ends without its response (failed, reset by the client, cut): a waiting
    /// request stops waiting, an HTTP/1.1 connection drains or closes, an h2 stream is cancelled.
    func abandon() {
        switch state {
        case .waiting: pool.stopWaiting(self)
        case let .http1(leg): pool.abandon(leg)
        case let .http2(connection, id): connection.cancel(stream: id)
        case .idle, .done: break
        }
        state = .done
        heldBody = []
    }

    /// After `101 Switching Protocols`: the connection leaves the pool for the client leg's relay.
    func takeTransport() -> (UpstreamTransport, [UInt8])? {
        guard case let .http1(leg) = state else { return nil }
        state = .done
        let taken = leg.takeTransport()
        pool.forget(leg)
        if responsePaused { taken.0.resumeReading() }
        return taken
    }

    // MARK: PooledExchange

    func attach(_ leg: HTTP1UpstreamLeg) {
        guard case .waiting = state else { return pool.release(leg) }
        state = .http1(leg)
        leg.user = self
        delegate?.upstreamAttached(version: "HTTP/1.1")
        leg.send(.head(request))
        let held = heldBody
        heldBody = []
        heldBytes = 0
        held.forEach(sendBody)
        if requestEnded { leg.send(.end) }
        if responsePaused { leg.transport.pauseReading() } else { leg.transport.resumeReading() }
    }

    func attach(_ connection: HTTP2UpstreamConnection) {
        guard case .waiting = state else { return }
        let endStream = requestEnded && heldBody.isEmpty
        guard let id = connection.open(request.http2Fields, endStream: endStream, delegate: self) else {
            return upstreamUnavailable(.closedEarly("the upstream's HTTP/2 connection took no new stream"))
        }
        state = .http2(connection, stream: id)
        delegate?.upstreamAttached(version: "HTTP/2")
        let held = heldBody
        heldBody = []
        heldBytes = 0
        held.forEach(sendBody)
        if requestEnded && !endStream { connection.finish(stream: id) }
        connection.flush()
        if !held.isEmpty { delegate?.upstreamTookRequestBody() }
    }

    func upstreamUnavailable(_ failure: UpstreamFailure) {
        guard case .waiting = state else { return }
        state = .done
        delegate?.upstreamFailed(failure)
    }

    // MARK: HTTP1UpstreamUser

    func upstream(_ leg: HTTP1UpstreamLeg, received part: ResponsePart) {
        if case let .head(head, _) = part, !(100..<200).contains(head.status) { responseStarted = true }
        delegate?.upstreamReceived(part)
    }

    func upstreamReadProcessed(_ leg: HTTP1UpstreamLeg) {
        delegate?.upstreamReadProcessed()
    }

    func upstreamTookRequest(_ leg: HTTP1UpstreamLeg) {
        delegate?.upstreamTookRequestBody()
    }

    func upstream(_ leg: HTTP1UpstreamLeg, failed failure: UpstreamFailure) {
        guard case let .http1(current) = state, current === leg else { return }
        state = .done
        pool.forget(leg)
        delegate?.upstreamFailed(failure)
    }

    // MARK: HTTP2UpstreamStreamDelegate

    private func isCurrent(_ id: Int32) -> Bool {
        if case let .http2(_, current) = state { return current == id }
        return false
    }

    func upstreamStream(_ id: Int32, received part: ResponsePart) {
        guard case let .http2(connection, current) = state, current == id else { return }
        switch part {
        case let .head(head, _) where !(100..<200).contains(head.status): responseStarted = true
        case .end: responseEnded = true
        case let .body(bytes):
            // Only this stream is held back: its DATA is acknowledged once the client takes it.
            if responsePaused { unacknowledged += bytes.count } else { connection.consumed(bytes.count, stream: id) }
        default: break
        }
        delegate?.upstreamReceived(part)
    }

    func upstreamStream(_ id: Int32, failed failure: UpstreamFailure, refused: Bool) {
        guard case let .http2(connection, current) = state, current == id else { return }
        if StreamRetry.mayResend(unprocessed: refused, responseStarted: responseStarted, requestBodyBytes: bodySent + heldBytes,
                                 clientGone: false, earlierRefusals: refusals, connectionMadeProgress: connection.madeProgress) {
            refusals += 1
            state = .waiting
            pool.acquire(for: self)
            return
        }
        state = .done
        delegate?.upstreamFailed(failure)
    }

    func upstreamStreamWritable(_ id: Int32) {
        guard isCurrent(id) else { return }
        delegate?.upstreamTookRequestBody()
    }
}
