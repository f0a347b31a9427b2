import Foundation

/// A value behind an NSLock, for state shared across threads.
///
/// Used instead of `Synchronization.Mutex`: a contended Mutex hands the lock over through a futex in
/// the uninstrumented Swift runtime, which ThreadSanitizer cannot see, so it reports the guarded value
/// as a data race (`make sanitize`). NSLock is a pthread mutex, which it understands.
package final class Locked<Value: Sendable>: @unchecked Sendable {
    private let lock = NSLock()
    private var value: Value

    package init(_ value: Value) {
        self.value = value
    }

    package func withLock<Result>(_ body: (inout Value) throws -> Result) rethrows -> Result {
        lock.lock()
        defer { lock.unlock() }
        return try body(&value)
    }
}
