import FoundationEssentials

/// Wire-level pieces both HTTP/1.1 decoders use.
enum HTTPWire {
    /// Chunk sizes have at most 15 hex digits: 60 bits, so the value always fits an Int.
    static let maximumChunkSizeDigits = 15

    /// The size on a chunk-size line: `1*HEXDIG [ BWS ";" chunk-ext ]` (RFC 9112 7.1), extensions
    /// ignored but checked for control characters (the line's length is bounded by the caller).
    static func chunkSize(_ line: ArraySlice<UInt8>) throws -> Int {
        func invalid() -> HTTPParseError { .malformed("invalid chunk size line '\(escaped(line))'") }
        let digitsEnd = line.firstIndex { hexValue($0) == nil } ?? line.endIndex
        let digits = line[..<digitsEnd]
        guard !digits.isEmpty else { throw invalid() }
        guard digits.count <= maximumChunkSizeDigits else {
            throw HTTPParseError.malformed("invalid chunk size line '\(escaped(line))': more than \(maximumChunkSizeDigits) hex digits")
        }
        let rest = line[digitsEnd...]
        if !rest.isEmpty {
            let semicolon = rest.firstIndex(of: UInt8(ascii: ";")) ?? rest.endIndex
            guard semicolon < rest.endIndex, rest[..<semicolon].allSatisfy(isBlank),
                  rest.allSatisfy(isFieldValueByte) else { throw invalid() }
        }
        return digits.reduce(0) { $0 << 4 | hexValue($1)! }
    }

    private static func hexValue(_ byte: UInt8) -> Int? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): return Int(byte - UInt8(ascii: "0"))
        case UInt8(ascii: "a")...UInt8(ascii: "f"): return Int(byte - UInt8(ascii: "a") + 10)
        case UInt8(ascii: "A")...UInt8(ascii: "F"): return Int(byte - UInt8(ascii: "A") + 10)
        default: return nil
        }
    }

    /// `Name: value` lines; `source` starts the error message ("malformed header line" or "upstream
    /// sent ..."). Strict (RFC 9110 5.1, 5.5; RFC 9112 5): the name is a token right before the colon,
    /// the value has no control character but HTAB (a bare CR, LF or NUL is read as a line break or
    /// the end of the field by some servers behind the proxy: header injection, request smuggling),
    /// and a line starting with whitespace (obs-fold) is refused, as RFC 9112 5.2 allows.
    static func headerFields(_ lines: HeadLines, source: String) throws -> [(name: String, value: String)] {
        var fields: [(name: String, value: String)] = []
        fields.reserveCapacity(lines.remainingCount)
        for line in lines { fields.append(try headerField(line, source: source)) }
        return fields
    }

    static func headerField(_ line: ArraySlice<UInt8>, source: String) throws -> (name: String, value: String) {
        func refuse(_ why: String) -> HTTPParseError { .malformed("\(source) '\(escaped(line))'\(why)") }
        // On the raw bytes: slices of a buffer pointer cost no reference counting, and every field
        // of every head passes here.
        return try line.withUnsafeBufferPointer { bytes in
            if let first = bytes.first, isBlank(first) {
                throw refuse(": obsolete line folding (a line starting with a space or tab) is not accepted")
            }
            guard let colon = bytes.firstIndex(of: UInt8(ascii: ":")), colon != 0 else { throw refuse("") }
            let name = UnsafeBufferPointer(rebasing: bytes[..<colon])
            guard isToken(name) else {  // a token has no blank: look for one only to say what is wrong
                throw name.contains(where: isBlank) ? refuse("") : refuse(": the field name is not a token")
            }
            var start = colon + 1, end = bytes.count
            while start < end, isBlank(bytes[start]) { start += 1 }
            while end > start, isBlank(bytes[end - 1]) { end -= 1 }
            let value = UnsafeBufferPointer(rebasing: bytes[start..<end])
            guard value.allSatisfy(isFieldValueByte) else {
                throw refuse(": the field value contains a control character (a bare CR or LF, NUL, ...)")
            }
            return (String(decoding: name, as: UTF8.self), String(decoding: value, as: UTF8.self))
        }
    }

    static func isBlank(_ byte: UInt8) -> Bool { byte == 32 || byte == 9 }

    /// `host[:port]` as in Host, :authority, URLs and CONNECT targets: IPv6 in brackets, the port
    /// left out when it is the scheme's default (443 for https, 80 for http; nil: always written).
    static func authority(host: String, port: Int, defaultPort: Int? = 443) -> String {
        let bracketed = host.contains(":") ? "[\(host)]" : host
        return port == defaultPort ? bracketed : "\(bracketed):\(port)"
    }

    /// One chunk of a chunked body (RFC 9112 7.1): size line, data, CRLF; nothing for no bytes
    /// (an empty chunk would end the body).
    static func chunk(_ bytes: [UInt8]) -> [UInt8] {
        guard !bytes.isEmpty else { return [] }
        var framed = Array("\(String(bytes.count, radix: 16))\r\n".utf8)
        framed.reserveCapacity(framed.count + bytes.count + 2)
        framed += bytes
        framed += [13, 10]
        return framed
    }

    /// The last chunk and the trailer section that end a chunked body.
    static func lastChunk(trailers: [(name: String, value: String)] = []) -> [UInt8] {
        guard !trailers.isEmpty else { return lastChunkBytes }
        return Array(("0\r\n" + trailers.map { "\($0.name): \($0.value)\r\n" }.joined() + "\r\n").utf8)
    }

    private static let lastChunkBytes = Array("0\r\n\r\n".utf8)

    /// Without leading and trailing spaces and tabs.
    static func trimmed(_ bytes: ArraySlice<UInt8>) -> ArraySlice<UInt8> {
        var start = bytes.startIndex, end = bytes.endIndex
        while start < end, isBlank(bytes[start]) { start += 1 }
        while end > start, isBlank(bytes[end - 1]) { end -= 1 }
        return bytes[start..<end]
    }
}

