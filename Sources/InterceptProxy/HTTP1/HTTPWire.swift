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
        let text = String(decoding: line, as: UTF8.self)
        let digits = text.split(separator: ";", maxSplits: 1).first.map { $0.trimmingCharacters(in: .whitespaces) } ?? ""
        guard !digits.isEmpty, digits.count <= 15 else { return nil }
        return Int(digits, radix: 16)
    }

    /// `Name: value` lines; `source` starts the error message ("malformed header line" or "upstream sent ...").
    static func headerFields(_ lines: ArraySlice<String>, source: String) throws -> [(name: String, value: String)] {
        try lines.map { line in
            guard let colon = line.firstIndex(of: ":"), colon != line.startIndex,
                  !line[..<colon].contains(where: { $0 == " " || $0 == "\t" }) else {
                throw HTTPParseError.malformed("\(source) '\(line.prefix(100))'")
            }
            return (String(line[..<colon]), line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces))
        }
    }
}

/// Case-insensitive header lookups shared by request and response heads.
protocol HTTPHeaderFields {
    var headers: [(name: String, value: String)] { get }
}

extension HTTPHeaderFields {
    /// The first value of a header.
    func header(_ name: String) -> String? {
        headers.first { $0.name.caseInsensitiveCompare(name) == .orderedSame }?.value
    }

    /// Whether a comma-separated header (Connection, Transfer-Encoding) contains a token.
    func headerContains(_ name: String, token: String) -> Bool {
        headers.filter { $0.name.caseInsensitiveCompare(name) == .orderedSame }
            .flatMap { $0.value.split(separator: ",") }
            .contains { $0.trimmingCharacters(in: .whitespaces).caseInsensitiveCompare(token) == .orderedSame }
    }
}
