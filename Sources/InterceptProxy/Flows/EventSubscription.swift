import FoundationEssentials
import EssentialsSupport

/// The queue behind one `InterceptProxy.events` stream. It is bounded like the history (an
/// `EventHistory`): a consumer that falls behind, or never reads, loses its oldest events instead
/// of growing the proxy without bound. The stream pulls from it (`AsyncStream(unfolding:)`), so the
/// queue is the only buffer.
final class EventSubscription: @unchecked Sendable {
    private let lock = PthreadMutex()
    private var queue: EventHistory
    private var waiting: CheckedContinuation<FlowEvent?, Never>?
    private var finished = false
    private let onRelease: @Sendable (ObjectIdentifier) -> Void

    init(maxCount: Int?, maxBytes: Int, onRelease: @escaping @Sendable (ObjectIdentifier) -> Void) {
        queue = EventHistory(maxCount: maxCount, maxBytes: maxBytes)
        self.onRelease = onRelease
    }

    /// The stream handed out; it alone holds the subscription, whose release unsubscribes it.
    func makeStream() -> AsyncStream<FlowEvent> {
        AsyncStream(unfolding: { await self.next() }, onCancel: { self.finish() })
    }

    func push(_ event: FlowEvent) {
        lock.lock()
        guard !finished else { lock.unlock(); return }
        if let consumer = waiting {
            waiting = nil
            lock.unlock()
            consumer.resume(returning: event)
            return
        }
        queue.append(event)
        lock.unlock()
    }

    /// Ends the stream once the queued events are read.
    func finish() {
        lock.lock()
        finished = true
        let consumer = waiting
        waiting = nil
        lock.unlock()
        consumer?.resume(returning: nil)
    }

    private func next() async -> FlowEvent? {
        await withCheckedContinuation { continuation in
            lock.lock()
            if let event = queue.popFirst() {
                lock.unlock()
                continuation.resume(returning: event)
            } else if finished {
                lock.unlock()
                continuation.resume(returning: nil)
            } else {
                waiting = continuation
                lock.unlock()
            }
        }
    }

    deinit { onRelease(ObjectIdentifier(self)) }
}
