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

    // MARK: LoopTimer (re-armable)

    @Test func aLoopTimerPushedBackFiresOnceAtItsLatestDeadline() throws {
        let loop = EventLoop(index: 92)
        let log = Log()
        let started = DispatchTime.now().uptimeNanoseconds
        let timer = loop.queue.sync {
            LoopTimer(loop: loop) {
                let elapsed = Double(DispatchTime.now().uptimeNanoseconds - started) / 1e9
                log.add(loop.inEventLoop ? String(format: "fired %.1f", elapsed) : "off the loop")
            }
        }
        loop.queue.sync { timer.arm(after: 0.1) }
        usleep(50_000)
        loop.queue.sync { timer.arm(after: 0.3) }  // pushed back before the first deadline
        let deadline = Date() + 5
        while log.all.isEmpty && Date() < deadline { usleep(10_000) }
        usleep(200_000)
        #expect(log.all.count == 1)
        let fired = try #require(log.all.first)
        #expect(fired.hasPrefix("fired 0.3") || fired.hasPrefix("fired 0.4"), "\(fired)")
        #expect(loop.queue.sync { !timer.isArmed })
    }

    @Test func aLoopTimerArmedEarlierFiresEarlierAndACancelledOneNever() {
        let loop = EventLoop(index: 93)
        let log = Log()
        let (early, cancelled) = loop.queue.sync {
            (LoopTimer(loop: loop) { log.add("early") }, LoopTimer(loop: loop) { log.add("cancelled") })
        }
        loop.queue.sync {
            early.arm(after: 30)
            early.arm(after: 0.05)  // earlier than its filed entry: a new entry
            cancelled.arm(after: 0.05)
            cancelled.cancel()
        }
        let deadline = Date() + 5
        while log.all.isEmpty && Date() < deadline { usleep(10_000) }
        usleep(150_000)
        #expect(log.all == ["early"])
        // Re-armed after firing, it fires again.
        loop.queue.sync { early.arm(after: 0.05) }
        let again = Date() + 5
        while log.all.count < 2 && Date() < again { usleep(10_000) }
        #expect(log.all == ["early", "early"])
    }

    @Test func reArmingALoopTimerOnEveryReadHoldsOneEntry() {
        let loop = EventLoop(index: 94)
        loop.queue.sync {
            let timer = LoopTimer(loop: loop) {}
            for _ in 0..<100_000 {
                timer.arm(after: 60)
                timer.cancel()
                timer.arm(after: 60)
            }
        }
        #expect(loop.heldTimers == 1, "held: \(loop.heldTimers)")
    }

    @Test func cancelledLoopTimersOfClosedConnectionsAreSweptBeforeTheirDeadline() {
        let loop = EventLoop(index: 95)
        loop.queue.sync {
            for _ in 0..<100_000 {  // one per request, each cancelled when its response completes
                let timer = LoopTimer(loop: loop) {}
                timer.arm(after: 60)
                timer.cancel()
            }
        }
        #expect(loop.heldTimers <= 2048, "held: \(loop.heldTimers)")
    }
}
