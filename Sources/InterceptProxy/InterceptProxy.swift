import CertForge
import FoundationEssentials
import EssentialsSupport
import Dispatch
import Logging

/// A TLS-intercepting proxy that runs in-process: start it on an ephemeral port, hand clients its
/// root certificate, read what crossed it, stop it. Several instances may run in one process.
///
///     var configuration = ProxyConfiguration()
///     configuration.port = 0
///     configuration.offline = true
///     let proxy = try InterceptProxy(configuration: configuration)
///     try proxy.start()
///     // HTTPS_PROXY=http://127.0.0.1:\(proxy.port) ... then:
///     await proxy.stop()
public final class InterceptProxy: @unchecked Sendable {
    public let configuration: ProxyConfiguration
    let core: ProxyCore
    private let group: EventLoopGroup
    /// The control API (Admin/): its server and shutdown handler.
    let control = ProxyControl()
    private let lock = PthreadMutex()
    private var listeners: [Listener] = []
    /// Set by the first `stop()`; later callers wait for the same task.
    private var stopTask: Task<Void, Never>?

    /// Loads (or creates) the CA and prepares the proxy; nothing listens until `start()`.
    public init(configuration: ProxyConfiguration, logger: Logger = Logger(label: "intercept-proxy")) throws {
        self.configuration = configuration
        let authority: CertificateAuthority
        var rootFile: String?
        var leafKey: PrivateKey?
        if let given = configuration.authority {
            authority = given
        } else {
            let directory = CADirectory(path: configuration.caDirectory)
            authority = try directory.loadOrCreate(configuration.profile).authority
            rootFile = directory.rootCertificateURL(for: configuration.profile).path
            leafKey = Self.keptLeafKey(directory, configuration.profile, logger: logger)
        }
        let (publicAuthority, publicRootFile, publicLeafKey) = try Self.publicStandIn(configuration, logger: logger)
        core = try ProxyCore(configuration: configuration, authority: authority, rootCertificateFile: rootFile,
                             publicAuthority: publicAuthority, publicRootCertificateFile: publicRootFile,
                             leafKeys: (leafKey, publicLeafKey),
                             recorder: try Self.recorder(configuration, logger: logger), logger: logger)
        group = EventLoopGroup(count: configuration.eventLoopCount)
    }

    /// Binds the listeners (IPv4 and/or IPv6) and starts accepting.
    public func start() throws {
        let hosts = configuration.listenHost == "localhost" ? ["127.0.0.1", "::1"] : [configuration.listenHost]
        var port = configuration.port
        var bound: [Listener] = []
        do {
            for host in hosts {
                let listener = try Listener(host: host, port: port, group: group, handlers: core.listenerHandlers)
                port = listener.address.port  // a second family binds the port the first one got
                bound.append(listener)
            }
            // --transparent-port: a port of its own for the kernel's redirects (the same handling).
            if var redirectPort = configuration.transparentPort {
                for host in hosts {
                    let listener = try Listener(host: host, port: redirectPort, group: group, handlers: core.listenerHandlers)
                    redirectPort = listener.address.port
                    bound.append(listener)
                }
            }
        } catch {
            bound.forEach { $0.close() }
            core.waitForBackgroundWork()  // the caller is likely to exit on this error
            throw error
        }
        do { try control.start(proxy: self, group: group) } catch {  // the control API (issue #15)
            bound.forEach { $0.close() }
            core.waitForBackgroundWork()
            throw error
        }
        lock.lock()
        listeners = bound
        lock.unlock()
        core.listening(on: bound.map(\.address))
    }

    /// The port the proxy listens on (the real one when configured with 0).
    public var port: Int {
        lock.lock()
        defer { lock.unlock() }
        return listeners.first?.address.port ?? configuration.port
    }

