/// The ways a pasted text is read, most specific first. Errors reach people JSON-escaped (the
/// Docker Engine API's stream, JSON logs: `\n` for line breaks, `\"` for quotes) or hard-wrapped
/// by a terminal or CI log at 80 columns, which cuts words (`certif` / `icate`) that folding
/// whitespace cannot mend.
enum ExplainInput {
    static let wrapWidth = 80

    static func readings(of text: String) -> [String] {
        var readings: [String] = []
        if looksJSONEscaped(text) { readings.append(unescaped(text)) }
        let base = readings.first ?? text
        if let joined = unwrapped(base) { readings.append(joined) }
        readings.append(text)
        return readings
    }

    /// Escaped line breaks or quotes, and no raw line break between them: a JSON string.
    /// (A Windows path like C:\new has `\n` too, but rarely `\"` and never a whole log on one line.)
    static func looksJSONEscaped(_ text: String) -> Bool {
        text.contains("\\\"") || (text.contains("\\n") && !text.contains("\n"))
    }

    static func unescaped(_ text: String) -> String {
        var out = ""
        var iterator = text.makeIterator()
        while let character = iterator.next() {
            guard character == "\\", let next = iterator.next() else { out.append(character); continue }
            switch next {
            case "n", "r": out.append("\n")
            case "t": out.append(" ")
            case "\"", "\\", "/": out.append(next)
            case "u":
                let hex = String((0..<4).compactMap { _ in iterator.next() })
                if hex.count == 4, let value = UInt32(hex, radix: 16), let scalar = Unicode.Scalar(value) {
                    out.unicodeScalars.append(scalar)
                } else {
                    out += "\\u" + hex
                }
            default: out += "\\" + String(next)
            }
        }
        return out
    }

    /// The text with each line of exactly `wrapWidth` characters joined to the next without a
    /// space; nil when no line has that width.
    static func unwrapped(_ text: String) -> String? {
        let lines = text.split(omittingEmptySubsequences: false, whereSeparator: { $0 == "\n" || $0 == "\r\n" })
        guard lines.dropLast().contains(where: { $0.count == wrapWidth }) else { return nil }
        var out = ""
        for (index, line) in lines.enumerated() {
            out += line
            if index < lines.count - 1, line.count != wrapWidth { out += "\n" }
        }
        return out
    }
}
