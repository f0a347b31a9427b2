import Dispatch
import FoundationEssentials
import Glibc

/// Opens a TCP connection without blocking a loop: names resolve on a worker thread, the connect
/// itself is non-blocking, and every attempt is bounded by a timeout.
enum TCPConnector {
    static func connect(host: String, port: Int, loop: EventLoop, timeout: TimeInterval,
                        completion: @escaping @Sendable (Result<Connection, UpstreamFailure>) -> Void) {
        if SocketAddress(host: host, port: port).isNumeric {
            loop.execute { attempt([SocketAddress(host: host, port: port)], loop: loop, timeout: timeout, completion: completion) }
            return
        }
        DispatchQueue.global(qos: .userInitiated).async {
            let result = resolve(host: host, port: port)
            loop.execute {
                switch result {
                case let .success(addresses): attempt(addresses, loop: loop, timeout: timeout, completion: completion)
                case let .failure(failure): completion(.failure(failure))
                }
            }
        }
    }

    /// getaddrinfo, which blocks: only ever called off the loops.
    static func resolve(host: String, port: Int) -> Result<[SocketAddress], UpstreamFailure> {
        var hints = addrinfo()
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        var list: UnsafeMutablePointer<addrinfo>?
        let status = getaddrinfo(host, String(port), &hints, &list)
        guard status == 0, let list else {
            return .failure(.dns(host: host, detail: String(cString: gai_strerror(status))))
        }
        defer { freeaddrinfo(list) }
        var addresses: [SocketAddress] = []
        var cursor: UnsafeMutablePointer<addrinfo>? = list
        while let entry = cursor {
            var storage = sockaddr_storage()
            memcpy(&storage, entry.pointee.ai_addr, Int(entry.pointee.ai_addrlen))
            if let address = SocketAddress(storage: storage), !addresses.contains(address) { addresses.append(address) }
            cursor = entry.pointee.ai_next
        }
        return addresses.isEmpty ? .failure(.dns(host: host, detail: "no addresses")) : .success(addresses)
    }

    /// Tries each address in turn; the last failure is reported.
    private static func attempt(_ addresses: [SocketAddress], loop: EventLoop, timeout: TimeInterval,
                                completion: @escaping @Sendable (Result<Connection, UpstreamFailure>) -> Void) {
        guard let address = addresses.first else { return }
        let rest = Array(addresses.dropFirst())
        connectOne(address, loop: loop, timeout: timeout) { result in
            if case .failure = result, !rest.isEmpty {
                attempt(rest, loop: loop, timeout: timeout, completion: completion)
            } else {
                completion(result)
            }
        }
    }

    private static func connectOne(_ address: SocketAddress, loop: EventLoop, timeout: TimeInterval,
                                   completion: @escaping @Sendable (Result<Connection, UpstreamFailure>) -> Void) {
        let fd = socket(address.isIPv6 ? AF_INET6 : AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else {
            completion(.failure(.refused(address: address.description, detail: SocketError.last("socket").description)))
            return
        }
        _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK)
        let result = (try? address.withSockAddr { Glibc.connect(fd, $0, $1) }) ?? -1
        if result == 0 {
            completion(.success(Connection(fd: fd, loop: loop, peer: address)))
            return
        }
        guard errno == EINPROGRESS else {
            let detail = String(cString: strerror(errno))
            Glibc.close(fd)
            completion(.failure(.refused(address: address.description, detail: detail)))
            return
        }
        let pending = PendingConnect(fd: fd, loop: loop)
        pending.wait(timeout: timeout) { outcome in
            switch outcome {
            case .connected: completion(.success(Connection(fd: fd, loop: loop, peer: address)))
            case let .failed(code):
                Glibc.close(fd)
                completion(.failure(.refused(address: address.description, detail: String(cString: strerror(code)))))
            case .timedOut:
                Glibc.close(fd)
                completion(.failure(.timeout("connecting to \(address) after \(Int(timeout)) s")))
            }
        }
    }
}

/// Waits for a non-blocking connect to finish, on the loop: the socket's first output edge.
private final class PendingConnect: PollTarget, @unchecked Sendable {
    enum Outcome { case connected, failed(Int32), timedOut }
    private let fd: Int32
    private let loop: EventLoop
    private var registration: SocketPoller.Token?
    private var timer: LoopTimer?
    private var done: (@Sendable (Outcome) -> Void)?

    init(fd: Int32, loop: EventLoop) {
        self.fd = fd
        self.loop = loop
    }

    func wait(timeout: TimeInterval, _ done: @escaping @Sendable (Outcome) -> Void) {
        self.done = done
        timer = loop.schedule(after: timeout) { [self] in finish(.timedOut) }
        registration = loop.poller.register(fd, self, events: SocketPoller.writeOnly)
        if registration == nil { finish(.failed(errno)) }
    }

    func pollEvents(_ events: SocketReadiness) {
        var code: Int32 = 0
        var length = socklen_t(MemoryLayout<Int32>.size)
        getsockopt(fd, SOL_SOCKET, SO_ERROR, &code, &length)
        finish(code == 0 ? .connected : .failed(code))
    }

    func deferredRead() {}

    private func finish(_ outcome: Outcome) {
        guard let done else { return }
        self.done = nil
        timer?.cancel()
        timer = nil
        // The fd stays open: the Connection (or the failure path) owns it.
        if let registration { loop.poller.deregister(fd, registration) }
        registration = nil
        done(outcome)
    }
}

extension SocketAddress {
    /// Whether the host is an IP literal (no name resolution needed).
    var isNumeric: Bool { Self.isIPLiteral(host) }

    /// Whether `text` is an IPv4 or IPv6 address (no brackets).
    static func isIPLiteral(_ text: String) -> Bool {
        var v4 = in_addr(), v6 = in6_addr()
        return inet_pton(AF_INET, text, &v4) == 1 || inet_pton(AF_INET6, text, &v6) == 1
    }
}
