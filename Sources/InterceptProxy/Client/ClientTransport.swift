/// The client's byte stream as the connection's state machine sees it: bytes out, flow control,
/// closing. `Connection` (the socket) is the real one; unit tests drive `ClientConnection` over
/// an in-memory one, feeding it through `clientReceived` and the other socket events.
protocol ClientTransport: AnyObject, Sendable {
    var loop: EventLoop { get }
    var peer: SocketAddress? { get }
    /// Where a connection the kernel redirected to the proxy was headed (`--transparent`); nil for
    /// one made to the proxy itself.
    var redirectedDestination: SocketAddress? { get }
    /// Bytes accepted by `write` but not yet taken by the peer.
    var pendingOutbound: Int { get }
    func write(_ bytes: [UInt8])
    func pauseReading()
    func resumeReading()
    /// Half-closes (FIN) once everything queued is written.
    func shutdownWriteWhenDrained()
    /// Closes at once; what is queued is dropped.
    func close(error: SocketError?)
    /// Closes once everything queued is written.
    func closeWhenDrained()
}

extension ClientTransport {
    func close() { close(error: nil) }
}

extension Connection: ClientTransport {
    var redirectedDestination: SocketAddress? {
        guard let original = originalDestination, original != localAddress else { return nil }
        return original
    }
}

/// The socket's events, passed to the transport-independent entry points.
extension ClientConnection: ConnectionDelegate {
    func connection(_ connection: Connection, received bytes: [UInt8]) { clientReceived(bytes) }
    func connection(_ connection: Connection, receivedInPlace bytes: UnsafeRawBufferPointer) { clientReceived(inPlace: bytes) }
    func connectionReadEOF(_ connection: Connection) { clientReadEOF() }
    func connectionDrained(_ connection: Connection) { clientDrained() }
    func connectionClosed(_ connection: Connection, error: SocketError?) { clientClosed(error: error) }
}
