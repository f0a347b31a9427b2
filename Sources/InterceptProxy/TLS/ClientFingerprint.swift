import COpenSSL

/// What a ClientHello says about the TLS stack that sent it: its JA4 fingerprint (FoxIO's JA4,
/// `t13d1516h2_8daaf6152771_02713d6af862`) and, where the proxy knows the stack, its name. Two code
/// paths of one tool that trust differently (one uses the OS store through OpenSSL, the other Go's
/// or Java's own) are told apart by it.
public struct ClientFingerprint: Equatable, Sendable {
    public let ja4: String
    /// `OpenSSL`, `Go`, `Java`, `rustls` or `GnuTLS`; nil when not recognised.
    public let stack: String?

    init(_ hello: ClientHello) {
        ja4 = Self.ja4(hello)
        stack = Self.stack(of: hello)
    }

    /// JA4: `t` (TLS over TCP), the highest version offered, `d` with SNI or `i` without, the
    /// numbers of cipher suites and extensions, the first ALPN value's first and last characters;
    /// then the first 12 hex digits of SHA-256 over the sorted cipher suites, and over the sorted
    /// extensions (without SNI and ALPN) followed by the signature algorithms in their order.
    /// GREASE values (RFC 8701) count nowhere.
    static func ja4(_ hello: ClientHello) -> String {
        let ciphers = hello.cipherSuites.filter { !isGREASE($0) }
        let extensions = hello.extensions.filter { !isGREASE($0) }
        let version = (hello.supportedVersions.filter { !isGREASE($0) }.max() ?? hello.legacyVersion)
        let versionText: String
        switch version {
        case 0x0304: versionText = "13"
        case 0x0303: versionText = "12"
        case 0x0302: versionText = "11"
        case 0x0301: versionText = "10"
        case 0x0300: versionText = "s3"
        default: versionText = "00"
        }
        let alpn: String
        if let first = hello.alpn.first.map({ Array($0.utf8) }), let head = first.first, let tail = first.last {
            // Its first and last characters, or when either is not alphanumeric the hex of both bytes.
            let alphanumeric = { (byte: UInt8) in (0x30...0x39).contains(byte) || (0x41...0x5a).contains(byte) || (0x61...0x7a).contains(byte) }
            alpn = alphanumeric(head) && alphanumeric(tail)
                ? String(decoding: [head, tail], as: UTF8.self)
                : String(hex(UInt16(head) << 8 | UInt16(tail)).prefix(1)) + String(hex(UInt16(head) << 8 | UInt16(tail)).suffix(1))
        } else {
            alpn = "00"
        }
        let a = "t\(versionText)\(extensions.contains(0) ? "d" : "i")\(twoDigits(ciphers.count))\(twoDigits(extensions.count))\(alpn)"
        let b = ciphers.isEmpty ? String(repeating: "0", count: 12) : truncatedHash(ciphers.sorted().map(hex).joined(separator: ","))
        let counted = extensions.filter { $0 != 0 && $0 != 16 }.sorted().map(hex).joined(separator: ",")
        let algorithms = hello.signatureAlgorithms.filter { !isGREASE($0) }.map(hex).joined(separator: ",")
        let c = counted.isEmpty ? String(repeating: "0", count: 12) : truncatedHash(algorithms.isEmpty ? counted : counted + "_" + algorithms)
        return "\(a)_\(b)_\(c)"
    }

    /// The stack, from traits of its default ClientHello that its applications rarely change, as
    /// the clients of the test machine sent them (curl, Python and node: OpenSSL 3; Go 1.19; Java 17;
    /// uv: rustls; wget: GnuTLS): OpenSSL, Java and rustls put the renegotiation SCSV among the
    /// suites, and only OpenSSL sends encrypt_then_mac, only Java signature_algorithms_cert; Go and
    /// GnuTLS send renegotiation_info instead, Go's suites ending in the TLS 1.3 ones, GnuTLS
    /// offering TLS_AES_128_CCM_SHA256. Anything else is left unnamed.
    static func stack(of hello: ClientHello) -> String? {
        let ciphers = hello.cipherSuites.filter { !isGREASE($0) }
        let extensions = Set(hello.extensions)
        let tls13 = Set<UInt16>([0x1301, 0x1302, 0x1303])
        if ciphers.contains(0x00ff) {
            if extensions.contains(50) { return "Java" }
            if extensions.contains(22) { return "OpenSSL" }
            if ciphers.first.map(tls13.contains) == true { return "rustls" }
            return nil
        }
        guard extensions.contains(0xff01) else { return nil }
        if ciphers.contains(0x1304) { return "GnuTLS" }
        if ciphers.last.map(tls13.contains) == true { return "Go" }
        return nil
    }

    static func isGREASE(_ value: UInt16) -> Bool { value & 0x0f0f == 0x0a0a && value >> 8 == value & 0xff }

    private static func twoDigits(_ count: Int) -> String {
        let capped = min(count, 99)
        return capped < 10 ? "0\(capped)" : "\(capped)"
    }

    private static func hex(_ value: UInt16) -> String {
        let digits = String(value, radix: 16)
        return String(repeating: "0", count: 4 - digits.count) + digits
    }

    private static func truncatedHash(_ text: String) -> String {
        var digest = [UInt8](repeating: 0, count: 32)
        let bytes = Array(text.utf8)
        _ = SHA256(bytes, bytes.count, &digest)
        return digest.prefix(6).map { ($0 < 16 ? "0" : "") + String($0, radix: 16) }.joined()
    }
}