    /// The port of `--transparent-port`'s listeners (the real one when configured with 0).
    public var transparentPort: Int? {
        guard configuration.transparentPort != nil else { return nil }
        lock.lock()
        defer { lock.unlock() }
        return listeners.count > 1 ? listeners.last?.address.port : configuration.transparentPort
    }

    /// Every address the proxy listens on.
    public var addresses: [SocketAddress] {
        lock.lock()
        defer { lock.unlock() }
        return listeners.map(\.address)
    }

    /// Client connections open right now (each holds its socket, and an upstream one when forwarding):
    /// a harness can check that nothing is left open after a test.
    public var openConnections: Int { core.liveConnections.count }

    /// The root certificate clients must trust, as PEM.
    public var rootCertificatePEM: String { core.authority.rootCertificate.pemString }

    /// The root certificate's file in the CA directory (nil for an authority passed in directly).
    public var rootCertificateFile: String? { core.rootCertificateFile }

    /// The chain profile in use.
    public var profile: ChainProfile { core.authority.profile }

    /// The test world's stand-in for the public web roots, as PEM: what hosts the gateway does not
    /// inspect (`bypassHosts`) and every host of the direct world present. Clients' default stores
    /// must trust it as they trust the real public roots (`intercept-proxy verify --worlds` does that).
    public var publicRootCertificatePEM: String { core.publicAuthority.rootCertificate.pemString }

    /// The public stand-in root's file in the CA directory (nil when it lives only in memory).
    public var publicRootCertificateFile: String? { core.publicRootCertificateFile }

    /// Flow events from now on; the stream finishes when the proxy stops. It buffers what its
    /// consumer has not read yet within `eventHistoryLimit` events and `eventHistoryBytes`: a
    /// consumer further behind loses the oldest.
    public var events: AsyncStream<FlowEvent> {
        core.recorder.stream(limit: configuration.eventHistoryLimit, bytes: configuration.eventHistoryBytes)
    }

    /// The newest flow events recorded since start, oldest first. Without a HAR: at most
    /// `ProxyConfiguration.eventHistoryLimit` events and `eventHistoryBytes` of them (by
    /// `FlowEvent.estimatedBytes`); with `harPath`: every event within `harHistoryBytes`. The oldest
    /// are dropped first, so a long-running proxy does not grow without bound.
    public var recordedEvents: [FlowEvent] { core.recorder.events }

    /// Flow events the `flowsPath` file did not get because its writer fell behind the proxy by more
    /// than `flowLogBufferBytes` (a disk or pipe too slow): they are in `recordedEvents` and `events`
    /// only. A warning is logged at the first, and the total at stop. 0 without a flow log.
    public var droppedFlowLogEvents: Int { core.recorder.fileDropped }

    /// The most client connections served at once (`maxConnections`, or its default from the fd limit).
    public var maxConnections: Int { core.admission.limit }

    /// Stops accepting, lets open connections finish for up to the grace period, closes the rest,
    /// flushes the flow log, and waits for background OpenSSL work (key generation, trust store
    /// loading, forging) to end, so that the process may exit right after. Every caller returns
    /// only once the proxy has stopped (a second SIGTERM must not exit halfway through the first's stop).
    public func stop() async {
        let stopping = lock.withLock {
            if let stopTask { return stopTask }
            let listeners = self.listeners
            let task = Task { await shutDown(listeners) }
            stopTask = task
            return task
        }
        await stopping.value
    }

