import Dispatch
import Foundation

/// A listening TCP socket; each accepted connection goes to the next event loop.
final class Listener: @unchecked Sendable {
    let address: SocketAddress
    private let fd: Int32
    private let source: DispatchSourceRead
    private var isClosed = false
    private let lock = NSLock()

    /// Binds and listens. Port 0 picks a free port; `address` then holds the real one.
    init(host: String, port: Int, group: EventLoopGroup, backlog: Int32 = 1024,
         onAccept: @escaping @Sendable (Connection) -> Void) throws {
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
        source = DispatchSource.makeReadSource(fileDescriptor: fd, queue: DispatchQueue(label: "intercept-proxy.accept"))
        source.setEventHandler { [fd] in
            while true {
                var peerStorage = sockaddr_storage()
                var peerLength = socklen_t(MemoryLayout<sockaddr_storage>.size)
                let client = withUnsafeMutablePointer(to: &peerStorage) {
                    $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.accept(fd, $0, &peerLength) }
                }
                guard client >= 0 else { return }  // EAGAIN: drained; EMFILE and friends: retried on the next event
                _ = fcntl(client, F_SETFD, FD_CLOEXEC)
                let loop = group.nextLoop()
                let peer = SocketAddress(storage: peerStorage)
                loop.execute { onAccept(Connection(fd: client, loop: loop, peer: peer)) }
            }
        }
        source.setCancelHandler { Glibc.close(fd) }
        source.resume()
    }

    /// Stops accepting; established connections are not touched.
    func close() {
        lock.lock()
        defer { lock.unlock() }
        guard !isClosed else { return }
        isClosed = true
        source.cancel()
    }
}
