import Dispatch

/// A loop's timers: a min-heap of pending items and one dispatch timer set to the earliest deadline.
/// Why not `asyncAfter` per timer: a cancelled `asyncAfter` item stays queued, closure and all, until
/// its deadline, and the proxy re-arms its timers on every read; at a few thousand requests a second
/// that held 500 MB of cancelled timers for up to the longest timeout (the soak run). Here cancelled
/// items are swept out whenever the heap has doubled since the last sweep, so what is held is
/// bounded by the live timers, not by the request rate. Confined to the loop's queue.
final class LoopTimers: @unchecked Sendable {
    private var heap: [(deadline: UInt64, item: DispatchWorkItem)] = []
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
        let due = deadline.uptimeNanoseconds
        push((due, item))
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
            if !first.item.isCancelled { first.item.perform() }  // may add timers: the heap is re-read
        }
        if let first = heap.first, first.deadline < armed { arm(first.deadline) }
    }

    private func sweep() {
        heap.removeAll { $0.item.isCancelled }
        for index in stride(from: heap.count / 2 - 1, through: 0, by: -1) { siftDown(index) }
        sweepAt = max(Self.minimumSweep, heap.count * 2)
    }

    // MARK: Binary heap on `deadline`

    private func push(_ entry: (deadline: UInt64, item: DispatchWorkItem)) {
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
