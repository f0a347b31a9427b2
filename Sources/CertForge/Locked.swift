import FoundationEssentials
import EssentialsSupport

/// A value behind a pthread mutex, for state shared across threads.
///
/// Used instead of `Synchronization.Mutex`: a contended Mutex hands the lock over through a futex in
/// the uninstrumented Swift runtime, which ThreadSanitizer cannot see, so it reports the guarded value
/// as a data race (`make sanitize`). A pthread mutex (what NSLock was) it understands.
package final class Locked<Value: Sendable>: @unchecked Sendable {
    private let lock = PthreadMutex()
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
