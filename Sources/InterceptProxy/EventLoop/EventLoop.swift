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
    /// Touched only on the loop.
    let timers: LoopTimers
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

    /// Traps unless the caller runs on this loop, in release builds too: the loop's state has no
    /// locks, so a call from another thread would be a data race. Cheap (libdispatch compares the
    /// current queue), so every entry point another thread could reach checks it.
    func assertInEventLoop() {
        dispatchPrecondition(condition: .onQueue(queue))
    }

    /// Runs `work` on the loop, later.
    func execute(_ work: @escaping @Sendable () -> Void) {
        queue.async(execute: work)
    }

    /// Runs `work` once on the loop after `delay`; cancel the returned timer to drop it (and its
    /// closure) at once. On the loop.
    @discardableResult
    func schedule(after delay: TimeInterval, _ work: @escaping () -> Void) -> LoopTimer {
        let timer = LoopTimer(timers: timers, oneShot: true, work)
        timer.arm(after: delay)
        return timer
    }

    /// Disarms every timer of the loop: its proxy stopped. On the loop.
    func cancelTimers() {
        assertInEventLoop()
        timers.cancelAll()
    }

    /// Timers armed on the loop (for tests: cancelled ones must not stay).
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
