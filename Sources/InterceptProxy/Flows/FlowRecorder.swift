import FoundationEssentials
import EssentialsSupport
import Glibc
import Logging

/// Fans flow events out to the JSON-lines file, the in-process stream and, for failures, the log.
/// Thread-safe: loops record concurrently. Each loop encodes its events; one writer writes the file
/// (FlowLogWriter: whole lines, a buffer bounded in bytes, what is recorded before `close` is in the
/// file after it). A full disk or a removed file does not stop the proxy: see FlowLogFile.
final class FlowRecorder: @unchecked Sendable {
    private let lock = PthreadMutex()
    private let writer: FlowLogWriter?
    /// The `events` streams' queues, held weakly: a stream its consumer dropped unsubscribes itself.
    private var subscriptions: [ObjectIdentifier: WeakSubscription] = [:]
    private var isClosed = false
    private var history: EventHistory
    /// Called once, on the first eviction, when evictions lose something (the HAR's entries).
    private var evictionWarning: (@Sendable () -> Void)?
    private let encoder: JSONEncoder
    /// Callbacks waiting for an event numbered above theirs (the control API's long polls), by token.
    private var waiters: [Int: (after: Int, wake: @Sendable () -> Void)] = [:]
    private var nextWaiter = 0

    /// - Parameters:
    ///   - path: a file to append JSON lines to, `-` for stdout, nil for none.
    ///   - historyLimit: how many of the newest events `events` keeps; nil: no bound on the count.
    ///   - historyBytes: how many bytes of events (`FlowEvent.estimatedBytes`) `events` keeps.
    ///   - evictionWarning: called once, when the history first has to drop an event.
    ///   - logger: where a failing or removed flow log is reported (once, not per event).
    ///   - fileBufferBytes: the bound on the events waiting for the file (FlowLogWriter).
    init(path: String?, historyLimit: Int? = nil, historyBytes: Int = .max, logger: Logger? = nil,
         fileBufferBytes: Int = FlowLogWriter.defaultCapacity, evictionWarning: (@Sendable () -> Void)? = nil) throws {
        history = EventHistory(maxCount: historyLimit, maxBytes: historyBytes)
        self.evictionWarning = evictionWarning
        encoder = JSONEncoder()
        encoder.dateEncodingStrategy = .custom { date, encoder in
            var container = encoder.singleValueContainer()
            try container.encode(FlowRecorder.timestamp(date))
        }
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        writer = try path.map {
            let file = try FlowLogFile(path: $0, logger: logger)
            return FlowLogWriter(sink: file, name: file.name, capacity: fileBufferBytes, logger: logger)
        }
    }

    /// RFC 3339 in UTC with milliseconds (`2026-11-23T10:47:04.126Z`). Formatted by hand: an
    /// ISO8601DateFormatter per event cost more than the rest of a proxied request.
    static func timestamp(_ date: Date) -> String {
        let interval = date.timeIntervalSince1970
        var seconds = time_t(interval.rounded(.down))
        let milliseconds = min(999, Int((interval - Double(seconds)) * 1000))
        var parts = tm()
        gmtime_r(&seconds, &parts)
        var text = ""
        text.reserveCapacity(24)
        func append(_ value: Int, width: Int) {
            let digits = String(value)
            text += String(repeating: "0", count: max(0, width - digits.count)) + digits
        }
        append(Int(parts.tm_year) + 1900, width: 4); text += "-"
        append(Int(parts.tm_mon) + 1, width: 2); text += "-"
        append(Int(parts.tm_mday), width: 2); text += "T"
        append(Int(parts.tm_hour), width: 2); text += ":"
        append(Int(parts.tm_min), width: 2); text += ":"
        append(Int(parts.tm_sec), width: 2); text += "."
        append(milliseconds, width: 3); text += "Z"
        return text
    }

    func record(_ event: FlowEvent) {
        // Encoded here, on the recording loop, and outside the lock; the writer may make it wait
        // briefly for room (never while holding the lock, which `events` readers need too).
        if let writer, let line = line(for: event) { writer.submit(line) }
        lock.lock()
        if history.append(event) > 0, let warning = evictionWarning {
            evictionWarning = nil
            warning()
        }
        // (No array built when nobody subscribed: this runs for every request and response.)
        let subscribers = subscriptions.isEmpty ? [] : subscriptions.values.compactMap(\.subscription)
        for subscriber in subscribers { subscriber.push(event) }
        let woken = waiters.isEmpty ? [] : takeWaiters { $0 < history.appended }
        lock.unlock()
        woken.forEach { $0() }
        // Released after the lock: the last reference to a dropped stream unsubscribes it, taking the lock.
        withExtendedLifetime(subscribers) {}
    }

