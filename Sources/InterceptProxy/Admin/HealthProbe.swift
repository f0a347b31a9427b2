import FoundationEssentials
import Glibc

/// One HTTP/1.1 request over a blocking socket, bounded by a deadline: what `intercept-proxy
/// healthcheck` sends to the control API or the proxy port (a container image has no curl).
public enum HealthProbe {
    /// Sends `request` to host:port and returns the response's status code; throws with the reason
    /// (refused, timed out, not HTTP) when there is none within `timeout` seconds.
    public static func status(host: String, port: Int, request: String, timeout: TimeInterval) throws -> Int {
        let address = SocketAddress(host: host, port: port)
        guard address.isNumeric else { throw ConfigurationError("\(host) is not an IP address") }
        let deadline = Date() + timeout
        let fd = socket(address.isIPv6 ? AF_INET6 : AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw SocketError.last("socket") }
        defer { close(fd) }
        _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK)
        let started = try address.withSockAddr { Glibc.connect(fd, $0, $1) } ?? -1
        if started != 0 && errno != EINPROGRESS { throw SocketError.last("connect to \(address)") }
        try wait(fd, for: Int16(POLLOUT), until: deadline, doing: "connecting to \(address)")
        var failure: Int32 = 0
        var length = socklen_t(MemoryLayout<Int32>.size)
        getsockopt(fd, SOL_SOCKET, SO_ERROR, &failure, &length)
        guard failure == 0 else { throw SocketError(operation: "connect to \(address)", code: failure) }
        var pending = Array(request.utf8)[...]
        while !pending.isEmpty {
            try wait(fd, for: Int16(POLLOUT), until: deadline, doing: "sending to \(address)")
            let sent = pending.withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            guard sent > 0 || errno == EAGAIN else { throw SocketError.last("send to \(address)") }
            if sent > 0 { pending = pending.dropFirst(sent) }
        }
        var received: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 512)
        while !received.contains(UInt8(ascii: "\n")) && received.count < 512 {
            try wait(fd, for: Int16(POLLIN), until: deadline, doing: "waiting for \(address)'s answer")
            let count = recv(fd, &buffer, buffer.count, 0)
            if count == 0 { break }
            guard count > 0 || errno == EAGAIN else { throw SocketError.last("recv from \(address)") }
            if count > 0 { received += buffer[..<count] }
        }
        let line = String(decoding: received.prefix { $0 != 13 && $0 != 10 }, as: UTF8.self)
        let parts = line.split(separator: " ")
        guard parts.count >= 2, parts[0].hasPrefix("HTTP/1."), let code = Int(parts[1]) else {
            throw ConfigurationError("\(address) did not answer with HTTP (got '\(line.prefix(80))')")
        }
        return code
    }

    private static func wait(_ fd: Int32, for events: Int16, until deadline: Date, doing what: String) throws {
        var entry = pollfd(fd: fd, events: events, revents: 0)
        while true {
            let left = deadline.timeIntervalSinceNow
            guard left > 0 else { throw ConfigurationError("timed out \(what)") }
            let ready = poll(&entry, 1, Int32(min(left * 1000, 60_000).rounded(.up)))
            if ready > 0 { return }
            if ready < 0 && errno != EINTR { throw SocketError.last("poll") }
        }
    }
}
