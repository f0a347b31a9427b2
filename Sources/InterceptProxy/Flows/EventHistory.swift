/// The newest flow events, bounded by count and by estimated bytes (`FlowEvent.estimatedBytes`):
/// appending evicts the oldest events until both bounds hold again. Events are kept packed (see
/// `PackedFlowEvent`) and unpacked when read. Not thread-safe.
struct EventHistory {
    /// Nil: no bound on the count, only on bytes.
    let maxCount: Int?
    let maxBytes: Int
    private var events: [PackedFlowEvent?] = []
    private var sizes: [Int] = []
    /// Index of the oldest kept event: evicting frees the event at once (nil) and advances it; the
    /// dead prefix is cut off once it is as long as the live part, so eviction costs O(1) amortised.
    private var start = 0
    private(set) var bytes = 0
    /// Evicted so far, in all and of `response` events (each one a HAR entry lost).
    private(set) var evicted = 0
    private(set) var evictedResponses = 0
    /// Appended so far, ever: the sequence number of the newest event (the first is 1; `removeAll` keeps it).
    private(set) var appended = 0

    init(maxCount: Int?, maxBytes: Int) {
        self.maxCount = maxCount
        self.maxBytes = maxBytes
    }

    var count: Int { events.count - start }
    var all: [FlowEvent] { events[start...].compactMap { $0?.event } }

    /// Takes the oldest event out (a consumer read it; not counted as evicted).
    mutating func popFirst() -> FlowEvent? {
        guard count > 0, let event = events[start] else { return nil }
        bytes -= sizes[start]
        events[start] = nil
        start += 1
        compact()
        return event.event
    }

    /// Adds an event; returns how many older ones it evicted.
    @discardableResult
    mutating func append(_ event: FlowEvent) -> Int {
        let size = event.estimatedBytes
        appended += 1
        events.append(PackedFlowEvent(event))
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

    /// Forgets every event (a harness's reset between tests); sequence numbers go on from where they were.
    mutating func removeAll() {
        events = []
        sizes = []
        start = 0
        bytes = 0
    }

    /// The kept events numbered after `sequence`, oldest first, at most `maxCount` of them and
    /// `maxBytes` (at least one when any is newer). Numbers: see `appended`.
    func events(after sequence: Int, maxCount: Int, maxBytes: Int) -> [(sequence: Int, event: FlowEvent)] {
        let firstSequence = appended - count + 1
        var index = start + max(0, sequence + 1 - firstSequence)
        var result: [(sequence: Int, event: FlowEvent)] = []
        var total = 0
        while index < events.count, result.count < maxCount {
            total += sizes[index]
            if total > maxBytes && !result.isEmpty { break }
            if let event = events[index] { result.append((firstSequence + index - start, event.event)) }
            index += 1
        }
        return result
    }

    private mutating func compact() {
        guard start > 0 && start * 2 >= events.count else { return }
        events.removeFirst(start)
        sizes.removeFirst(start)
        start = 0
    }
}
