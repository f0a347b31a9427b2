import FoundationEssentials

/// One instruction of a Dockerfile: its keyword, its text with continuations joined, and the
/// lines it spans (0-based, comment and heredoc lines inside it included).
public struct DockerfileInstruction: Sendable, Equatable {
    public let keyword: String
    public let arguments: String
    public let firstLine: Int
    public let lastLine: Int
}

/// One build stage: `FROM [--platform=...] IMAGE [AS NAME]` and what follows it up to the next FROM.
public struct DockerfileStage: Sendable {
    public let index: Int
    public let from: DockerfileInstruction
    /// The base image after substituting the global ARGs (as written when one has no default).
    public let image: String
    public let name: String?
    public let platform: String?
    public let instructions: [DockerfileInstruction]
    /// The last line that belongs to the stage (the line before the next FROM, or the file's last).
    public let lastLine: Int

    /// How the stage is named in messages: `stage 1 (builder)`.
    public var label: String { name.map { "stage \(index) (\($0))" } ?? "stage \(index)" }
    public var runsCommands: Bool { instructions.contains { $0.keyword == "RUN" } }
    /// Whether the base image still holds an unsubstituted variable.
    public var imageIsUnresolved: Bool { image.contains("$") }
}

/// A Dockerfile split into stages, keeping its lines so that edits can be made in place.
public struct Dockerfile: Sendable {
    /// The file's lines, split at \n (with their \r, if any).
    public let lines: [String]
    /// ARGs declared before the first FROM, with their defaults: the only ones FROM can use.
    public let globalArguments: [String: String]
    public let stages: [DockerfileStage]

    public struct ParseError: Error, CustomStringConvertible, Equatable {
        public let description: String
    }

    public init(text: String) throws {
        // Lines as they are (a CRLF file keeps its \r, so edits keep its endings); parsed without the \r.
        lines = Self.lines(of: text)
        let instructions = Self.instructions(of: lines.map { $0.hasSuffix("\r") ? String($0.dropLast()) : $0 })
        var globals: [String: String] = [:]
        var stages: [DockerfileStage] = []
        let fromIndices = instructions.indices.filter { instructions[$0].keyword == "FROM" }
        guard let firstFrom = fromIndices.first else { throw ParseError(description: "no FROM instruction: not a Dockerfile") }
        for instruction in instructions[..<firstFrom] where instruction.keyword == "ARG" {
            for (name, value) in Self.argumentDeclarations(instruction.arguments) { globals[name] = value }
        }
        for (number, start) in fromIndices.enumerated() {
            let end = number + 1 < fromIndices.count ? fromIndices[number + 1] : instructions.count
            let from = instructions[start]
            let words = from.arguments.split(whereSeparator: { $0 == " " || $0 == "\t" }).map(String.init)
            let flags = words.prefix { $0.hasPrefix("--") }
            let rest = words.dropFirst(flags.count)
            guard let image = rest.first else { throw ParseError(description: "line \(from.firstLine + 1): FROM names no image") }
            let name = rest.count >= 3 && rest[rest.startIndex + 1].uppercased() == "AS" ? rest[rest.startIndex + 2] : nil
            let platform = flags.first { $0.hasPrefix("--platform=") }.map { String($0.dropFirst("--platform=".count)) }
            let lastLine = end < instructions.count ? instructions[end].firstLine - 1 : lines.count - 1
            stages.append(DockerfileStage(index: number, from: from, image: Self.substitute(image, globals), name: name,
                                          platform: platform, instructions: Array(instructions[(start + 1)..<end]), lastLine: lastLine))
        }
        globalArguments = globals
        self.stages = stages
    }

    /// Split at each \n, by Unicode scalars: as Characters, "\r\n" is one and never equals "\n".
    public static func lines(of text: String) -> [String] {
        text.unicodeScalars.split(separator: "\n", omittingEmptySubsequences: false).map { String(String.UnicodeScalarView($0)) }
    }

    /// Whether the text ends with a line break (\n or \r\n).
    public static func endsWithNewline(_ text: String) -> Bool { text.unicodeScalars.last == "\n" }

    /// The stage a FROM refers to by name (`FROM builder`), if any earlier one has that name.
    public func stage(named reference: String, before index: Int) -> DockerfileStage? {
        stages[..<index].last { $0.name?.lowercased() == reference.lowercased() }
    }

    // MARK: - Lexing

