import CertForge
import FoundationEssentials
import Glibc

/// An IPv4 or IPv6 socket address, convertible to and from sockaddr storage.
public struct SocketAddress: Hashable, Sendable, CustomStringConvertible {
    public let host: String
    public let port: Int
    var isIPv6: Bool { host.contains(":") }

    public init(host: String, port: Int) {
        self.host = host
        self.port = port
    }

    /// `127.0.0.1:8080` or `[::1]:8080`.
    public var description: String { isIPv6 ? "[\(host)]:\(port)" : "\(host):\(port)" }

    /// The address a client on this machine dials: a wildcard bind is reached on loopback.
    public var reachableLocally: SocketAddress {
        switch host {
        case "0.0.0.0": return SocketAddress(host: "127.0.0.1", port: port)
        case "::": return SocketAddress(host: "::1", port: port)
        default: return self
        }
    }

    init?(storage: sockaddr_storage) {
        var storage = storage
        var buffer = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN))
        switch Int32(storage.ss_family) {
        case AF_INET:
            let (address, port) = withUnsafePointer(to: &storage) {
                $0.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { ($0.pointee.sin_addr, $0.pointee.sin_port) }
            }
            var copy = address
            inet_ntop(AF_INET, &copy, &buffer, socklen_t(buffer.count))
            self.init(host: String(cBuffer: buffer), port: Int(UInt16(bigEndian: port)))
        case AF_INET6:
            let (address, port) = withUnsafePointer(to: &storage) {
                $0.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { ($0.pointee.sin6_addr, $0.pointee.sin6_port) }
            }
            var copy = address
            inet_ntop(AF_INET6, &copy, &buffer, socklen_t(buffer.count))
            self.init(host: String(cBuffer: buffer), port: Int(UInt16(bigEndian: port)))
        default:
            return nil
        }
    }

    /// The sockaddr for a numeric host, or nil when `host` is not an IP literal.
    func withSockAddr<R>(_ body: (UnsafePointer<sockaddr>, socklen_t) throws -> R) throws -> R? {
        var v4 = sockaddr_in()
        if inet_pton(AF_INET, host, &v4.sin_addr) == 1 {
            v4.sin_family = sa_family_t(AF_INET)
            v4.sin_port = UInt16(port).bigEndian
            return try withUnsafePointer(to: &v4) {
                try $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { try body($0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
            }
        }
        var v6 = sockaddr_in6()
        if inet_pton(AF_INET6, host, &v6.sin6_addr) == 1 {
            v6.sin6_family = sa_family_t(AF_INET6)
            v6.sin6_port = UInt16(port).bigEndian
            return try withUnsafePointer(to: &v6) {
                try $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { try body($0, socklen_t(MemoryLayout<sockaddr_in6>.size)) }
            }
        }
        return nil
    }
}

/// A failed socket call, with errno's text.
public struct SocketError: Error, CustomStringConvertible, Sendable {
    public let operation: String
    public let code: Int32
    public var description: String { "\(operation): \(String(cString: strerror(code)))" }

    static func last(_ operation: String) -> SocketError { SocketError(operation: operation, code: errno) }
}
