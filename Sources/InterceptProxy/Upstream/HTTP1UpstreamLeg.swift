/// What the HTTP/1.1 upstream leg reports to the client leg. Called on the loop.
protocol HTTP1UpstreamLegDelegate: AnyObject {
    /// HTTP/1.1 response bytes (or, when relaying, whatever the origin sent).
    func upstream(_ upstream: HTTP1UpstreamLeg, received bytes: [UInt8])
    /// The request bytes queued towards the origin are gone: a paused client may send more.
    func upstreamDrained(_ upstream: HTTP1UpstreamLeg)
    /// The connection is gone; `failure` when it never worked or broke (see `UpstreamConnectionDelegate`).
    func upstreamClosed(_ upstream: HTTP1UpstreamLeg, failure: UpstreamFailure?)
}

/// The upstream side of an HTTP/1.1 client leg (and of a relayed tunnel): HTTP/1.1 bytes out and
/// in over one transport. Should the origin choose h2 by ALPN, the bytes are translated both ways
/// (`HTTP1OverHTTP2`), so the client leg never knows; the transport itself knows nothing of HTTP.
/// Bytes sent before the transport is ready wait here, since their framing depends on its ALPN.
/// Confined to the loop.
final class HTTP1UpstreamLeg: UpstreamConnectionDelegate {
    let transport: UpstreamConnection
    weak var delegate: HTTP1UpstreamLegDelegate?
    private var translator: HTTP1OverHTTP2?
    /// HTTP/1.1 bytes sent before the transport was ready.
    private var pending: [UInt8] = []

    /// Takes over `transport`, connecting or ready.
    init(transport: UpstreamConnection, delegate: HTTP1UpstreamLegDelegate) {
        self.transport = transport
        self.delegate = delegate
        transport.delegate = self
        if transport.isReady { chooseFraming() }
    }

    /// What the transport delivered before this leg took it over, once the delegate holds the leg.
    func deliver(_ received: [UInt8]) {
        process(received)
    }

    var negotiatedProtocol: String? { transport.negotiatedProtocol }

    /// Bytes waiting to reach the origin, for backpressure on the client side.
    var pendingOutbound: Int { transport.pendingOutbound + pending.count + (translator?.queuedBodyBytes ?? 0) }

    func send(_ bytes: [UInt8]) {
        guard !bytes.isEmpty, !transport.isClosed else { return }
        guard transport.isReady else {
            pending += bytes
            return
        }
        guard let translator else { return transport.send(bytes) }
        do {
            transport.send(try translator.outgoing(bytes))
        } catch {
            transport.fail(.protocolError("\(error)"))
        }
    }

    func pauseReading() { transport.pauseReading() }
    func resumeReading() { transport.resumeReading() }
    func close() { transport.close() }

    /// HTTP/1.1 as is, or translated for an origin that chose h2.
    private func chooseFraming() {
        guard transport.negotiatedProtocol == "h2" else { return }
        let target = transport.route.target
        translator = try? HTTP1OverHTTP2(defaultAuthority: HTTPWire.authority(host: target.host, port: target.port))
    }

    private func process(_ received: [UInt8]) {
        guard !received.isEmpty else { return }
        guard let translator else {
            delegate?.upstream(self, received: received)
            return
        }
        let (http1, failure) = translator.incoming(received)
        transport.send(translator.takeOutput())
        if !http1.isEmpty { delegate?.upstream(self, received: http1) }
        if let failure {
            transport.fail(failure)
        } else if translator.queuedBodyBytes == 0 {
            delegate?.upstreamDrained(self)
        }
    }

    // MARK: UpstreamConnectionDelegate

    func upstreamReady(_ upstream: UpstreamConnection) {
        chooseFraming()
        let queued = pending
        pending = []
        send(queued)
    }

    func upstream(_ upstream: UpstreamConnection, received plaintext: [UInt8]) {
        process(plaintext)
    }

    func upstreamDrained(_ upstream: UpstreamConnection) {
        delegate?.upstreamDrained(self)
    }

    func upstreamClosed(_ upstream: UpstreamConnection, failure: UpstreamFailure?) {
        delegate?.upstreamClosed(self, failure: failure)
    }
}
