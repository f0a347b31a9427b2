import Dispatch
import Foundation
@testable import InterceptProxy
import Testing
import TestSupport

/// The event loop's timers (LoopTimers): they fire in deadline order on the loop, a cancelled one
/// never fires and is released when cancelled (with asyncAfter the soak's RSS grew by ~2 KB a
/// request until the longest timeout, and timers pending at a stop leaked).
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
        loop.queue.sync {
            for (name, delay) in [("c", 0.3), ("a", 0.1), ("b", 0.2)] {
                loop.schedule(after: delay) { log.add(name + (loop.inEventLoop ? "" : " off the loop")) }
            }
            let cancelled = loop.schedule(after: 0.15) { log.add("cancelled") }
            cancelled.cancel()
            loop.schedule(after: 0.05) { log.add("first") }
        }
        _ = eventually(timeout: 5) { log.all.count >= 4 }
        usleep(100_000)  // a deliberate gap: time for a cancelled timer to fire, were it still armed
        #expect(log.all == ["first", "a", "b", "c"])
    }

    @Test func cancelledOneShotsAreReleasedWhenCancelled() {
        let loop = EventLoop(index: 91)
        // What a busy connection does: a new 60 s timer on every read, the last one cancelled.
        loop.queue.sync {
            var timer: LoopTimer?
            for _ in 0..<100_000 {
                timer?.cancel()
                timer = loop.schedule(after: 60) {}
            }
        }
        #expect(loop.heldTimers == 1, "held: \(loop.heldTimers)")
    }

    /// What a cancelled timer's closure holds is let go at the cancel, not at the deadline.
    @Test func aCancelledTimerReleasesWhatItsClosureHoldsAtOnce() {
        final class Owner {}
        let loop = EventLoop(index: 96)
        weak var released: Owner?
        loop.queue.sync {
            let owner = Owner()
            released = owner
            let timer = loop.schedule(after: 120) { _ = owner }
            let rearmable = LoopTimer(loop: loop) { _ = owner }
            rearmable.arm(after: 120)
            timer.cancel()
            rearmable.cancel()
            #expect(!timer.isFiled && !rearmable.isFiled)
        }
        #expect(released == nil, "a cancelled timer kept its closure's captures")
        #expect(loop.heldTimers == 0)
    }

    /// A stopped proxy disarms its loops' timers: their closures are released, none runs, and the
    /// loop itself is freed (an armed timer does not hold it).
    @Test func cancellingEveryTimerOfALoopReleasesThemAndTheLoop() {
        final class Owner {}
        weak var released: Owner?
        weak var freedLoop: EventLoop?
        let log = Log()
        do {
            let loop = EventLoop(index: 97)
            freedLoop = loop
            loop.queue.sync {
                let owner = Owner()
                released = owner
                loop.schedule(after: 0.05) { _ = owner; log.add("ran") }
                LoopTimer(loop: loop) { log.add("ran") }.arm(after: 0.05)
                loop.cancelTimers()
            }
            #expect(loop.heldTimers == 0)
        }
        usleep(150_000)  // a deliberate gap: time for a cancelled timer to fire, were it still armed
        #expect(released == nil)
        #expect(log.all.isEmpty)
        #expect(freedLoop == nil, "the loop outlived its last reference")
    }

    // MARK: LoopTimer (re-armable)

    @Test func aLoopTimerPushedBackFiresOnceAtItsLatestDeadline() throws {
        let loop = EventLoop(index: 92)
        let log = Log()
        let timer = loop.queue.sync {
            LoopTimer(loop: loop) { log.add(loop.inEventLoop ? String(DispatchTime.now().uptimeNanoseconds) : "off the loop") }
        }
        loop.queue.sync { timer.arm(after: 1) }
        usleep(100_000)  // a deliberate gap: part of the first deadline is gone when it is pushed back
        let pushedBack = loop.queue.sync {  // before the first deadline (whole seconds: room for a loaded machine)
            let now = DispatchTime.now().uptimeNanoseconds
            timer.arm(after: 2)
            return now
        }
        _ = eventually(timeout: 10) { !log.all.isEmpty }
        usleep(200_000)  // a deliberate gap: time for a second firing, were there one
        #expect(log.all.count == 1, "\(log.all)")
        let fired = try #require(log.all.first.flatMap { UInt64($0) }, "\(log.all)")
        let after = (Double(fired) - Double(pushedBack)) / 1e9
        #expect(after >= 1.99 && after < 5, "fired \(after) s after it was pushed back by 2 s")
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
        _ = eventually(timeout: 5) { !log.all.isEmpty }
        usleep(150_000)  // a deliberate gap: time for a cancelled timer to fire, were it still armed
        #expect(log.all == ["early"])
        // Re-armed after firing, it fires again.
        loop.queue.sync { early.arm(after: 0.05) }
        _ = eventually(timeout: 5) { log.all.count >= 2 }
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

    @Test func cancelledLoopTimersOfClosedConnectionsLeaveTheHeapAtOnce() {
        let loop = EventLoop(index: 95)
        loop.queue.sync {
            for _ in 0..<100_000 {  // one per request, each cancelled when its response completes
                let timer = LoopTimer(loop: loop) {}
                timer.arm(after: 60)
                timer.cancel()
            }
        }
        #expect(loop.heldTimers == 0, "held: \(loop.heldTimers)")
    }

    /// Timers armed, pushed back, brought forward and cancelled in a random order fire exactly
    /// when due and in deadline order (the indexed heap keeps its order through removals).
    @Test func manyTimersCancelledAtRandomFireInDeadlineOrder() throws {
        let loop = EventLoop(index: 98)
        let log = Log()
        var generator = SystemRandomNumberGenerator()
        let expected: [String] = loop.queue.sync {
            var timers: [LoopTimer] = []
            for index in 0..<300 {
                let delay = 0.05 + Double(Int.random(in: 0..<40, using: &generator)) * 5 / 1000
                let timer = LoopTimer(loop: loop) { log.add(String(index)) }
                timer.arm(after: delay + 1)  // filed late first, then brought forward
                timer.arm(after: delay)
                timers.append(timer)
            }
            // The order expected is that of the deadlines the timers hold, not of their delays:
            // arming 300 timers can be preempted for longer than the delays lie apart.
            var kept: [(Int, UInt64)] = []
            for (index, timer) in timers.enumerated() {
                if index % 3 == 0 { timer.cancel() } else if let deadline = timer.deadline { kept.append((index, deadline)) }
            }
            return kept.sorted { $0.1 == $1.1 ? $0.0 < $1.0 : $0.1 < $1.1 }.map { String($0.0) }
        }
        _ = eventually(timeout: 10) { log.all.count >= expected.count }
        #expect(expected.count == 200)
        #expect(log.all == expected)
        #expect(loop.heldTimers == 0)
    }
}
