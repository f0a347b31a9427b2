import Foundation
import Logging

/// Fans flow events out to the JSON-lines file, the in-process stream and, for failures, the log.
/// Thread-safe: loops record concurrently. Each event is written with one write(2), so a line is
/// never torn and nothing recorded is lost when the process is stopped. A full disk or a removed
/// file does not stop the proxy: see FlowLogFile.
final class FlowRecorder: @unchecked Sendable {
    private let lock = NSLock()
    private var file: FlowLogFile?
    /// The `events` streams' queues, held weakly: a stream its consumer dropped unsubscribes itself.
    private var subscriptions: [ObjectIdentifier: WeakSubscription] = [:]
    private var isClosed = false
    private var history: EventHistory
    /// Called once, on the first eviction, when evictions lose something (the HAR's entries).
    private var evictionWarning: (@Sendable () -> Void)?
    private let encoder: JSONEncoder

    /// - Parameters:
    ///   - path: a file to append JSON lines to, `-` for stdout, nil for none.
    ///   - historyLimit: how many of the newest events `events` keeps; nil: no bound on the count.
    ///   - historyBytes: how many bytes of events (`FlowEvent.estimatedBytes`) `events` keeps.
    ///   - evictionWarning: called once, when the history first has to drop an event.
    ///   - logger: where a failing or removed flow log is reported (once, not per event).
    init(path: String?, historyLimit: Int? = nil, historyBytes: Int = .max, logger: Logger? = nil,
         evictionWarning: (@Sendable () -> Void)? = nil) throws {
        history = EventHistory(maxCount: historyLimit, maxBytes: historyBytes)
        self.evictionWarning = evictionWarning
        encoder = JSONEncoder()
        encoder.dateEncodingStrategy = .custom { date, encoder in
            var container = encoder.singleValueContainer()
            try container.encode(FlowRecorder.timestamp(date))
        }
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        file = try path.map { try FlowLogFile(path: $0, logger: logger) }
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
        let wantsLine = lock.withLock { file != nil }
        let line = wantsLine ? (try? encoder.encode(event)).map { [UInt8]($0) + [UInt8(ascii: "\n")] } : nil
        lock.lock()
        if history.append(event) > 0, let warning = evictionWarning {
            evictionWarning = nil
            warning()
        }
        if let line, let file { file.write(line) }
        let subscribers = subscriptions.values.compactMap(\.subscription)
        for subscriber in subscribers { subscriber.push(event) }
        lock.unlock()
        // Released after the lock: the last reference to a dropped stream unsubscribes it, taking the lock.
        withExtendedLifetime(subscribers) {}
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

    /// Finishes the streams and flushes the file to disk.
    func close() {
        lock.lock()
        isClosed = true
        let finishing = subscriptions.values.compactMap(\.subscription)
        subscriptions = [:]
        lock.unlock()
        for subscription in finishing { subscription.finish() }
        withExtendedLifetime(finishing) {}  // (released outside the lock, see record)
        lock.lock()
        defer { lock.unlock() }
        file?.close()
        file = nil  // events after shutdown still reach `events`, never a closed handle
    }
}

private struct WeakSubscription {
    weak var subscription: EventSubscription?
}
