/// The fields of a client's TLS ClientHello the proxy reads before its own TLS starts: the name a
/// redirected connection was meant for (`--transparent` knows only the address), and what tells
/// the client's TLS stack apart. Parsed strictly (RFC 8446 4.1.2): every length must add up.
struct ClientHello: Equatable {
    var legacyVersion: UInt16
    var cipherSuites: [UInt16]
    /// Extension types in the order the client sent them.
    var extensions: [UInt16]
    var serverName: String?
    var alpn: [String]
    var supportedVersions: [UInt16]
    var signatureAlgorithms: [UInt16]

    enum Outcome: Equatable {
        /// The bytes so far are the start of a ClientHello: wait for more.
        case needsMore
        /// Not a TLS handshake record.
        case notTLS
        case invalid(String)
        case parsed(ClientHello)
    }

    /// A ClientHello larger than this is refused (post-quantum key shares stay far below it).
    static let maximumLength = 1 << 16
    /// Reads a caller parses a ClientHello over before giving up: real clients send it in one to
    /// three; a client dribbling it a byte at a time must not cost a re-parse per byte.
    static let maximumAttempts = 16

    /// Parses the first handshake message from the first bytes of a connection, over as many
    /// handshake records as it spans.
    static func parse(_ bytes: [UInt8]) -> Outcome {
        var message: [UInt8] = []
        var offset = 0
        while true {
            guard bytes.count > offset else { return offset == 0 ? .needsMore : needsMoreOrDone(message) }
            guard bytes[offset] == 22 else { return offset == 0 ? .notTLS : .invalid("a non-handshake record inside the ClientHello") }
            guard bytes.count >= offset + 5 else { return .needsMore }
            let length = Int(bytes[offset + 3]) << 8 | Int(bytes[offset + 4])
            guard bytes[offset + 1] == 3, length > 0, length <= 1 << 14 else { return .invalid("a malformed TLS record header") }
            guard bytes.count >= offset + 5 + length else { return .needsMore }
            message += bytes[(offset + 5)..<(offset + 5 + length)]
            offset += 5 + length
            if case let .complete(body) = frame(message) { return parseBody(body) }
            if case let .invalid(why) = frame(message) { return .invalid(why) }
        }
    }

    private enum Frame { case partial, complete([UInt8]), invalid(String) }

    private static func frame(_ message: [UInt8]) -> Frame {
        guard message.count >= 4 else { return .partial }
        guard message[0] == 1 else { return .invalid("the first handshake message is not a ClientHello") }
        let length = Int(message[1]) << 16 | Int(message[2]) << 8 | Int(message[3])
        guard length <= maximumLength else { return .invalid("a ClientHello of \(length) bytes") }
        guard message.count >= 4 + length else { return .partial }
        return .complete(Array(message[4..<(4 + length)]))
    }

    private static func needsMoreOrDone(_ message: [UInt8]) -> Outcome {
        if case let .invalid(why) = frame(message) { return .invalid(why) }
        return .needsMore
    }

    private static func parseBody(_ body: [UInt8]) -> Outcome {
        var reader = ByteReader(body)
        guard let version = reader.uint16(), reader.skip(32), let session = reader.vector(lengthBytes: 1), session.count <= 32,
              let suites = reader.vector(lengthBytes: 2), suites.count % 2 == 0, !suites.isEmpty,
              let compression = reader.vector(lengthBytes: 1), !compression.isEmpty else {
            return .invalid("a truncated ClientHello")
        }
        var hello = ClientHello(legacyVersion: version, cipherSuites: ByteReader.uint16s(suites), extensions: [], serverName: nil,
                                alpn: [], supportedVersions: [], signatureAlgorithms: [])
        guard !reader.isAtEnd else { return .parsed(hello) }  // no extensions at all (TLS 1.0 era)
        guard let extensions = reader.vector(lengthBytes: 2), reader.isAtEnd else { return .invalid("ClientHello lengths that do not add up") }
        var list = ByteReader(extensions)
        var seen = Set<UInt16>()
        while !list.isAtEnd {
            guard let type = list.uint16(), let data = list.vector(lengthBytes: 2) else { return .invalid("a truncated extension") }
            guard seen.insert(type).inserted else { return .invalid("extension \(type) twice") }
            hello.extensions.append(type)
            if let why = hello.read(extension: type, data) { return .invalid(why) }
        }
        return .parsed(hello)
    }

