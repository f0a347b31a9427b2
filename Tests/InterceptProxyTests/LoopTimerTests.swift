import Dispatch
import Foundation
@testable import InterceptProxy
import Testing

/// The event loop's timers (LoopTimers): they fire in deadline order on the loop, a cancelled one
/// never fires, and cancelled ones do not pile up (they did with asyncAfter: the soak's RSS grew
/// by ~2 KB a request until the longest timeout).
@Suite struct LoopTimerTests {
    final class Log: @unchecked Sendable {
        private let lock = NSLock()
        private var entries: [String] = []
        func add(_ entry: String) { lock.withLock { entries.append(entry) } }
        var all: [String] { lock.withLock { entries } }
    }

    @Test func timersFireInDeadlineOrderOnTheLoopAndCancelledOnesNever() throws {
        let loop = EventLoop(index: 90)
        let log = Log()
        for (name, delay) in [("c", 0.3), ("a", 0.1), ("b", 0.2)] {
            loop.schedule(after: delay) { log.add(name + (loop.inEventLoop ? "" : " off the loop")) }
        }
        let cancelled = loop.schedule(after: 0.15) { log.add("cancelled") }
        cancelled.cancel()
        loop.queue.sync {  // scheduled from the loop itself, and earlier than the rest
            loop.schedule(after: 0.05) { log.add("first") }
        }
        let deadline = Date() + 5
        while log.all.count < 4 && Date() < deadline { usleep(10_000) }
        usleep(100_000)
        #expect(log.all == ["first", "a", "b", "c"])
    }

    @Test func cancelledTimersAreReleasedLongBeforeTheirDeadline() {
        let loop = EventLoop(index: 91)
        // What a busy connection does: re-arm a 60 s timer on every read.
        loop.queue.sync {
            var timer: DispatchWorkItem?
            for _ in 0..<100_000 {
                timer?.cancel()
                timer = loop.schedule(after: 60) {}
            }
        }
        #expect(loop.heldTimers <= 2048, "held: \(loop.heldTimers)")
    }
}
