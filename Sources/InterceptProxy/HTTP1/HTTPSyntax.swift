/// Character classes (RFC 9110 5.6.2, 5.5) and the framing fields, read strictly: whatever a server
/// behind the proxy could read differently from the proxy is an error here, never forwarded.
extension HTTPWire {
    /// tchar (the characters of methods, field names and transfer codings) as two bit masks, bit n
    /// of the first for byte n, of the second for byte 64 + n: constants, where a table would be a
    /// lazily initialised global checked for every byte of every field name.
    static func isTokenByte(_ byte: UInt8) -> Bool {
        if byte < 64 { return (0x03FF_6CFA_0000_0000 as UInt64) >> byte & 1 == 1 }
        return byte < 128 && (0x57FF_FFFF_C7FF_FFFE as UInt64) >> (byte - 64) & 1 == 1
    }

    static func isToken<Bytes: Collection<UInt8>>(_ bytes: Bytes) -> Bool {
        !bytes.isEmpty && bytes.allSatisfy(isTokenByte)
    }

    /// field-content: visible ASCII, obs-text (0x80-0xFF), SP and HTAB; no other control character.
    static func isFieldValueByte(_ byte: UInt8) -> Bool { (byte >= 0x20 && byte != 0x7F) || byte == 9 }

    /// Bytes for an error message or a log line: printable ASCII as is, the rest escaped (`\r`,
    /// `\n`, `\0`, `\xNN`), at most `limit` bytes, so what is refused never spills raw into a response.
    static func escaped<Bytes: Collection<UInt8>>(_ bytes: Bytes, limit: Int = 100) -> String {
        var text = ""
        for byte in bytes.prefix(limit) {
            switch byte {
            case 13: text += "\\r"
            case 10: text += "\\n"
            case 0: text += "\\0"
            case 0x20..<0x7F: text.unicodeScalars.append(Unicode.Scalar(byte))
            default: text += "\\x" + String(byte, radix: 16, uppercase: true).leftPadded(to: 2)
            }
        }
        return bytes.count > limit ? text + "..." : text
    }

    /// `method SP request-target SP HTTP-version` (RFC 9112 3): the method a token (case
    /// matters), the target visible ASCII, the version HTTP/1.0 or HTTP/1.1. Runs for every
    /// request: the spaces are found in one pass and the line is escaped only for an error.
    static func requestLine(_ line: ArraySlice<UInt8>) throws -> (method: String, target: String, version: String) {
        func refuse(_ why: String = "") -> HTTPParseError { .malformed("malformed request line '\(escaped(line))'\(why)") }
        if equal(line, "PRI * HTTP/2.0") {
            throw HTTPParseError.versionNotSupported("the HTTP/2 connection preface arrived on the proxy port: HTTP/2 with prior knowledge is not supported; h2 works inside a CONNECT tunnel, negotiated by TLS ALPN")
        }
        guard let firstSpace = line.firstIndex(of: 32) else { throw refuse() }
        let method = line[..<firstSpace]
        guard let secondSpace = line[(firstSpace + 1)...].firstIndex(of: 32) else {
            throw isToken(method) ? refuse(": HTTP/0.9 requests (no HTTP version) are not supported; send HTTP/1.1") : refuse()
        }
        let target = line[(firstSpace + 1)..<secondSpace], version = line[(secondSpace + 1)...]
        guard !target.isEmpty, !version.contains(32) else { throw refuse() }
        guard isToken(method) else { throw refuse(": the method is not a token") }
        guard target.allSatisfy({ (0x21...0x7E).contains($0) }) else {
            throw refuse(": the request target must be visible ASCII (no spaces, control characters or bytes above 0x7E)")
        }
        guard version.count == 8, equal(version.prefix(5), "HTTP/"), version[version.startIndex + 6] == UInt8(ascii: "."),
              isDigit(version[version.startIndex + 5]), isDigit(version[version.startIndex + 7]) else {
            throw refuse(": no valid HTTP version")
        }
        guard let known = knownVersion(version) else {
            throw HTTPParseError.versionNotSupported("unsupported protocol version '\(String(decoding: version, as: UTF8.self))': this proxy speaks HTTP/1.0 and HTTP/1.1 on its port")
        }
        return (String(decoding: method, as: UTF8.self), String(decoding: target, as: UTF8.self), known)
    }

    /// "HTTP/1.1" or "HTTP/1.0" for those bytes (string constants: nothing to decode), else nil.
    static func knownVersion(_ bytes: ArraySlice<UInt8>) -> String? {
        if equal(bytes, "HTTP/1.1") { return "HTTP/1.1" }
        if equal(bytes, "HTTP/1.0") { return "HTTP/1.0" }
        return nil
    }

    /// Whether the bytes are exactly those of an ASCII literal: compared in place, no String.
    static func equal(_ bytes: ArraySlice<UInt8>, _ literal: StaticString) -> Bool {
        guard bytes.count == literal.utf8CodeUnitCount else { return false }
        return zip(bytes, UnsafeBufferPointer(start: literal.utf8Start, count: literal.utf8CodeUnitCount)).allSatisfy { $0 == $1 }
    }

