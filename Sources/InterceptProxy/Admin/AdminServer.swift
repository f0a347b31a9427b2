import FoundationEssentials
import EssentialsSupport

/// The control API's listener (`--admin HOST:PORT`): plain HTTP/1.1 + JSON on its own socket, served
/// on the proxy's event loops. Few clients (a harness, a healthcheck), so it holds at most
/// `maximumConnections`; more are answered 503 and closed.
final class AdminServer: @unchecked Sendable {
    static let maximumConnections = 64

    let address: SocketAddress
    private let listener: Listener
    private let routes: AdminRoutes
    private let lock = PthreadMutex()
    private var live: [ObjectIdentifier: AdminConnection] = [:]
    /// Connections admitted and not yet closed, counted at accept: `live` fills in later, on a
    /// loop, so a burst counted by it alone could pass the limit.
    private var admitted = 0

    init(address: SocketAddress, group: EventLoopGroup, configuration: ProxyConfiguration, routes: AdminRoutes) throws {
        // Beyond loopback, the same default as the proxy's port: loopback and private networks.
        let allowList = try configuration.allowClients.map(ClientAllowList.init)
            ?? (ClientAllowList.isLoopback(listenHost: address.host) ? nil : ClientAllowList.privateNetworks)
        self.routes = routes
        let box = ServerBox()
        listener = try Listener(host: address.host, port: address.port, group: group, handlers: ListenerHandlers(
            admit: { peer in
                if let allowList, !allowList.allows(peer?.host ?? "") {
                    return .refuse(farewell: AdminReply.error(403, field: "client", "\(peer?.host ?? "this address") may not use the control API (--allow-clients)").serialized())
                }
                guard box.server?.reserveRoom() ?? false else {
                    return .refuse(farewell: AdminReply.error(503, field: "connections", "the control API serves at most \(AdminServer.maximumConnections) connections at once").serialized())
                }
                return .serve
            },
            accepted: { connection in box.server?.adopt(connection) ?? connection.close() },
            starved: { _ in }, recovered: { _ in }))
        self.address = listener.address
        box.server = self
    }

    /// `HOST:PORT` or `[v6]:PORT`; a bare `PORT` means loopback.
    static func parseAddress(_ text: String) throws -> SocketAddress {
        let invalid = ConfigurationError("--admin takes HOST:PORT with an IP address (127.0.0.1:8081, [::1]:8081, 0.0.0.0:8081) or a PORT, got '\(text)'")
        if let port = Int(text) {
            guard (0...65535).contains(port) else { throw invalid }
            return SocketAddress(host: "127.0.0.1", port: port)
        }
        guard let colon = text.lastIndex(of: ":"), let port = Int(text[text.index(after: colon)...]), (0...65535).contains(port) else { throw invalid }
        var host = String(text[..<colon])
        if host.hasPrefix("[") && host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) } else if host.contains(":") { throw invalid }
        guard SocketAddress(host: host, port: port).isNumeric else { throw invalid }
        return SocketAddress(host: host, port: port)
    }

    /// Takes a place for a connection being accepted; false when all are taken.
    private func reserveRoom() -> Bool {
        lock.withLock {
            guard admitted < Self.maximumConnections else { return false }
            admitted += 1
            return true
        }
    }

    private func adopt(_ connection: Connection) {
        let admin = AdminConnection(connection: connection, routes: routes) { [weak self] closed in
            guard let self else { return }
            lock.withLock {
                if live.removeValue(forKey: ObjectIdentifier(closed)) != nil { admitted -= 1 }
            }
        }
        lock.withLock { live[ObjectIdentifier(admin)] = admin }
        admin.start()
    }

    /// Stops accepting and closes every control connection.
    func close() {
        listener.close()
        for admin in lock.withLock({ Array(live.values) }) { admin.closeFromOutside() }
    }
}

/// Lets the listener's handlers, made before `self` exists, reach the server.
private final class ServerBox: @unchecked Sendable {
    weak var server: AdminServer?
}
