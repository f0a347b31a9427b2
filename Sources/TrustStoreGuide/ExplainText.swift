import CLinuxEvents
import FoundationEssentials
import EssentialsSupport
import Glibc

/// A pasted log prepared for matching: ASCII lower-cased, every run of whitespace (line breaks
/// included, since terminals and issue trackers wrap long errors) folded into one space, with the
/// original line of every byte kept so a match can quote the line it came from.
struct ExplainText: Sendable {
    /// The original lines, as pasted.
    let lines: [Substring]
    /// The folded bytes, framed by a space on each side so `" token "` also matches at the edges.
    private let folded: [UInt8]
    /// The original line (0-based) of each folded byte.
    private let lineOfByte: [Int32]

    init(_ text: String) {
        // Split on the byte, as the line numbers below count it: a Character split would keep
        // "\r\n" (one grapheme) whole and number lines differently.
        lines = text.utf8.split(separator: 0x0A, omittingEmptySubsequences: false).map { Substring($0) }
        var folded: [UInt8] = [0x20]
        var lineOfByte: [Int32] = [0]
        folded.reserveCapacity(text.utf8.count + 2)
        lineOfByte.reserveCapacity(text.utf8.count + 2)
        var line: Int32 = 0
        var pendingSpace = false
        for byte in text.utf8 {
            if byte == 0x0A { line += 1 }
            if byte == 0x20 || (byte >= 0x09 && byte <= 0x0D) {
                pendingSpace = true
                continue
            }
            if pendingSpace, folded.last != 0x20 {
                folded.append(0x20)
                lineOfByte.append(line)
            }
            pendingSpace = false
            folded.append(byte >= 0x41 && byte <= 0x5A ? byte | 0x20 : byte)
            lineOfByte.append(line)
        }
        folded.append(0x20)
        lineOfByte.append(line)
        self.folded = folded
        self.lineOfByte = lineOfByte
    }

    /// The 0-based line where `needle` (lower case, single spaces) first occurs, or nil.
    func line(of needle: String) -> Int? {
        offset(of: needle).map { Int(lineOfByte[$0]) }
    }

    func contains(_ needle: String) -> Bool { offset(of: needle) != nil }

    /// The first needle of `needles` found, in the order given, with its line.
    func first(of needles: [String]) -> (needle: String, line: Int)? {
        for needle in needles {
            if let line = line(of: needle) { return (needle, line) }
        }
        return nil
    }

    /// The 0-based line of the first occurrence of `token` that stands alone: where the token
    /// begins or ends with a letter, digit or `_`, the byte beside it is none of those, so
    /// `num=2` does not match `num=20` nor `cert_revoked` match `x509_v_err_cert_revoked_x`.
    func line(ofToken token: String) -> Int? {
        let pattern = Array(token.utf8)
        guard let first = pattern.first, let last = pattern.last else { return nil }
        func isWord(_ byte: UInt8) -> Bool { (byte >= 0x61 && byte <= 0x7A) || (byte >= 0x30 && byte <= 0x39) || byte == 0x5F }
        for end in ends(of: token) {
            let start = end - pattern.count
            if isWord(first), start > 0, isWord(folded[start - 1]) { continue }
            if isWord(last), end < folded.count, isWord(folded[end]) { continue }
            return Int(lineOfByte[start])
        }
        return nil
    }

    /// The earliest line on which any of `needles` occurs.
    func earliestLine(of needles: [String]) -> Int? {
        needles.compactMap { line(of: $0) }.min()
    }

    /// Whether the original line `index` contains `needle` (folded the same way).
    func line(_ index: Int, contains needle: String) -> Bool {
        guard lines.indices.contains(index) else { return false }
        return ExplainText(String(lines[index])).contains(needle)
    }

    /// Every folded occurrence of `needle`: the byte offsets just past it.
    func ends(of needle: String) -> [Int] {
        var result: [Int] = []
        var start = 0
        while let found = offset(of: needle, from: start) {
            result.append(found + needle.utf8.count)
            start = found + 1
        }
        return result
    }

    /// The folded bytes from `offset` up to the next space (or `limit` bytes), as text.
    func word(at offset: Int, limit: Int = 200) -> String {
        var end = offset
        while end < folded.count, folded[end] != 0x20, end - offset < limit { end += 1 }
        return String(decoding: folded[offset..<end], as: UTF8.self)
    }

    /// Whether a Windows path shows: `c:\\...` or `file:///c:/...`.
    func containsDrivePath() -> Bool {
        for end in ends(of: ":\\") + ends(of: ":/") where end >= 3 {
            let letter = folded[end - 3], before = end >= 4 ? folded[end - 4] : 0x20
            let isDrive = letter >= 0x61 && letter <= 0x7A && !(before >= 0x61 && before <= 0x7A) && !(before >= 0x30 && before <= 0x39)
            if isDrive, folded[end - 1] == 0x5C || (end >= 5 && folded[end - 5] == 0x2F) { return true }
        }
        return false
    }

    /// Whether `path` occurs as the start of a path (`/Users/...`, not `/home/users/...`).
    func containsPathStart(_ path: String) -> Bool {
        ends(of: path).contains { end in
            let start = end - path.utf8.count
            guard start > 0 else { return true }
            let before = folded[start - 1]
            return !(before >= 0x61 && before <= 0x7A) && !(before >= 0x30 && before <= 0x39) && before != 0x2E && before != 0x5F && before != 0x2D
        }
    }

    /// A line of the original without the whitespace around it.
    func trimmedLine(_ index: Int) -> String {
        guard lines.indices.contains(index) else { return "" }
        return lines[index].trimmingWhitespaceAndNewlines()
    }

    private func offset(of needle: String, from start: Int = 0) -> Int? {
        let pattern = Array(needle.utf8)
        guard !pattern.isEmpty, start < folded.count, pattern.count <= folded.count - start else { return nil }
        return folded.withUnsafeBufferPointer { haystack in
            pattern.withUnsafeBufferPointer { wanted in
                guard let base = haystack.baseAddress, let wantedBase = wanted.baseAddress,
                      let hit = shim_memmem(base + start, haystack.count - start, wantedBase, wanted.count) else { return nil }
                return UnsafeRawPointer(base).distance(to: hit)
            }
        }
    }
}