    /// Reads the extensions the proxy uses; nil when well formed.
    private mutating func read(extension type: UInt16, _ data: [UInt8]) -> String? {
        var reader = ByteReader(data)
        switch type {
        case 0:  // server_name: one host_name entry
            guard let list = reader.vector(lengthBytes: 2), reader.isAtEnd else { return "a malformed server_name" }
            var names = ByteReader(list)
            while !names.isAtEnd {
                guard let kind = names.uint8(), let name = names.vector(lengthBytes: 2), !name.isEmpty else { return "a malformed server_name" }
                if kind == 0 {
                    guard serverName == nil, name.allSatisfy({ $0 > 0x20 && $0 < 0x7f }) else { return "a malformed host_name" }
                    serverName = String(decoding: name, as: UTF8.self)
                }
            }
        case 16:  // application_layer_protocol_negotiation
            guard let list = reader.vector(lengthBytes: 2), reader.isAtEnd, !list.isEmpty else { return "a malformed ALPN list" }
            var names = ByteReader(list)
            while !names.isAtEnd {
                guard let name = names.vector(lengthBytes: 1), !name.isEmpty else { return "a malformed ALPN list" }
                alpn.append(String(decoding: name, as: UTF8.self))
            }
        case 43:  // supported_versions
            guard let list = reader.vector(lengthBytes: 1), reader.isAtEnd, list.count % 2 == 0 else { return "malformed supported_versions" }
            supportedVersions = ByteReader.uint16s(list)
        case 13:  // signature_algorithms
            guard let list = reader.vector(lengthBytes: 2), reader.isAtEnd, list.count % 2 == 0 else { return "malformed signature_algorithms" }
            signatureAlgorithms = ByteReader.uint16s(list)
        default:
            break
        }
        return nil
    }
}

/// Big-endian reads over a byte array; every read checks the bound.
struct ByteReader {
    private let bytes: [UInt8]
    private var offset = 0

    init(_ bytes: [UInt8]) { self.bytes = bytes }

    var isAtEnd: Bool { offset == bytes.count }

    mutating func uint8() -> UInt8? {
        guard offset < bytes.count else { return nil }
        defer { offset += 1 }
        return bytes[offset]
    }

    mutating func uint16() -> UInt16? {
        guard offset + 2 <= bytes.count else { return nil }
        defer { offset += 2 }
        return UInt16(bytes[offset]) << 8 | UInt16(bytes[offset + 1])
    }

    mutating func skip(_ count: Int) -> Bool {
        guard offset + count <= bytes.count else { return false }
        offset += count
        return true
    }

    /// A length-prefixed vector (`lengthBytes` of big-endian length, then that many bytes).
    mutating func vector(lengthBytes: Int) -> [UInt8]? {
        guard offset + lengthBytes <= bytes.count else { return nil }
        let length = bytes[offset..<(offset + lengthBytes)].reduce(0) { $0 << 8 | Int($1) }
        guard offset + lengthBytes + length <= bytes.count else { return nil }
        defer { offset += lengthBytes + length }
        return Array(bytes[(offset + lengthBytes)..<(offset + lengthBytes + length)])
    }

    static func uint16s(_ bytes: [UInt8]) -> [UInt16] {
        stride(from: 0, to: bytes.count - 1, by: 2).map { UInt16(bytes[$0]) << 8 | UInt16(bytes[$0 + 1]) }
    }
}
