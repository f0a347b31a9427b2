import FoundationEssentials
import Glibc

// The release binary links FoundationEssentials only (no ICU, issue #15: the image stays small).
// These are the few full-Foundation conveniences the code used, rebuilt on the stdlib and Glibc.

/// A pthread mutex (what NSLock is on Linux): ThreadSanitizer understands it, unlike the futex
/// hand-over inside `Synchronization.Mutex`.
package final class PthreadMutex: @unchecked Sendable {
    fileprivate let mutex = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)

    package init() {
        pthread_mutex_init(mutex, nil)
    }

    deinit {
        pthread_mutex_destroy(mutex)
        mutex.deallocate()
    }

    package func lock() { pthread_mutex_lock(mutex) }
    package func unlock() { pthread_mutex_unlock(mutex) }

    package func withLock<Result>(_ body: () throws -> Result) rethrows -> Result {
        lock()
        defer { unlock() }
        return try body()
    }
}

/// A mutex with a condition variable, what NSCondition is on Linux: `lock`, `wait`, `broadcast`.
package final class PthreadCondition: @unchecked Sendable {
    private let mutex = PthreadMutex()
    private let cond = UnsafeMutablePointer<pthread_cond_t>.allocate(capacity: 1)

    package init() {
        pthread_cond_init(cond, nil)
    }

    deinit {
        pthread_cond_destroy(cond)
        cond.deallocate()
    }

    package func lock() { mutex.lock() }
    package func unlock() { mutex.unlock() }
    package func withLock<Result>(_ body: () throws -> Result) rethrows -> Result { try mutex.withLock(body) }
    package func broadcast() { pthread_cond_broadcast(cond) }

    /// Waits (lock held) until woken; the lock is released while waiting.
    package func wait() { pthread_cond_wait(cond, mutex.mutex) }

    /// Waits until woken or `deadline` (wall clock, as NSCondition); false when the deadline passed.
    package func wait(until deadline: Date) -> Bool {
        let seconds = deadline.timeIntervalSince1970
        guard seconds.isFinite else { wait(); return true }
        let whole = seconds.rounded(.down)
        var time = timespec(tv_sec: Int(whole), tv_nsec: Int((seconds - whole) * 1_000_000_000))
        return pthread_cond_timedwait(cond, mutex.mutex, &time) != ETIMEDOUT
    }
}

extension StringProtocol {
    /// Without leading and trailing spaces and tabs (Foundation's `.whitespaces`, ASCII part plus
    /// Unicode horizontal spaces).
    package func trimmingWhitespace() -> String {
        trimming { $0.isWhitespace && !$0.isNewline }
    }

    /// Without leading and trailing whitespace and line breaks (Foundation's `.whitespacesAndNewlines`).
    package func trimmingWhitespaceAndNewlines() -> String {
        trimming(\.isWhitespace)
    }

    /// Without leading and trailing characters from `set` (`trimmingCharacters(in: CharacterSet(charactersIn:))`).
    package func trimming(charactersIn set: String) -> String {
        trimming { set.contains($0) }
    }

    private func trimming(_ drop: (Character) -> Bool) -> String {
        guard let first = firstIndex(where: { !drop($0) }), let last = lastIndex(where: { !drop($0) }) else { return "" }
        return String(self[first...last])
    }

    /// The first range of `needle`, ignoring case (ASCII/Unicode lowercase folding). An ASCII
    /// needle is compared byte by byte over the UTF-8 view (linear, no copy: explain runs dozens of
    /// these over a pasted log of up to 1 MiB); any other needle by lower-cased characters.
    package func caseInsensitiveRange(of needle: String) -> Range<String.Index>? {
        if needle.utf8.allSatisfy({ $0 < 0x80 }) { return asciiCaseInsensitiveRange(of: Array(needle.utf8)) }
        let text = String(self)
        let folded = needle.lowercased()
        guard !folded.isEmpty else { return nil }
        var start = text.startIndex
        while start < text.endIndex {
            var cursor = start
            var matched = ""
            while cursor < text.endIndex, matched.count < folded.count {
                matched += text[cursor].lowercased()
                cursor = text.index(after: cursor)
            }
            if matched == folded { return start..<cursor }
            if matched.count < folded.count { return nil }
            start = text.index(after: start)
        }
        return nil
    }

    private func asciiCaseInsensitiveRange(of needle: [UInt8]) -> Range<String.Index>? {
        guard let first = needle.first else { return nil }
        func lower(_ byte: UInt8) -> UInt8 { byte >= 0x41 && byte <= 0x5A ? byte | 0x20 : byte }
        let wanted = needle.map(lower)
        let head = lower(first)
        let bytes = utf8
        var start = bytes.startIndex
        while start != bytes.endIndex {
            if lower(bytes[start]) == head {
                var cursor = start, matched = 0
                while matched < wanted.count, cursor != bytes.endIndex, lower(bytes[cursor]) == wanted[matched] {
                    matched += 1
                    cursor = bytes.index(after: cursor)
                }
                // An ASCII match starts and ends on scalar boundaries (a UTF-8 continuation byte is never ASCII).
                if matched == wanted.count { return start..<cursor }
            }
            start = bytes.index(after: start)
        }
        return nil
    }

