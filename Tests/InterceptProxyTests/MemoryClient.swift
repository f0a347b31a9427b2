@testable import InterceptProxy
import CertForge
import Foundation
import Logging

/// A client stream in memory: what the proxy writes is kept, and closing it reports the close to
/// the connection at once, as the socket does.
final class MemoryTransport: ClientTransport, @unchecked Sendable {
    let loop: EventLoop
    let peer: SocketAddress? = nil
    var redirectedDestination: SocketAddress?
    private(set) var written: [UInt8] = []
    private(set) var isClosed = false
    private(set) var isReadingPaused = false
    weak var client: ClientConnection?

    init(loop: EventLoop) { self.loop = loop }

    var text: String { String(decoding: written, as: UTF8.self) }
    var pendingOutbound: Int { 0 }  // the peer takes everything at once
    func write(_ bytes: [UInt8]) { written += bytes }
    func pauseReading() { isReadingPaused = true }
    func resumeReading() { isReadingPaused = false }
    func shutdownWriteWhenDrained() {}
    func closeWhenDrained() { close(error: nil) }

    func close(error: SocketError?) {
        guard !isClosed else { return }
        isClosed = true
        client?.clientClosed(error: error)
    }
}

/// A `ClientConnection` of a proxy core, driven in memory on its own loop: no socket, so its
/// state machine can be stepped and inspected between reads. Offline by default; with
/// `origins: true` its upstreams are `MemoryUpstream`s (`dialer`) and its exchanges' timers run on
/// a clock the test advances (`clock`).
final class MemoryClient: @unchecked Sendable {
    /// One CA for every test: generating keys is the slow part.
    nonisolated(unsafe) private static var sharedAuthority: CertificateAuthority?
    nonisolated(unsafe) private static var sharedPublicAuthority: CertificateAuthority?
    private static let lock = NSLock()

    let loop: EventLoop
    let core: ProxyCore
    let transport: MemoryTransport
    let client: ClientConnection
    let dialer: MemoryDialer
    let clock = ManualClock()

    init(origins: Bool = false, configure: (inout ProxyConfiguration) -> Void = { _ in }) throws {
        var configuration = ProxyConfiguration()
        configuration.offline = !origins
        configure(&configuration)
        let (authority, publicAuthority) = try Self.lock.withLock {
            if let authority = Self.sharedAuthority, let publicAuthority = Self.sharedPublicAuthority { return (authority, publicAuthority) }
            let made = (try CertificateAuthority.generate(profile: .plain), try CertificateAuthority.generate(profile: .publicStandIn))
            (Self.sharedAuthority, Self.sharedPublicAuthority) = made
            return made
        }
        var logger = Logger(label: "intercept-proxy-unit")
        logger.logLevel = .critical
        core = try ProxyCore(configuration: configuration, authority: authority, rootCertificateFile: nil,
                             publicAuthority: publicAuthority, publicRootCertificateFile: nil,
                             recorder: try FlowRecorder(path: nil, logger: logger), logger: logger)
        loop = EventLoop(index: 200)
        dialer = MemoryDialer(loop: loop)
        if origins {
            let dialer = dialer, clock = clock
            core.dialer = { _, _, _ in dialer }
            core.exchangeTimers = { _, handler in clock.timer(handler) }
        }
        transport = MemoryTransport(loop: loop)
        client = ClientConnection(id: 1, connection: transport, core: core)
        transport.client = client
        loop.queue.sync { client.start() }
    }

    /// Delivers bytes from the client, as one read.
    func send(_ text: String) {
        loop.queue.sync { client.clientReceived(Array(text.utf8)) }
    }

    /// The origin's side of the n-th upstream connection dialled (on the loop).
    func origin(_ index: Int) -> MemoryUpstream? {
        onLoop { index < dialer.dialled.count ? dialer.dialled[index] : nil }
    }

    /// Runs `body` on the loop (the connection's state is confined there).
    func onLoop<T>(_ body: () throws -> T) rethrows -> T { try loop.queue.sync(execute: body) }

    var events: [FlowEvent] { core.recorder.events }

    deinit {
        let client = client, transport = transport
        loop.queue.sync { if !transport.isClosed { client.connection.close() } }
        core.waitForBackgroundWork()
    }
}
