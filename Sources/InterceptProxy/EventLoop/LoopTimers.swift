import Dispatch
import FoundationEssentials

/// A loop's timers: a min-heap of armed `LoopTimer`s and one dispatch timer set to the earliest
/// deadline. Each timer knows its place in the heap, so cancelling one takes it out at once and
/// releases its closure (and whatever the closure holds) then, not at its deadline: with
/// `asyncAfter` a cancelled item stayed queued until its deadline, which held 500 MB in the soak
/// run and leaked whatever was pending when a proxy stopped. Confined to the loop's queue.
final class LoopTimers: @unchecked Sendable {
    private var heap: [LoopTimer] = []
    private let source: DispatchSourceTimer
    let queue: DispatchQueue
    /// The deadline the dispatch timer is set for (`.max`: none).
    private var armed = UInt64.max

    init(queue: DispatchQueue) {
        self.queue = queue
        source = DispatchSource.makeTimerSource(queue: queue)
        source.setEventHandler { [weak self] in self?.fire() }
        source.resume()
    }

    deinit {
        source.cancel()
    }

    /// Timers armed now.
    var count: Int { heap.count }

    /// Disarms every timer (a stopped proxy: nothing may run on the loop any more, and armed
    /// timers would keep what their closures hold).
    func cancelAll() {
        let all = heap
        heap = []
        for timer in all { timer.removed() }
    }

    /// Files `timer` at its `due`, or moves it there if it is filed already.
    func file(_ timer: LoopTimer) {
        if let index = timer.heapIndex {
            restore(index)
        } else {
            timer.heapIndex = heap.count
            heap.append(timer)
            siftUp(heap.count - 1)
        }
        if timer.due < armed { arm(timer.due) }
    }

    /// Takes `timer` out of the heap (it was cancelled).
    func remove(_ timer: LoopTimer) {
        guard let index = timer.heapIndex else { return }
        let last = heap.count - 1
        if index != last {
            swapEntries(index, last)
        }
        heap.removeLast()
        timer.removed()
        if index < heap.count { restore(index) }
        // The dispatch timer stays set: firing early only finds nothing due.
    }

    private func arm(_ due: UInt64) {
        armed = due
        source.schedule(deadline: DispatchTime(uptimeNanoseconds: due), leeway: .milliseconds(1))
    }

    private func fire() {
        armed = .max
        let now = DispatchTime.now().uptimeNanoseconds
        while let first = heap.first, first.due <= now {
            remove(first)
            first.entryDue(now: now)  // may arm timers: the heap is read again
        }
        if let first = heap.first, first.due < armed { arm(first.due) }
    }

    // MARK: Binary heap on `due`, each timer holding its index

    /// Moves the entry at `index`, whose `due` changed, up or down to its place.
    private func restore(_ index: Int) {
        let moved = heap[index]
        siftUp(index)
        if let now = moved.heapIndex { siftDown(now) }
    }

    private func swapEntries(_ a: Int, _ b: Int) {
        heap.swapAt(a, b)
        heap[a].heapIndex = a
        heap[b].heapIndex = b
    }

    private func siftUp(_ start: Int) {
        var child = start
        while child > 0 {
            let parent = (child - 1) / 2
            guard heap[child].due < heap[parent].due else { return }
            swapEntries(child, parent)
            child = parent
        }
    }

    private func siftDown(_ start: Int) {
        var parent = start
        while true {
            let left = 2 * parent + 1, right = left + 1
            var smallest = parent
            if left < heap.count && heap[left].due < heap[smallest].due { smallest = left }
            if right < heap.count && heap[right].due < heap[smallest].due { smallest = right }
            guard smallest != parent else { return }
            swapEntries(parent, smallest)
            parent = smallest
        }
    }
}

/// A timer on one loop: armed, pushed back, cancelled, armed again over its owner's life (a
/// response timeout re-armed by every upstream read, a keep-alive wait per request), or a
/// one-shot (`EventLoop.schedule`). Pushing it back only stores the later deadline: its heap entry,
/// once due, finds it and moves. Cancelling takes it out of the heap at once, so neither it nor
/// its closure outlives its owner's interest. Holds its loop's heap, never the loop: an armed
/// timer is held by the heap, and a cancelled one by its owner only. Confined to its loop.
final class LoopTimer: @unchecked Sendable {
    private let timers: LoopTimers
    private var handler: (() -> Void)?
    /// When it fires; nil while disarmed.
    private(set) var deadline: UInt64?
    /// Where its heap entry is filed (at most `deadline`; later when pushed back).
    fileprivate(set) var due: UInt64 = 0
    /// Its index in the heap while filed.
    fileprivate var heapIndex: Int?
    /// A one-shot lets go of its closure once it has run.
    private let oneShot: Bool

    /// `handler` runs on the loop when an armed deadline passes; capture the owner weakly.
    convenience init(loop: EventLoop, _ handler: @escaping () -> Void) {
        self.init(timers: loop.timers, oneShot: false, handler)
    }

    init(timers: LoopTimers, oneShot: Bool, _ handler: @escaping () -> Void) {
        self.timers = timers
        self.oneShot = oneShot
        self.handler = handler
    }

    var isArmed: Bool { deadline != nil }

    /// Whether its heap entry is filed (for tests: cancelled timers must not stay in the heap).
    var isFiled: Bool { heapIndex != nil }

    /// Fires `seconds` from now, replacing any earlier arming.
    func arm(after seconds: TimeInterval) {
        dispatchPrecondition(condition: .onQueue(timers.queue))
        guard handler != nil else { return }  // a one-shot that ran
        let when = DispatchTime.now().uptimeNanoseconds &+ UInt64(max(0, seconds) * 1e9)
        deadline = when
        if heapIndex != nil && due <= when { return }  // pushed back: the entry moves when due
        due = when
        timers.file(self)
    }

    func cancel() {
        dispatchPrecondition(condition: .onQueue(timers.queue))
        deadline = nil
        timers.remove(self)
        if oneShot { handler = nil }
    }

    fileprivate func removed() {
        heapIndex = nil
    }

    /// Its entry came due (and was taken out of the heap).
    fileprivate func entryDue(now: UInt64) {
        guard let deadline else { return }
        if deadline > now {  // pushed back meanwhile
            due = deadline
            timers.file(self)
            return
        }
        self.deadline = nil
        let run = handler
        if oneShot { handler = nil }
        run?()
    }
}
