import FoundationEssentials
import Glibc

/// The name a forged leaf is issued for: a DNS name in A-label form or an IP literal.
/// Validating at the boundary keeps malformed names (and config-injection attempts) out of OpenSSL.
public enum ServerName: Hashable, Sendable, CustomStringConvertible {
    case dns(String)
    case ip(String)

    /// Parses a host as it arrives in SNI, a CONNECT line or on the command line.
    /// Accepts `example.com`, `EXAMPLE.com.` (normalised), `192.0.2.1`, `::1` and `[::1]`.
    public init(_ raw: String) throws {
        var host = raw
        if host.hasPrefix("["), host.hasSuffix("]") {
            host = String(host.dropFirst().dropLast())
            guard let canonical = IPAddress.canonical(host), host.contains(":") else {
                throw CertForgeError.invalidHostName(raw, reason: "brackets are only for IPv6 literals")
            }
            self = .ip(canonical)
            return
        }
        if let canonical = IPAddress.canonical(host) {
            self = .ip(canonical)
            return
        }
        self = .dns(try Self.validatedDNSName(host, raw: raw))
    }

    private static func validatedDNSName(_ name: String, raw: String) throws -> String {
        var name = name.lowercased()
        if name.hasSuffix(".") { name.removeLast() }
        guard !name.isEmpty else { throw CertForgeError.invalidHostName(raw, reason: "the name is empty") }
        guard name.unicodeScalars.allSatisfy(\.isASCII) else {
            throw CertForgeError.invalidHostName(raw, reason: "non-ASCII characters; pass the A-label (punycode) form, e.g. xn--bcher-kva.example")
        }
        guard name.utf8.count <= 253 else {
            throw CertForgeError.invalidHostName(raw, reason: "longer than 253 characters")
        }
        for label in name.split(separator: ".", omittingEmptySubsequences: false) {
            guard !label.isEmpty else { throw CertForgeError.invalidHostName(raw, reason: "empty label") }
            guard label.utf8.count <= 63 else {
                throw CertForgeError.invalidHostName(raw, reason: "label '\(label)' is longer than 63 characters")
            }
            // Letters, digits, hyphen; underscore too, because real hosts use it and TLS clients accept it.
            guard label.utf8.allSatisfy({ isAlphanumeric($0) || $0 == UInt8(ascii: "-") || $0 == UInt8(ascii: "_") }) else {
                throw CertForgeError.invalidHostName(raw, reason: "label '\(label)' has a character other than a-z, 0-9, '-' or '_'")
            }
            guard label.first != "-", label.last != "-" else {
                throw CertForgeError.invalidHostName(raw, reason: "label '\(label)' starts or ends with '-'")
            }
        }
        guard let last = name.split(separator: ".").last, !last.utf8.allSatisfy({ $0 >= 48 && $0 <= 57 }) else {
            throw CertForgeError.invalidHostName(raw, reason: "looks like an IP address but is not a valid one")
        }
        return name
    }

    private static func isAlphanumeric(_ byte: UInt8) -> Bool {
        (byte >= 97 && byte <= 122) || (byte >= 48 && byte <= 57)
    }

    /// The name as written into a certificate and used as a cache key.
    public var text: String {
        switch self {
        case let .dns(name): return name
        case let .ip(address): return address
        }
    }

    public var description: String { text }

    var subjectAlternativeName: SubjectAlternativeName {
        switch self {
        case let .dns(name): return .dnsName(name)
        case let .ip(address): return .ipAddress(address)
        }
    }
}

/// IP literal parsing and formatting through the C library.
enum IPAddress {
    /// The canonical text of an IPv4 or IPv6 literal, or nil when `text` is not one.
    static func canonical(_ text: String) -> String? {
        var v4 = in_addr()
        if inet_pton(AF_INET, text, &v4) == 1 {
            return withUnsafeBytes(of: &v4) { self.text(fromBytes: Array($0)) }
        }
        var v6 = in6_addr()
        if inet_pton(AF_INET6, text, &v6) == 1 {
            return withUnsafeBytes(of: &v6) { self.text(fromBytes: Array($0)) }
        }
        return nil
    }

    /// Formats 4 or 16 address bytes.
    static func text(fromBytes bytes: [UInt8]) -> String? {
        let family: Int32
        switch bytes.count {
        case 4: family = AF_INET
        case 16: family = AF_INET6
        default: return nil
        }
        var buffer = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN))
        let ok = bytes.withUnsafeBytes { inet_ntop(family, $0.baseAddress, &buffer, socklen_t(buffer.count)) }
        return ok == nil ? nil : String(cBuffer: buffer)
    }
}