    private func shutDown(_ listeners: [Listener]) async {
        control.stop()  // the control API (issue #15)
        listeners.forEach { $0.close() }
        for connection in core.liveConnections { connection.shutdown() }
        let deadline = Date() + configuration.shutdownGracePeriod
        while !core.liveConnections.isEmpty && Date() < deadline {
            try? await Task.sleep(nanoseconds: 20_000_000)
        }
        for connection in core.liveConnections { connection.forceClose() }
        let closeDeadline = Date() + 1
        while !core.liveConnections.isEmpty && Date() < closeDeadline {
            try? await Task.sleep(nanoseconds: 10_000_000)
        }
        // What is still armed (a closing connection's grace timer, a connect under way) would
        // outlive the proxy, held by its loop with whatever its closure holds.
        //for loop in group.loops { loop.queue.sync { loop.cancelTimers() } }
        if configuration.harPath != nil { try? writeHAR() }
        // A stopped proxy may be followed by exit(): let the flow log's writer and the background
        // OpenSSL work finish first (both block, up to their timeouts, so not on the caller's thread).
        await withCheckedContinuation { (done: CheckedContinuation<Void, Never>) in
            DispatchQueue.global().async { [core] in
                core.recorder.close()
                core.waitForBackgroundWork()
                done.resume()
            }
        }
    }

    /// `stop()` for synchronous callers (a command's main thread): blocks until it has returned.
    public func stopAndWait() {
        let done = DispatchSemaphore(value: 0)
        Task {
            await stop()
            done.signal()
        }
        done.wait()
    }

    /// Writes the HAR file (`harPath`) with every exchange so far (within `harHistoryBytes`: the
    /// log's `comment` says how many were dropped); a no-op without a path.
    public func writeHAR() throws {
        guard let path = configuration.harPath else { return }
        let document = HARDocument.build(from: recordedEvents, creatorVersion: InterceptProxyVersion.current,
                                         droppedResponses: core.recorder.evicted.responses)
        try HARDocument.write(document, to: path)
    }

    /// The public stand-in PKI: the configuration's, else the CA directory's (created on first use),
    /// else, for an authority passed in directly or a directory that cannot be written, one in memory.
    private static func publicStandIn(_ configuration: ProxyConfiguration, logger: Logger) throws -> (CertificateAuthority, String?, PrivateKey?) {
        if let given = configuration.publicAuthority { return (given, configuration.publicCACertificateFile, nil) }
        if configuration.authority == nil {
            let directory = CADirectory(path: configuration.caDirectory)
            do {
                let authority = try directory.loadOrCreate(.publicStandIn).authority
                return (authority, directory.rootCertificateURL(for: .publicStandIn).path, keptLeafKey(directory, .publicStandIn, logger: logger))
            } catch {
                logger.warning("the public stand-in root could not be kept in \(directory.folder(for: .publicStandIn).path) (\(error)): using one in memory for this run")
            }
        }
        return (try CertificateAuthority.generate(profile: .publicStandIn), nil, nil)
    }

    /// The leaf key kept beside the CA (a start then generates none); nil, with a warning, when it
    /// cannot be read: the process-wide key serves instead.
    private static func keptLeafKey(_ directory: CADirectory, _ profile: ChainProfile, logger: Logger) -> PrivateKey? {
        do {
            return try directory.leafKey(for: profile)
        } catch {
            logger.warning("the leaf key in \(directory.folder(for: profile).path) cannot be used (\(error)): leaves get a key made for this run")
            return nil
        }
    }

    /// The recorder, with the history bounds that apply: count and bytes, or the HAR's bytes.
    private static func recorder(_ configuration: ProxyConfiguration, logger: Logger) throws -> FlowRecorder {
        guard configuration.harPath != nil else {
            return try FlowRecorder(path: configuration.flowsPath, historyLimit: configuration.eventHistoryLimit,
                                    historyBytes: configuration.eventHistoryBytes, logger: logger,
                                    fileBufferBytes: configuration.flowLogBufferBytes)
        }
        let bound = configuration.harHistoryBytes
        return try FlowRecorder(path: configuration.flowsPath, historyBytes: bound, logger: logger,
                                fileBufferBytes: configuration.flowLogBufferBytes) {
            logger.warning("the flow events kept for the HAR reached \(bound % (1 << 20) == 0 ? "\(bound >> 20) MiB" : "\(bound) bytes") (harHistoryBytes): the oldest are dropped from now on, and the HAR's comment says how many entries are missing")
        }
    }
}
