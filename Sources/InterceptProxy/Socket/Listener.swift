import Dispatch
import FoundationEssentials
import Glibc

/// What a listener asks of its owner. Everything but `accepted` runs on the listener's accept queue.
struct ListenerHandlers: Sendable {
    enum Admission {
        case serve
        /// Send these bytes (best effort) and close, without building a connection.
        case refuse(farewell: [UInt8])
    }

    /// Decides, before anything is allocated for it, whether an accepted socket is served.
    var admit: @Sendable (SocketAddress?) -> Admission
    /// An admitted connection, on the event loop it belongs to.
    var accepted: @Sendable (Connection) -> Void
    /// Accepting failed for lack of descriptors or memory: called once per episode.
    var starved: @Sendable (SocketError) -> Void
    /// The first accept after an episode succeeded; the argument is how long the episode lasted.
    var recovered: @Sendable (TimeInterval) -> Void
}

/// A listening TCP socket; each accepted connection goes to the next event loop.
///
/// At the descriptor limit (EMFILE, ENFILE) or out of kernel memory (ENOBUFS, ENOMEM), accept fails
/// while the pending connection stays queued, so the level-triggered read source would fire again at
/// once and spin a core. The listener then stops watching the socket and tries again after a back-off
/// (100 ms, doubling to 1 s), as nginx does. The alternative, a spare descriptor closed to accept and
/// drop the waiting client, would turn away clients a moment before a descriptor frees up; waiting in
/// the backlog, they are served as soon as one does.
final class Listener: @unchecked Sendable {
    let address: SocketAddress
    private let fd: Int32
    private let queue = DispatchQueue(label: "intercept-proxy.accept")
    private let source: DispatchSourceRead
    private let group: EventLoopGroup
    private let handlers: ListenerHandlers

    // Touched only on `queue`.
    private var isClosed = false
    private var isWatching = true
    /// Set from the first failed accept of an episode until the next successful one.
    private var starvedSince: Date?
    private var retryDelay = Listener.firstRetryDelay

    static let firstRetryDelay: TimeInterval = 0.1
    static let longestRetryDelay: TimeInterval = 1

    /// Binds and listens. Port 0 picks a free port; `address` then holds the real one.
    init(host: String, port: Int, group: EventLoopGroup, backlog: Int32 = 1024, handlers: ListenerHandlers) throws {
        let requested = SocketAddress(host: host, port: port)
        let family = requested.isIPv6 ? AF_INET6 : AF_INET
        let fd = socket(family, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw SocketError.last("socket") }
        var one: Int32 = 1
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
        if family == AF_INET6 {
            setsockopt(fd, Int32(IPPROTO_IPV6), IPV6_V6ONLY, &one, socklen_t(MemoryLayout<Int32>.size))
        }
        let bound = try requested.withSockAddr { Glibc.bind(fd, $0, $1) }
        guard let bound else {
            Glibc.close(fd)
            throw SocketError(operation: "listen address '\(host)' is not an IP address", code: EINVAL)
        }
        guard bound == 0, Glibc.listen(fd, backlog) == 0 else {
            let error = SocketError.last("bind \(requested)")
            Glibc.close(fd)
            throw error
        }
        _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK)
        var storage = sockaddr_storage()
        var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
        _ = withUnsafeMutablePointer(to: &storage) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        self.fd = fd
        self.address = SocketAddress(storage: storage) ?? requested
        self.group = group
        self.handlers = handlers
        source = DispatchSource.makeReadSource(fileDescriptor: fd, queue: queue)
        // The handler holds the listener until close() cancels the source.
        source.setEventHandler { self.acceptPending() }
        source.setCancelHandler { Glibc.close(fd) }
        source.resume()
    }

    /// Stops accepting; established connections are not touched. When it returns, nothing more is accepted.
    func close() {
        queue.sync {
            guard !isClosed else { return }
            isClosed = true
            // A suspended source must be resumed before it is cancelled, or it never finishes cancelling.
            if !isWatching { isWatching = true; source.resume() }
            source.cancel()
        }
    }

    private func acceptPending() {
        while !isClosed {
            var peerStorage = sockaddr_storage()
            var peerLength = socklen_t(MemoryLayout<sockaddr_storage>.size)
            let client = withUnsafeMutablePointer(to: &peerStorage) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.accept(fd, $0, &peerLength) }
            }
            guard client >= 0 else {
                switch errno {
                case EMFILE, ENFILE, ENOBUFS, ENOMEM: starve(SocketError.last("accept on \(address)"))
                case EINTR, ECONNABORTED, EPROTO: continue  // this one client is gone; the next may be fine
                default: break  // EAGAIN: drained
                }
                return
            }
            _ = fcntl(client, F_SETFD, FD_CLOEXEC)  // (Glibc does not export accept4)
            _ = fcntl(client, F_SETFL, fcntl(client, F_GETFL) | O_NONBLOCK)
            if let since = starvedSince {
                starvedSince = nil
                retryDelay = Self.firstRetryDelay
                handlers.recovered(Date().timeIntervalSince(since))
            }
            let peer = SocketAddress(storage: peerStorage)
            if case .refuse(let farewell) = handlers.admit(peer) {
                Self.refuse(client, farewell)
                continue
            }
            let loop = group.nextLoop()
            loop.execute { [handlers] in handlers.accepted(Connection(fd: client, loop: loop, peer: peer)) }
        }
    }

    /// Stops watching the socket for a while: the failed accept left the client queued, so the
    /// source would fire again at once.
    private func starve(_ error: SocketError) {
        if starvedSince == nil {
            starvedSince = Date()
            handlers.starved(error)
        }
        if isWatching { isWatching = false; source.suspend() }
        let delay = retryDelay
        retryDelay = min(retryDelay * 2, Self.longestRetryDelay)
        queue.asyncAfter(deadline: .now() + delay) { [self] in
            guard !isClosed, !isWatching else { return }
            isWatching = true
            source.resume()
        }
    }

    /// Answers a refused client and closes. The socket is fresh, so a short answer fits its send
    /// buffer at once; whatever the client already sent is read first, so the close is a FIN that
    /// lets it read the answer rather than a reset that may discard it.
    private static func refuse(_ client: Int32, _ farewell: [UInt8]) {
        _ = farewell.withUnsafeBytes { Glibc.send(client, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
        var scratch = [UInt8](repeating: 0, count: 4096)
        var reads = 0
        while reads < 16, Glibc.recv(client, &scratch, scratch.count, Int32(MSG_DONTWAIT)) > 0 { reads += 1 }
        Glibc.shutdown(client, Int32(SHUT_WR))
        Glibc.close(client)
    }
}
