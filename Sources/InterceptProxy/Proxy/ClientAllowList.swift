import FoundationEssentials
import EssentialsSupport
import Glibc

/// Which client addresses may use the proxy (`--allow-clients`): a list of IPv4 and IPv6 ranges,
/// parsed once, checked at accept time. Every address is held as 128 bits with IPv4 mapped into
/// ::ffff:0:0/96, so an IPv4-mapped peer on a dual-stack socket matches the IPv4 ranges.
public struct ClientAllowList: Sendable, Equatable {
    struct Range: Sendable, Equatable {
        let high: UInt64
        let low: UInt64
        /// 0 to 128, in the 128-bit space.
        let prefix: Int

        func contains(_ address: (UInt64, UInt64)) -> Bool {
            let (highMask, lowMask) = Self.masks(prefix)
            return address.0 & highMask == high && address.1 & lowMask == low
        }

        static func masks(_ prefix: Int) -> (UInt64, UInt64) {
            let high: UInt64 = prefix >= 64 ? .max : (prefix == 0 ? 0 : ~0 << (64 - prefix))
            let low: UInt64 = prefix <= 64 ? 0 : (prefix == 128 ? .max : ~0 << (128 - prefix))
            return (high, low)
        }
    }

    /// The ranges as given (for messages).
    public let entries: [String]
    let ranges: [Range]

    /// Loopback, the private ranges (RFC 1918, unique local fc00::/7) and link-local: the default
    /// when the proxy listens on a non-loopback address.
    public static let privateNetworkEntries = [
        "127.0.0.0/8", "::1/128", "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "169.254.0.0/16", "fc00::/7", "fe80::/10",
    ]

    public static let privateNetworks = try! ClientAllowList(privateNetworkEntries)

    /// Each entry is `ADDRESS/PREFIX` or a plain address (a /32 or /128); host bits must be zero.
    public init(_ entries: [String]) throws {
        self.entries = entries
        ranges = try entries.map(Self.parse)
    }

    /// Whether a peer may use the proxy; an address that cannot be read is not allowed.
    public func allows(_ host: String) -> Bool {
        guard let address = Self.bits(of: host) else { return false }
        return ranges.contains { $0.contains(address) }
    }

    private static func parse(_ entry: String) throws -> Range {
        let parts = entry.split(separator: "/", maxSplits: 1, omittingEmptySubsequences: false).map(String.init)
        let addressText = parts[0].trimming(charactersIn: "[]")
        guard let address = bits(of: addressText) else {
            throw ConfigurationError("--allow-clients takes CIDR ranges or addresses (10.0.0.0/8, fd00::/8, 192.0.2.7), got '\(entry)'")
        }
        let isIPv4 = !addressText.contains(":")
        let width = isIPv4 ? 32 : 128
        var length = width
        if parts.count == 2 {
            guard let value = Int(parts[1]), (0...width).contains(value), !parts[1].hasPrefix("+") else {
                throw ConfigurationError("--allow-clients '\(entry)': the prefix length must be 0 to \(width)")
            }
            length = value
        }
        let prefix = isIPv4 ? length + 96 : length
        let (highMask, lowMask) = Range.masks(prefix)
        let range = Range(high: address.0 & highMask, low: address.1 & lowMask, prefix: prefix)
        guard range.high == address.0, range.low == address.1 else {
            throw ConfigurationError("--allow-clients '\(entry)' has host bits set; did you mean \(text(range, isIPv4: isIPv4))/\(length)?")
        }
        return range
    }

    /// The 128 bits of an IPv4 (mapped) or IPv6 literal.
    static func bits(of host: String) -> (UInt64, UInt64)? {
        var bytes = [UInt8](repeating: 0, count: 16)
        var v4 = in_addr()
        if inet_pton(AF_INET, host, &v4) == 1 {
            bytes[10] = 0xff
            bytes[11] = 0xff
            withUnsafeBytes(of: &v4) { for index in 0..<4 { bytes[12 + index] = $0[index] } }
        } else {
            var v6 = in6_addr()
            guard inet_pton(AF_INET6, host, &v6) == 1 else { return nil }
            withUnsafeBytes(of: &v6) { for index in 0..<16 { bytes[index] = $0[index] } }
        }
        let high = bytes[0..<8].reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
        let low = bytes[8..<16].reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
        return (high, low)
    }

    private static func text(_ range: Range, isIPv4: Bool) -> String {
        var bytes: [UInt8] = []
        for word in [range.high, range.low] { for shift in stride(from: 56, through: 0, by: -8) { bytes.append(UInt8(truncatingIfNeeded: word >> UInt64(shift))) } }
        var buffer = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN))
        if isIPv4 { return bytes[12...].map(String.init).joined(separator: ".") }
        bytes.withUnsafeBytes { _ = inet_ntop(AF_INET6, $0.baseAddress, &buffer, socklen_t(buffer.count)) }
        return String(cBuffer: buffer)
    }

    /// Whether a listen address reaches only this machine: then any client that can connect is allowed.
    public static func isLoopback(listenHost: String) -> Bool {
        let host = listenHost.lowercased()
        if host == "localhost" { return true }
        guard let address = bits(of: host) else { return false }
        return loopback.ranges.contains { $0.contains(address) }
    }

    private static let loopback = try! ClientAllowList(["127.0.0.0/8", "::1"])

    /// The list a configuration asks for: the given ranges, else the private networks when the
    /// proxy listens beyond loopback, else nil (everyone who can connect).
    static func effective(_ configuration: ProxyConfiguration) throws -> ClientAllowList? {
        if let given = configuration.allowClients { return try ClientAllowList(given) }
        return isLoopback(listenHost: configuration.listenHost) ? nil : privateNetworks
    }
}
