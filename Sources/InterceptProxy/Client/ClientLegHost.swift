import FoundationEssentials

/// What a client leg needs from its connection: the exchange context (flow events, where the
/// tunnel leads), and the client's byte stream: writing (encrypted in a tunnel), how much waits,
/// and ending it. The h2 leg sees the connection only through this.
protocol ClientLegHost: ExchangeContext {
    /// Writes to the client, encrypted inside a tunnel.
    func sendToClient(_ bytes: [UInt8])
    /// Bytes written but not yet taken by the client.
    var clientPendingOutbound: Int { get }
    /// Closing or closed: nothing new is read or started.
    var isClosing: Bool { get }
    /// close_notify (in a tunnel) and FIN once what is queued is written; what the client still
    /// sends is read and dropped until its EOF, and a client that does not stop is cut off after
    /// `grace` seconds.
    func finishWriting(closingAfter grace: TimeInterval)
}

extension ClientConnection: ClientLegHost {
    var clientPendingOutbound: Int { connection.pendingOutbound }
    var isClosing: Bool { state.isClosing }

    func finishWriting(closingAfter grace: TimeInterval) {
        if let tls = clientTLS {
            tls.engine.shutdown()
            connection.write(tls.engine.takeOutput())
        }
        connection.shutdownWriteWhenDrained()
        let connection = connection
        _ = connection.loop.schedule(after: grace) { connection.close() }
    }
}
