import FoundationEssentials
import EssentialsSupport

/// The control API's part of a proxy: its server while running, and what a shutdown request does.
/// (InterceptProxy holds one; its start and stop call `start` and `stop`.)
final class ProxyControl: @unchecked Sendable {
    private let lock = PthreadMutex()
    private var server: AdminServer?
    private var handler: (@Sendable () -> Void)?

    var address: SocketAddress? { lock.withLock { server?.address } }

    var shutdownHandler: (@Sendable () -> Void)? {
        get { lock.withLock { handler } }
        set { lock.withLock { handler = newValue } }
    }

    /// Listens on `configuration.adminAddress`, if set.
    func start(proxy: InterceptProxy, group: EventLoopGroup) throws {
        guard let text = proxy.configuration.adminAddress else { return }
        let address = try AdminServer.parseAddress(text)
        let started = try AdminServer(address: address, group: group, configuration: proxy.configuration,
                                      routes: AdminRoutes(proxy: proxy))
        lock.withLock { server = started }
    }

    /// Stops listening and closes the control connections (a long poll in flight is cut off).
    func stop() {
        let stopping = lock.withLock { () -> AdminServer? in
            defer { server = nil }
            return server
        }
        stopping?.close()
    }
}