    /// The event as a line of the flow log: JSON with sorted keys, then a newline.
    func line(for event: FlowEvent) -> [UInt8]? {
        guard var line = try? [UInt8](encoder.encode(event)) else { return nil }
        line.append(UInt8(ascii: "\n"))
        return line
    }

    /// The newest events recorded so far, within the history's bounds.
    var events: [FlowEvent] {
        lock.lock()
        defer { lock.unlock() }
        return history.all
    }

    /// How many events the history has dropped, in all and of `response` events.
    var evicted: (events: Int, responses: Int) {
        lock.withLock { (history.evicted, history.evictedResponses) }
    }

    /// A stream of events from now on; it finishes when the recorder is closed. Its queue keeps at
    /// most `limit` events and `bytes` of them: a consumer that falls further behind loses the oldest.
    func stream(limit: Int?, bytes: Int) -> AsyncStream<FlowEvent> {
        let subscription = EventSubscription(maxCount: limit, maxBytes: bytes) { [weak self] id in
            guard let self else { return }
            self.lock.withLock { self.subscriptions[id] = nil }
        }
        let closed = lock.withLock {
            if !isClosed { subscriptions[ObjectIdentifier(subscription)] = WeakSubscription(subscription: subscription) }
            return isClosed
        }
        if closed { subscription.finish() }
        return subscription.makeStream()
    }

    /// How many events the flow log's file did not get because its writer fell behind (0 without a file).
    var fileDropped: Int { writer?.dropped ?? 0 }

    /// Finishes the streams, lets the writer write every event recorded so far (up to `fileCloseTimeout`)
    /// and flushes the file to disk. Events recorded later reach `events` only, never the file.
    func close(fileCloseTimeout: TimeInterval = 10) {
        lock.lock()
        isClosed = true
        let finishing = subscriptions.values.compactMap(\.subscription)
        subscriptions = [:]
        let woken = takeWaiters { _ in true }
        lock.unlock()
        woken.forEach { $0() }
        for subscription in finishing { subscription.finish() }
        withExtendedLifetime(finishing) {}  // (released outside the lock, see record)
        writer?.close(timeout: fileCloseTimeout)
    }
}

// Numbered events for readers that poll (the control API's `flows?since=N`).
extension FlowRecorder {
    /// The number of the newest event recorded (0 before the first); `reset` does not rewind it.
    var lastSequence: Int { lock.withLock { history.appended } }

    /// Kept events numbered after `sequence`, oldest first, within `maxCount` and `maxBytes`.
    func events(after sequence: Int, maxCount: Int, maxBytes: Int) -> [(sequence: Int, event: FlowEvent)] {
        lock.withLock { history.events(after: sequence, maxCount: maxCount, maxBytes: maxBytes) }
    }

    /// Calls `wake` once, on the recording thread, when an event numbered above `sequence` is
    /// recorded or the recorder closes; at once if one already is. Returns a token for `cancelWait`.
    func whenRecorded(after sequence: Int, _ wake: @escaping @Sendable () -> Void) -> Int {
        let (token, now) = lock.withLock { () -> (Int, Bool) in
            nextWaiter += 1
            if history.appended > sequence || isClosed { return (nextWaiter, true) }
            waiters[nextWaiter] = (sequence, wake)
            return (nextWaiter, false)
        }
        if now { wake() }
        return token
    }

    /// Drops a waiter that has not been woken (its poll timed out).
    func cancelWait(_ token: Int) {
        _ = lock.withLock { waiters.removeValue(forKey: token) }
    }

    /// Forgets the recorded events (not the flow log's file); numbering goes on.
    func reset() {
        lock.withLock { history.removeAll() }
    }

    /// Removes and returns the waiters whose number passes `test`. Called with the lock held.
    fileprivate func takeWaiters(_ test: (Int) -> Bool) -> [@Sendable () -> Void] {
        let due = waiters.filter { test($0.value.after) }
        for token in due.keys { waiters[token] = nil }
        return due.values.map(\.wake)
    }
}

private struct WeakSubscription {
    weak var subscription: EventSubscription?
}