    /// Instructions with their line spans. Comment lines are skipped (also inside a continuation, as
    /// BuildKit does); heredoc bodies (`RUN <<EOF`) belong to their instruction.
    static func instructions(of lines: [String]) -> [DockerfileInstruction] {
        let escape = escapeCharacter(lines)
        var result: [DockerfileInstruction] = []
        var index = 0
        while index < lines.count {
            let trimmed = lines[index].trimmingLeadingWhitespace
            if trimmed.isEmpty || trimmed.hasPrefix("#") { index += 1; continue }
            let first = index
            var text = ""
            var line = lines[index]
            while true {
                let body = line.trimmingTrailingWhitespace
                if body.hasSuffix(String(escape)) && index + 1 < lines.count {
                    text += body.dropLast() + " "
                    index += 1
                    while index < lines.count, lines[index].trimmingLeadingWhitespace.hasPrefix("#") { index += 1 }
                    guard index < lines.count else { break }
                    line = lines[index]
                } else {
                    text += body
                    break
                }
            }
            for terminator in heredocTerminators(text) {
                index += 1
                while index < lines.count, lines[index].trimming(characters: "\t") != terminator { index += 1 }
            }
            let trimmedText = text.trimmingLeadingWhitespace
            let keyword = trimmedText.prefix { !$0.isWhitespace }.uppercased()
            let arguments = trimmedText.dropFirst(keyword.count).trimmingLeadingWhitespace
            result.append(DockerfileInstruction(keyword: keyword, arguments: arguments, firstLine: first, lastLine: min(index, lines.count - 1)))
            index += 1
        }
        return result
    }

    /// The `# escape=` parser directive, which must come before anything else.
    private static func escapeCharacter(_ lines: [String]) -> Character {
        for line in lines {
            let trimmed = line.trimmingLeadingWhitespace
            guard trimmed.hasPrefix("#") else { break }
            let directive = trimmed.dropFirst().replacing(" ", with: "").lowercased()
            if directive.hasPrefix("escape="), let character = directive.dropFirst("escape=".count).first { return character }
        }
        return "\\"
    }

    /// The words that end each heredoc the instruction opens: `<<EOF`, `<<-EOF`, `<<"EOF"`.
    private static func heredocTerminators(_ text: String) -> [String] {
        var result: [String] = []
        var rest = Substring(text)
        while let range = rest.firstRange(of: "<<") {
            var word = rest[range.upperBound...]
            if word.hasPrefix("-") { word = word.dropFirst() }
            word = word.prefix { !$0.isWhitespace && $0 != ";" && $0 != "&" && $0 != "|" && $0 != ">" }
            let name = word.filter { $0 != "\"" && $0 != "'" }
            if !name.isEmpty, name.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "_" }) { result.append(name) }
            rest = rest[range.upperBound...]
        }
        return result
    }

    /// `ARG NAME[=default] ...` as names with their defaults (nil without one).
    private static func argumentDeclarations(_ text: String) -> [(String, String?)] {
        text.split(separator: " ").compactMap { word in
            // A word that starts with "=" names nothing (`ARG = x`): no declaration.
            let parts = word.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false).map(String.init)
            guard !parts[0].isEmpty else { return nil }
            let value = parts.count == 2 ? parts[1].trimming(characters: "\"'") : nil
            return (parts[0], value)
        }
    }

    /// Replaces `$NAME`, `${NAME}` and `${NAME:-default}` by the global ARG values it knows.
    static func substitute(_ word: String, _ values: [String: String]) -> String {
        var result = ""
        var rest = Substring(word)
        while let dollar = rest.firstIndex(of: "$") {
            result += rest[..<dollar]
            rest = rest[rest.index(after: dollar)...]
            var name: Substring, fallback: Substring? = nil, consumed: Substring.Index
            if rest.hasPrefix("{"), let close = rest.firstIndex(of: "}") {
                let inner = rest[rest.index(after: rest.startIndex)..<close]
                if let separator = inner.firstRange(of: ":-") {
                    name = inner[..<separator.lowerBound]
                    fallback = inner[separator.upperBound...]
                } else {
                    name = inner
                }
                consumed = rest.index(after: close)
            } else {
                name = rest.prefix { $0.isLetter || $0.isNumber || $0 == "_" }
                consumed = name.endIndex
            }
            if let value = values[String(name)], !value.isEmpty {
                result += value
            } else if let fallback {
                result += fallback
            } else {
                result += "$" + rest[..<consumed]
            }
            rest = rest[consumed...]
        }
        return result + rest
    }
}

extension StringProtocol {
    var trimmingLeadingWhitespace: String { String(drop { $0 == " " || $0 == "\t" }) }
    var trimmingTrailingWhitespace: String {
        var text = String(self)
        while let last = text.last, last == " " || last == "\t" { text.removeLast() }
        return text
    }
    func trimming(characters set: String) -> String {
        var text = Substring(self)
        while let first = text.first, set.contains(first) { text = text.dropFirst() }
        while let last = text.last, set.contains(last) { text = text.dropLast() }
        return String(text)
    }
}
