/// The newest flow events, bounded by count and by estimated bytes (`FlowEvent.estimatedBytes`):
/// appending evicts the oldest events until both bounds hold again. Not thread-safe.
struct EventHistory {
    /// Nil: no bound on the count, only on bytes.
    let maxCount: Int?
    let maxBytes: Int
    private var events: [FlowEvent?] = []
    private var sizes: [Int] = []
    /// Index of the oldest kept event: evicting frees the event at once (nil) and advances it; the
    /// dead prefix is cut off once it is as long as the live part, so eviction costs O(1) amortised.
    private var start = 0
    private(set) var bytes = 0
    /// Evicted so far, in all and of `response` events (each one a HAR entry lost).
    private(set) var evicted = 0
    private(set) var evictedResponses = 0

    init(maxCount: Int?, maxBytes: Int) {
        self.maxCount = maxCount
        self.maxBytes = maxBytes
    }

    var count: Int { events.count - start }
    var all: [FlowEvent] { events[start...].compactMap { $0 } }

    /// Takes the oldest event out (a consumer read it; not counted as evicted).
    mutating func popFirst() -> FlowEvent? {
        guard count > 0, let event = events[start] else { return nil }
        bytes -= sizes[start]
        events[start] = nil
        start += 1
        compact()
        return event
    }

    /// Adds an event; returns how many older ones it evicted.
    @discardableResult
    mutating func append(_ event: FlowEvent) -> Int {
        let size = event.estimatedBytes
        events.append(event)
        sizes.append(size)
        bytes += size
        var removed = 0
        while count > 0 && (bytes > maxBytes || maxCount.map { count > $0 } == true) {
            bytes -= sizes[start]
            if events[start]?.type == .response { evictedResponses += 1 }
            events[start] = nil
            start += 1
            removed += 1
        }
        evicted += removed
        compact()
        return removed
    }

    private mutating func compact() {
        guard start > 0 && start * 2 >= events.count else { return }
        events.removeFirst(start)
        sizes.removeFirst(start)
        start = 0
    }
}
