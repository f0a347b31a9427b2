import Foundation

/// Wire-level pieces both HTTP/1.1 decoders use.
enum HTTPWire {
    static let crlf: [UInt8] = [13, 10]
    static let headEnd: [UInt8] = [13, 10, 13, 10]

    /// The index where `needle` first starts in `haystack`.
    static func find(_ needle: [UInt8], in haystack: [UInt8]) -> Int? {
        guard haystack.count >= needle.count else { return nil }
        for index in 0...(haystack.count - needle.count) where haystack[index] == needle[0] {
            if haystack[index..<(index + needle.count)].elementsEqual(needle) { return index }
        }
        return nil
    }

    /// The size on a chunk-size line (hex digits, optional `;extensions`), or nil when malformed.
    static func chunkSize(_ line: ArraySlice<UInt8>) -> Int? {
        let digits = trimmed(line[..<(line.firstIndex(of: UInt8(ascii: ";")) ?? line.endIndex)])
        guard !digits.isEmpty, digits.count <= 15 else { return nil }
        var size = 0
        for byte in digits {
            guard let digit = hexValue(byte) else { return nil }
            size = size << 4 | digit
        }
        return size
    }

    private static func hexValue(_ byte: UInt8) -> Int? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): return Int(byte - UInt8(ascii: "0"))
        case UInt8(ascii: "a")...UInt8(ascii: "f"): return Int(byte - UInt8(ascii: "a") + 10)
        case UInt8(ascii: "A")...UInt8(ascii: "F"): return Int(byte - UInt8(ascii: "A") + 10)
        default: return nil
        }
    }

    /// Splits a head (without its closing blank line) at each CRLF. Works on bytes: the head of
    /// every request and response passes through here.
    static func lines(_ bytes: ArraySlice<UInt8>) -> [ArraySlice<UInt8>] {
        var lines: [ArraySlice<UInt8>] = []
        var start = bytes.startIndex
        var index = start
        while index < bytes.endIndex {
            if bytes[index] == 13, index + 1 < bytes.endIndex, bytes[index + 1] == 10 {
                lines.append(bytes[start..<index])
                index += 2
                start = index
            } else {
                index += 1
            }
        }
        lines.append(bytes[start..<bytes.endIndex])
        return lines
    }

    /// `Name: value` lines; `source` starts the error message ("malformed header line" or "upstream sent ...").
    static func headerFields(_ lines: ArraySlice<ArraySlice<UInt8>>, source: String) throws -> [(name: String, value: String)] {
        var fields: [(name: String, value: String)] = []
        fields.reserveCapacity(lines.count)
        for line in lines {
            guard let colon = line.firstIndex(of: UInt8(ascii: ":")), colon != line.startIndex,
                  !line[..<colon].contains(where: isBlank) else {
                throw HTTPParseError.malformed("\(source) '\(String(decoding: line.prefix(100), as: UTF8.self))'")
            }
            fields.append((String(decoding: line[..<colon], as: UTF8.self), String(decoding: trimmed(line[(colon + 1)...]), as: UTF8.self)))
        }
        return fields
    }

    static func isBlank(_ byte: UInt8) -> Bool { byte == 32 || byte == 9 }

    /// The first `count` bytes, removed from `buffer`; the common case of taking all of it moves
    /// the array instead of copying it (bulk bodies pass through here).
    static func takePrefix(_ count: Int, of buffer: inout [UInt8]) -> [UInt8] {
        if count == buffer.count {
            defer { buffer = [] }
            return buffer
        }
        let prefix = Array(buffer[..<count])
        buffer.removeFirst(count)
        return prefix
    }

    /// `host[:port]` as in Host, :authority and URLs: the port only when not 443, IPv6 in brackets.
    static func authority(host: String, port: Int) -> String {
        let bracketed = host.contains(":") ? "[\(host)]" : host
        return port == 443 ? bracketed : "\(bracketed):\(port)"
    }

    /// Without leading and trailing spaces and tabs.
    static func trimmed(_ bytes: ArraySlice<UInt8>) -> ArraySlice<UInt8> {
        var start = bytes.startIndex, end = bytes.endIndex
        while start < end, isBlank(bytes[start]) { start += 1 }
        while end > start, isBlank(bytes[end - 1]) { end -= 1 }
        return bytes[start..<end]
    }
}

extension StringProtocol {
    /// Header names and tokens compare case-insensitively in ASCII only (RFC 9110 5.1); cheaper than
    /// Foundation's locale-aware comparison on every header of every message.
    func equalsIgnoringASCIICase<Other: StringProtocol>(_ other: Other) -> Bool {
        utf8.elementsEqual(other.utf8, by: HTTPWire.equalIgnoringASCIICase)
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

    /// Whether a comma-separated header (Connection, Transfer-Encoding) contains a token.
    func headerContains(_ name: String, token: String) -> Bool {
        headers.contains { field in
            field.name.equalsIgnoringASCIICase(name) && field.value.utf8.split(separator: UInt8(ascii: ",")).contains {
                HTTPWire.trimmed(ArraySlice($0)).elementsEqual(token.utf8, by: HTTPWire.equalIgnoringASCIICase)
            }
        }
    }
}