    /// Padded on the right with spaces to `width` characters (never truncated below its length).
    package func paddedRight(to width: Int) -> String {
        String(self) + String(repeating: " ", count: Swift.max(0, width - count))
    }
}

extension BinaryInteger {
    /// Lowercase hex, zero-padded to `width` digits (`String(format: "%0*lx")`).
    package func hex(width: Int, uppercase: Bool = false) -> String {
        let digits = String(self, radix: 16, uppercase: uppercase)
        return String(repeating: "0", count: Swift.max(0, width - digits.count)) + digits
    }
}

extension StringProtocol {
    /// `%XX` sequences decoded as UTF-8 (Foundation's `removingPercentEncoding`): nil when a `%` is
    /// not followed by two hex digits or the bytes are not UTF-8.
    package var percentDecoded: String? {
        var bytes: [UInt8] = []
        var iterator = utf8.makeIterator()
        while let byte = iterator.next() {
            guard byte == UInt8(ascii: "%") else { bytes.append(byte); continue }
            guard let high = iterator.next().flatMap(hexValue), let low = iterator.next().flatMap(hexValue) else { return nil }
            bytes.append(high << 4 | low)
        }
        return String(validating: bytes, as: UTF8.self)
    }
}

private func hexValue(_ byte: UInt8) -> UInt8? {
    switch byte {
    case UInt8(ascii: "0")...UInt8(ascii: "9"): byte - UInt8(ascii: "0")
    case UInt8(ascii: "a")...UInt8(ascii: "f"): byte - UInt8(ascii: "a") + 10
    case UInt8(ascii: "A")...UInt8(ascii: "F"): byte - UInt8(ascii: "A") + 10
    default: nil
    }
}

extension Double {
    /// With one decimal, rounded (`String(format: "%.1f")`).
    package var oneDecimal: String {
        let tenths = Int((self * 10).rounded(.toNearestOrEven))  // printf rounds ties to even
        return (tenths < 0 ? "-" : "") + "\(abs(tenths) / 10).\(abs(tenths) % 10)"
    }
}

/// Runs `body` on a new detached thread (Foundation's `Thread.detachNewThread`).
package func detachThread(_ body: @escaping @Sendable () -> Void) {
    final class Box: @unchecked Sendable { let body: @Sendable () -> Void; init(_ body: @escaping @Sendable () -> Void) { self.body = body } }
    var thread = pthread_t()
    let box = Unmanaged.passRetained(Box(body)).toOpaque()
    let created = pthread_create(&thread, nil, { raw in
        let box = Unmanaged<Box>.fromOpaque(raw!).takeRetainedValue()
        box.body()
        return nil
    }, box)
    if created == 0 { pthread_detach(thread) } else { Unmanaged<Box>.fromOpaque(box).takeRetainedValue().body() }
}

/// Standard input and output as file descriptors (Foundation's `FileHandle.standard*`).
package enum StandardIO {
    /// Writes all of `bytes` to `fd` (1: stdout, 2: stderr), retrying short writes and EINTR.
    package static func write(_ bytes: some Collection<UInt8>, to fd: Int32) {
        let all = Array(bytes)
        var offset = 0
        while offset < all.count {
            let written = all.withUnsafeBytes { Glibc.write(fd, $0.baseAddress! + offset, all.count - offset) }
            if written < 0 && errno == EINTR { continue }
            guard written > 0 else { return }
            offset += written
        }
    }

    /// Up to `limit` bytes of standard input (fewer at its end).
    package static func readInput(upTo limit: Int) -> [UInt8] {
        var result: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 64 * 1024)
        while result.count < limit {
            let count = chunk.withUnsafeMutableBytes { read(STDIN_FILENO, $0.baseAddress, Swift.min($0.count, limit - result.count)) }
            if count < 0 && errno == EINTR { continue }
            guard count > 0 else { break }
            result += chunk[..<count]
        }
        return result
    }
}

package struct SpawnError: Error, CustomStringConvertible {
    package let message: String
    package var description: String { message }
}

/// Size and kind of a file from stat(2): FoundationEssentials' `attributesOfItem` types `.size`
/// differently from Foundation (`as? Int` fails there), so the size checks read stat directly.
package struct FileStatus {
    package let size: Int
    package let isDirectory: Bool

    package init?(path: String) {
        var info = stat()
        guard stat(path, &info) == 0 else { return nil }
        size = Int(info.st_size)
        isDirectory = info.st_mode & S_IFMT == S_IFDIR
    }
}

/// A Swift `Regex` from `pattern`, set to match as the ICU regexes (NSRegularExpression) used to:
/// `\b` at simple word/non-word changes (Swift's default follows UAX #29, where `corp.test` is one
/// word), and matching by Unicode scalar rather than by grapheme cluster.
package func icuCompatibleRegex(_ pattern: String) throws -> Regex<AnyRegexOutput> {
    try Regex(pattern).wordBoundaryKind(.simple).matchingSemantics(.unicodeScalar)
}

/// Seconds on the monotonic clock, for deadlines a changed wall clock does not move.
package func monotonicSeconds() -> Double {
    var now = timespec()
    clock_gettime(CLOCK_MONOTONIC, &now)
    return Double(now.tv_sec) + Double(now.tv_nsec) / 1e9
}
