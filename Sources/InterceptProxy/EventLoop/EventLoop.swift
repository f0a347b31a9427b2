import Dispatch
import FoundationEssentials
import EssentialsSupport

/// A serial queue that owns a set of connections: everything about a connection (its socket registration,
/// its OpenSSL objects, its parser state) is touched only on its loop, so none of it needs a lock.
/// (`@unchecked` because of `readBuffer`, which only code running on the loop touches.)
public final class EventLoop: @unchecked Sendable {
    let queue: DispatchQueue
    private let key = DispatchSpecificKey<Int>()
    let index: Int
    /// Scratch space every socket read on this loop lands in before its bytes are copied out:
    /// one allocation per loop instead of a zeroed array per read.
    let readBuffer: UnsafeMutableRawBufferPointer
    /// Touched only on the loop (see `schedule`).
    private let timers: LoopTimers
    /// Delivers the loop's socket events (see SocketPoller).
    let poller: SocketPoller

    init(index: Int) {
        self.index = index
        queue = DispatchQueue(label: "intercept-proxy.loop.\(index)", qos: .userInitiated)
        queue.setSpecific(key: key, value: index)
        readBuffer = .allocate(byteCount: Connection.readChunk, alignment: 16)
        timers = LoopTimers(queue: queue)
        poller = SocketPoller(queue: queue, name: "ip-loop-\(index)")
    }

    deinit {
        poller.stop()
        readBuffer.deallocate()
    }

    /// Whether the caller runs on this loop.
    var inEventLoop: Bool { DispatchQueue.getSpecific(key: key) == index }

    func assertInEventLoop(file: StaticString = #fileID, line: UInt = #line) {
        assert(inEventLoop, "must run on event loop \(index)", file: file, line: line)
    }

    /// Runs `work` on the loop, later.
    func execute(_ work: @escaping @Sendable () -> Void) {
        queue.async(execute: work)
    }

    /// Runs `work` on the loop after `delay`; cancel the returned item to drop it (it is then
    /// released within a bounded time, see LoopTimers, not held until its deadline).
    @discardableResult
    func schedule(after delay: TimeInterval, _ work: @escaping @Sendable () -> Void) -> DispatchWorkItem {
        let item = DispatchWorkItem(block: work)
        let deadline = DispatchTime.now() + delay
        if inEventLoop {
            timers.add(item, at: deadline)
        } else {
            let handOver = UncheckedItem(item: item)  // the caller lets go of it; only the loop uses it from here
            queue.async { [timers] in timers.add(handOver.item, at: deadline) }
        }
        return item
    }

    /// Files a LoopTimer's entry. On the loop.
    func file(_ timer: LoopTimer, at deadline: UInt64) {
        timers.file(timer, at: deadline)
    }

    /// Timer items the loop holds (for tests: cancelled ones must not pile up).
    var heldTimers: Int { queue.sync { timers.count } }
}

/// A fixed set of loops (`ProxyConfiguration.defaultEventLoopCount` by default); connections are
/// handed out round-robin.
final class EventLoopGroup: Sendable {
    let loops: [EventLoop]
    private let next = LockedCounter()

    init(count: Int = ProxyConfiguration.defaultEventLoopCount) {
        let count = min(max(1, count), ProxyConfiguration.maximumEventLoopCount)
        loops = (0..<count).map { EventLoop(index: $0) }
    }

    func nextLoop() -> EventLoop {
        loops[next.increment() % loops.count]
    }
}

/// A counter shared across threads (accepts may race on several listeners).
final class LockedCounter: @unchecked Sendable {
    private let lock = PthreadMutex()
    private var value = 0

    func increment() -> Int {
        lock.lock()
        defer { lock.unlock() }
        value += 1
        return value
    }
}

private struct UncheckedItem: @unchecked Sendable {
    let item: DispatchWorkItem
}
