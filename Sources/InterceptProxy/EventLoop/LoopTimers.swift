import Dispatch
import FoundationEssentials

/// A loop's timers: a min-heap of pending entries and one dispatch timer set to the earliest deadline.
/// An entry is a one-shot work item (`EventLoop.schedule`) or a re-armable `LoopTimer`.
/// Why not `asyncAfter` per timer: a cancelled `asyncAfter` item stays queued, closure and all, until
/// its deadline, and the proxy re-arms its timers on every read; at a few thousand requests a second
/// that held 500 MB of cancelled timers for up to the longest timeout (the soak run). Here cancelled
/// items are swept out whenever the heap has doubled since the last sweep, so what is held is
/// bounded by the live timers, not by the request rate. Confined to the loop's queue.
final class LoopTimers: @unchecked Sendable {
    private enum Due {
        case item(DispatchWorkItem)
        case timer(LoopTimer)

        /// Nothing will run for this entry any more.
        var isCancelled: Bool {
            switch self {
            case let .item(item): return item.isCancelled
            case let .timer(timer): return timer.deadline == nil
            }
        }
    }

    private var heap: [(deadline: UInt64, due: Due)] = []
    private let source: DispatchSourceTimer
    /// The deadline the dispatch timer is set for (`.max`: none).
    private var armed = UInt64.max
    private var sweepAt = LoopTimers.minimumSweep
    private static let minimumSweep = 1024

    init(queue: DispatchQueue) {
        source = DispatchSource.makeTimerSource(queue: queue)
        source.setEventHandler { [weak self] in self?.fire() }
        source.resume()
    }

    /// Items held: pending ones, and cancelled ones not swept yet.
    var count: Int { heap.count }

    func add(_ item: DispatchWorkItem, at deadline: DispatchTime) {
        file(.item(item), at: deadline.uptimeNanoseconds)
    }

    /// Files an entry for `timer` (see LoopTimer.arm).
    func file(_ timer: LoopTimer, at deadline: UInt64) {
        file(.timer(timer), at: deadline)
    }

    private func file(_ entry: Due, at due: UInt64) {
        push((due, entry))
        if heap.count >= sweepAt { sweep() }
        if due < armed { arm(due) }
    }

    private func arm(_ due: UInt64) {
        armed = due
        source.schedule(deadline: DispatchTime(uptimeNanoseconds: due), leeway: .milliseconds(1))
    }

    private func fire() {
        armed = .max
        let now = DispatchTime.now().uptimeNanoseconds
        while let first = heap.first, first.deadline <= now {
            popFirst()
            // Either may add timers: the heap is re-read.
            switch first.due {
            case let .item(item): if !item.isCancelled { item.perform() }
            case let .timer(timer): timer.entryDue(filedAt: first.deadline, now: now)
            }
        }
        if let first = heap.first, first.deadline < armed { arm(first.deadline) }
    }

    private func sweep() {
        heap.removeAll { entry in
            guard entry.due.isCancelled else { return false }
            if case let .timer(timer) = entry.due { timer.entryRemoved(filedAt: entry.deadline) }
            return true
        }
        for index in stride(from: heap.count / 2 - 1, through: 0, by: -1) { siftDown(index) }
        sweepAt = max(Self.minimumSweep, heap.count * 2)
    }

    // MARK: Binary heap on `deadline`

    private func push(_ entry: (deadline: UInt64, due: Due)) {
        heap.append(entry)
        var child = heap.count - 1
        while child > 0 {
            let parent = (child - 1) / 2
            guard heap[child].deadline < heap[parent].deadline else { break }
            heap.swapAt(child, parent)
            child = parent
        }
    }

    private func popFirst() {
        heap.swapAt(0, heap.count - 1)
        heap.removeLast()
        if !heap.isEmpty { siftDown(0) }
    }

    private func siftDown(_ start: Int) {
        var parent = start
        while true {
            let left = 2 * parent + 1, right = left + 1
            var smallest = parent
            if left < heap.count && heap[left].deadline < heap[smallest].deadline { smallest = left }
            if right < heap.count && heap[right].deadline < heap[smallest].deadline { smallest = right }
            guard smallest != parent else { return }
            heap.swapAt(parent, smallest)
            parent = smallest
        }
    }
}

/// A timer armed, pushed back and cancelled many times over its owner's life (a response timeout
/// re-armed by every upstream read, a keep-alive wait per request) at the cost of storing a
/// deadline: pushing it back leaves the heap alone, and the entry, once due, finds the later
/// deadline and files itself again. Only an earlier deadline files a new entry. Confined to its loop.
final class LoopTimer: @unchecked Sendable {
    private let loop: EventLoop
    private let handler: () -> Void
    /// When it fires; nil while disarmed.
    fileprivate(set) var deadline: UInt64?
    /// The deadline of its live heap entry, if any (older entries are stale and skipped).
    private var filedAt: UInt64?

    /// `handler` runs on the loop when an armed deadline passes; capture the owner weakly.
    init(loop: EventLoop, _ handler: @escaping () -> Void) {
        self.loop = loop
        self.handler = handler
    }

    var isArmed: Bool { deadline != nil }

    /// Fires `seconds` from now, replacing any earlier arming.
    func arm(after seconds: TimeInterval) {
        loop.assertInEventLoop()
        let due = DispatchTime.now().uptimeNanoseconds &+ UInt64(max(0, seconds) * 1e9)
        deadline = due
        if let filedAt, filedAt <= due { return }
        filedAt = due
        loop.file(self, at: due)
    }

    func cancel() {
        deadline = nil
    }

    fileprivate func entryDue(filedAt entry: UInt64, now: UInt64) {
        guard filedAt == entry else { return }  // a stale entry: a newer one was filed
        filedAt = nil
        guard let deadline else { return }
        if deadline <= now {
            self.deadline = nil
            handler()
        } else {
            filedAt = deadline
            loop.file(self, at: deadline)
        }
    }

    fileprivate func entryRemoved(filedAt entry: UInt64) {
        if filedAt == entry { filedAt = nil }
    }
}
