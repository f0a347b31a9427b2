import FoundationEssentials
import Glibc

// The release binary links FoundationEssentials only (no ICU, issue #15: the image stays small).
// These are the few full-Foundation conveniences the code used, rebuilt on the stdlib and Glibc.

/// A pthread mutex (what NSLock is on Linux): ThreadSanitizer understands it, unlike the futex
/// hand-over inside `Synchronization.Mutex`.
package final class PthreadMutex: @unchecked Sendable {
    private let mutex = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)

    package init() {
        pthread_mutex_init(mutex, nil)
    }

    deinit {
        pthread_mutex_destroy(mutex)
        mutex.deallocate()
    }

    package func lock() { pthread_mutex_lock(mutex) }
    package func unlock() { pthread_mutex_unlock(mutex) }

    /// Blocks on `condition` with this mutex held (released while waiting), like NSCondition.wait.
    package func wait(on condition: PthreadCondition) {
        pthread_cond_wait(condition.cond, mutex)
    }
}

/// A pthread condition variable, used with a `PthreadMutex`.
package final class PthreadCondition: @unchecked Sendable {
    fileprivate let cond = UnsafeMutablePointer<pthread_cond_t>.allocate(capacity: 1)

    package init() {
        pthread_cond_init(cond, nil)
    }

    deinit {
        pthread_cond_destroy(cond)
        cond.deallocate()
    }

    package func broadcast() { pthread_cond_broadcast(cond) }
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

    /// The first range of `needle`, ignoring case (ASCII/Unicode lowercase folding).
    package func caseInsensitiveRange(of needle: String) -> Range<String.Index>? {
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