/// The lines of a head (without its closing blank line), split at each CRLF as they are iterated:
/// no array of lines per head. The head of every request and response passes through here.
struct HeadLines: Sequence, IteratorProtocol {
    private var rest: ArraySlice<UInt8>
    private var done = false
    /// The lines not iterated yet (a CRLF ends every line but the last).
    private(set) var remainingCount = 1

    init(_ bytes: ArraySlice<UInt8>) {
        rest = bytes
        var index = bytes.startIndex
        while let lineFeed = HTTPWire.firstLineFeed(in: bytes[index...]) {
            if lineFeed > bytes.startIndex, bytes[lineFeed - 1] == 13 { remainingCount += 1 }
            index = lineFeed + 1
        }
    }

    mutating func next() -> ArraySlice<UInt8>? {
        guard !done else { return nil }
        remainingCount -= 1
        var index = rest.startIndex
        while let lineFeed = HTTPWire.firstLineFeed(in: rest[index...]) {
            if lineFeed > rest.startIndex, rest[lineFeed - 1] == 13 {
                defer { rest = rest[(lineFeed + 1)...] }
                return rest[..<(lineFeed - 1)]
            }
            index = lineFeed + 1  // a bare LF stays inside the line (and the field check refuses it)
        }
        done = true
        return rest
    }
}

extension StringProtocol {
    /// Header names and tokens compare case-insensitively in ASCII only (RFC 9110 5.1); cheaper than
    /// Foundation's locale-aware comparison on every header of every message. Lengths first: most
    /// names differ there.
    func equalsIgnoringASCIICase<Other: StringProtocol>(_ other: Other) -> Bool {
        utf8.count == other.utf8.count && utf8.elementsEqual(other.utf8, by: HTTPWire.equalIgnoringASCIICase)
    }
}

extension HTTPWire {
    /// Two bytes equal but for the case of an ASCII letter.
    static func equalIgnoringASCIICase(_ a: UInt8, _ b: UInt8) -> Bool {
        a == b || (a ^ b == 0x20 && (a | 0x20) >= UInt8(ascii: "a") && (a | 0x20) <= UInt8(ascii: "z"))
    }
}

/// Case-insensitive header lookups shared by request and response heads.
protocol HTTPHeaderFields {
    var headers: [(name: String, value: String)] { get }
}

extension HTTPHeaderFields {
    /// The first value of a header.
    func header(_ name: String) -> String? {
        headers.first { $0.name.equalsIgnoringASCIICase(name) }?.value
    }

    /// The values of every field with this name, in order.
    func values(of name: String) -> [String] {
        headers.filter { $0.name.equalsIgnoringASCIICase(name) }.map(\.value)
    }

    /// How many fields have this name (no array of them).
    func count(of name: String) -> Int {
        headers.reduce(0) { $1.name.equalsIgnoringASCIICase(name) ? $0 + 1 : $0 }
    }

    /// Whether a comma-separated header (Connection, Transfer-Encoding) contains a token.
    func headerContains(_ name: String, token: String) -> Bool {
        headers.contains { field in
            field.name.equalsIgnoringASCIICase(name) && HTTPWire.listContains(field.value, token: token)
        }
    }
}

extension HTTPWire {
    /// Whether a comma-separated list holds this token (ASCII case ignored, blanks around elements
    /// trimmed); walks the bytes instead of splitting them into arrays.
    static func listContains(_ list: String, token: String) -> Bool {
        var utf8 = list.utf8[...]
        while !utf8.isEmpty {
            let comma = utf8.firstIndex(of: UInt8(ascii: ",")) ?? utf8.endIndex
            var element = utf8[..<comma]
            while let first = element.first, isBlank(first) { element.removeFirst() }
            while let last = element.last, isBlank(last) { element.removeLast() }
            if element.elementsEqual(token.utf8, by: equalIgnoringASCIICase) { return true }
            utf8 = comma == utf8.endIndex ? utf8[comma...] : utf8[utf8.index(after: comma)...]
        }
        return false
    }
}