    static func isDigit(_ byte: UInt8) -> Bool { (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) }

    /// The Content-Length of a message with these fields, nil without any. A repeated identical
    /// value (`5, 5` or two fields of 5) counts once, as RFC 9110 8.6 allows; different values,
    /// signs, non-digits and numbers beyond 18 digits (which could overflow) are errors. Read
    /// byte by byte, allocating nothing: every message with a body passes here.
    static func contentLength(of head: some HTTPHeaderFields, source: String) throws -> Int? {
        func invalid() -> HTTPParseError {
            .malformed("\(source) an invalid Content-Length '\(escaped(Array(head.values(of: "Content-Length").joined(separator: ", ").utf8)))'")
        }
        // Equal digit strings are equal (value, digit count) pairs, and the reverse.
        var first: (value: Int, digits: Int)?
        for field in head.headers where field.name.equalsIgnoringASCIICase("Content-Length") {
            var element = ListElementDigits()
            for byte in field.value.utf8 {
                if byte == UInt8(ascii: ",") {
                    guard let number = element.number, first.map({ $0 == number }) ?? true else { throw invalid() }
                    first = number
                    element = ListElementDigits()
                } else if !element.add(byte) {
                    throw invalid()
                }
            }
            guard let number = element.number, first.map({ $0 == number }) ?? true else { throw invalid() }
            first = number
        }
        return first?.value
    }

    /// The transfer codings of all Transfer-Encoding fields, in order, lowercased (RFC 9112 6.1);
    /// empty list elements are skipped as RFC 9110 5.6.1 asks.
    static func transferCodings(_ values: [String]) -> [String] {
        values.flatMap { Array($0.utf8).split(separator: UInt8(ascii: ",")) }
            .map { String(decoding: trimmed($0), as: UTF8.self).lowercased() }
            .filter { !$0.isEmpty }
    }
}

/// One element of a comma-separated list of numbers, fed byte by byte: optional blanks, 1 to 18
/// digits, optional blanks (the digits of `trimmed(element)`, refusing anything else).
private struct ListElementDigits {
    private var value = 0, digits = 0, afterDigits = false

    /// False for a byte that cannot be part of such an element.
    mutating func add(_ byte: UInt8) -> Bool {
        if HTTPWire.isBlank(byte) {
            if digits > 0 { afterDigits = true }
            return true
        }
        guard HTTPWire.isDigit(byte), !afterDigits, digits < 18 else { return false }
        value = value * 10 + Int(byte - UInt8(ascii: "0"))
        digits += 1
        return true
    }

    /// The value and digit count; nil for an element without digits.
    var number: (value: Int, digits: Int)? { digits > 0 ? (value, digits) : nil }
}

private extension String {
    func leftPadded(to width: Int) -> String { String(repeating: "0", count: max(0, width - count)) + self }
}

/// Finds the lines of a head as its bytes arrive, resuming where it stopped, and refuses at once
/// what cannot become a valid head: a bare LF (no CR before it), too many lines, too many bytes.
/// A client that never sends the blank line is refused at the size bound instead of waited for.
struct HeadScanner {
    /// Offset of the current line from the front of the queue.
    private(set) var lineStart = 0
    private(set) var lineCount = 0

    enum Line {
        /// An empty line before the start line, to be consumed and ignored (RFC 9112 2.2).
        case leadingBlankLine
        /// A line (offsets in the queue, CRLF excluded); `first` for the start line.
        case line(Range<Int>, first: Bool)
        /// The blank line: the head is the queue's first `length` bytes, its own CRLF excluded,
        /// and `total` bytes with the blank line.
        case end(length: Int, total: Int)
    }

    /// The next complete line, nil until more bytes arrive. `tooLarge` is thrown past `maximumSize`
    /// bytes, `tooMany` past `maximumLines` lines.
    mutating func next(in queue: inout ByteQueue, maximumSize: Int, maximumLines: Int,
                       tooLarge: @autoclosure () -> HTTPParseError, tooMany: @autoclosure () -> HTTPParseError,
                       bareLF: @autoclosure () -> String) throws -> Line? {
        guard let lineFeed = queue.nextLineFeed() else {
            if queue.count > maximumSize + 4 { throw tooLarge() }  // even with CRLF CRLF next, too large
            return nil
        }
        guard lineFeed > lineStart, queue[lineFeed - 1] == 13 else { throw HTTPParseError.malformed(bareLF()) }
        let line = lineStart..<(lineFeed - 1)
        if line.upperBound > maximumSize { throw tooLarge() }
        if line.isEmpty && lineCount == 0 { return .leadingBlankLine }
        if line.isEmpty {
            defer { self = HeadScanner() }
            return .end(length: lineStart - 2, total: lineFeed + 1)
        }
        lineCount += 1
        if lineCount > maximumLines { throw tooMany() }
        lineStart = lineFeed + 1
        return .line(line, first: lineCount == 1)
    }
}
