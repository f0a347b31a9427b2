import COpenSSL
import FoundationEssentials
import EssentialsSupport
import Glibc

/// The names a CA may sign for (`ca init --name-constraints`): a critical NameConstraints
/// extension (RFC 5280 4.2.1.10) with permitted DNS subtrees and, optionally, IP ranges.
///
/// A dNSName constraint `example.com` permits example.com and every name below it; a leading dot
/// (`.test`) is accepted and dropped, since RFC 5280 gives dNSName no other meaning for it (OpenSSL
/// and Go would read `.test` as "subdomains only"). Constraints of one name type leave the others
/// free, so without an IP range every IPv4 and IPv6 address is excluded: the CA then signs for no
/// address at all.
public struct NameConstraints: Hashable, Sendable, CustomStringConvertible {
    /// Lower-case DNS names without a leading dot.
    public let dnsNames: [String]
    /// `address/prefix` ranges, canonical.
    public let ipRanges: [String]

    /// Entries as given on the command line: DNS names (`corp.internal`, `.test`) and CIDR ranges (`10.0.0.0/8`, `fd00::/8`).
    public init(_ entries: [String]) throws {
        var names: [String] = []
        var ranges: [String] = []
        for raw in entries.map({ $0.trimmingWhitespace() }) where !raw.isEmpty {
            if raw.contains("/") {
                ranges.append(try Self.range(raw))
                continue
            }
            let name = raw.hasPrefix(".") ? String(raw.dropFirst()) : raw
            guard case let .dns(dns)? = try? ServerName(name), !name.hasPrefix(".") else {
                throw CertForgeError.invalidNameConstraint(raw, reason: "not a DNS name (a single address is written as a range: 192.0.2.7/32)")
            }
            if !names.contains(dns) { names.append(dns) }
        }
        guard !names.isEmpty else {
            throw CertForgeError.invalidNameConstraint(entries.joined(separator: ","),
                                                       reason: "at least one DNS name is needed (DNS names are left unconstrained otherwise)")
        }
        dnsNames = names
        ipRanges = ranges
    }

    /// A comma-separated list, as `--name-constraints` takes it.
    public init(parsing list: String) throws {
        try self.init(list.split(separator: ",").map(String.init))
    }

    public var description: String { (dnsNames + ipRanges).joined(separator: ",") }

    /// OpenSSL's extension configuration syntax.
    var configValue: String {
        var parts = dnsNames.map { "permitted;DNS:\($0)" } + ipRanges.map { "permitted;IP:\(Self.addressAndMask($0))" }
        if ipRanges.isEmpty { parts += ["excluded;IP:0.0.0.0/0.0.0.0", "excluded;IP:::/::"] }
        return "critical," + parts.joined(separator: ",")
    }

    /// `10.0.0.0/8` checked (host bits zero) and canonical.
    private static func range(_ text: String) throws -> String {
        let parts = text.split(separator: "/", maxSplits: 1).map(String.init)
        let isIPv6 = parts[0].contains(":")
        let width = isIPv6 ? 128 : 32
        guard parts.count == 2, let canonical = IPAddress.canonical(parts[0]), let length = Int(parts[1]), (0...width).contains(length),
              !parts[1].hasPrefix("+") else {
            throw CertForgeError.invalidNameConstraint(text, reason: "an IP range is ADDRESS/PREFIX, e.g. 10.0.0.0/8 or fd00::/8")
        }
        let bytes = addressBytes(canonical)
        guard bytes == masked(bytes, length) else {
            throw CertForgeError.invalidNameConstraint(text, reason: "the address has bits set beyond the /\(length) prefix")
        }
        return "\(canonical)/\(length)"
    }

    /// `10.0.0.0/255.0.0.0`: the form the extension (and OpenSSL's syntax for it) takes.
    static func addressAndMask(_ range: String) -> String {
        let parts = range.split(separator: "/").map(String.init)
        let length = Int(parts[1])!
        let count = parts[0].contains(":") ? 16 : 4
        let mask = masked([UInt8](repeating: 0xff, count: count), length)
        return "\(parts[0])/\(text(mask))"
    }

    private static func masked(_ bytes: [UInt8], _ length: Int) -> [UInt8] {
        bytes.enumerated().map { index, byte in
            let bits = min(8, max(0, length - index * 8))
            return bits == 0 ? 0 : byte & UInt8(truncatingIfNeeded: 0xff << (8 - bits))
        }
    }

    private static func addressBytes(_ text: String) -> [UInt8] {
        var storage = [UInt8](repeating: 0, count: 16)
        if inet_pton(AF_INET, text, &storage) == 1 { return Array(storage.prefix(4)) }
        _ = inet_pton(AF_INET6, text, &storage)
        return storage
    }

    private static func text(_ bytes: [UInt8]) -> String {
        var buffer = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN))
        _ = inet_ntop(bytes.count == 4 ? AF_INET : AF_INET6, bytes, &buffer, socklen_t(buffer.count))
        return String(cBuffer: buffer)
    }
}

extension Certificate {
    /// The NameConstraints extension in OpenSSL's words on one line (`permitted DNS:test, IP:10.0.0.0/255.0.0.0`), if present.
    public var nameConstraintsText: String? {
        let index = X509_get_ext_by_NID(pointer, NID_name_constraints, -1)
        guard index >= 0, let ext = X509_get_ext(pointer, index), let bio = try? MemoryBIO(),
              X509V3_EXT_print(bio.pointer, ext, 0, 0) == 1 else { return nil }
        // OpenSSL prints "Permitted:" and "Excluded:", each followed by one subtree a line.
        var sections: [(String, [String])] = []
        for line in bio.string.split(separator: "\n").map({ $0.trimmingWhitespace() }) where !line.isEmpty {
            if line.hasSuffix(":") { sections.append((line.dropLast().lowercased(), [])) } else if !sections.isEmpty { sections[sections.count - 1].1.append(line) }
        }
        return sections.map { "\($0.0) \($0.1.joined(separator: ", "))" }.joined(separator: "; ")
    }
}

extension CertificateAuthority {
    /// Why clients that enforce the CAs' name constraints would reject this leaf (OpenSSL's words,
    /// e.g. "permitted subtree violation"), or nil when it satisfies them or there are none.
    public func nameConstraintViolation(of leaf: Certificate) -> String? {
        _ = X509_check_purpose(leaf.pointer, -1, 0)  // caches the leaf's SANs, which the check reads
        for authority in [root] + intermediates {
            guard let raw = X509_get_ext_d2i(authority.certificate.pointer, NID_name_constraints, nil, nil) else { continue }
            let constraints = raw.assumingMemoryBound(to: NAME_CONSTRAINTS.self)
            defer { NAME_CONSTRAINTS_free(constraints) }
            var result = NAME_CONSTRAINTS_check(leaf.pointer, constraints)
            if result == X509_V_OK { result = NAME_CONSTRAINTS_check_CN(leaf.pointer, constraints) }
            if result != X509_V_OK { return String(cString: X509_verify_cert_error_string(Int(result))) }
        }
        return nil
    }
}
