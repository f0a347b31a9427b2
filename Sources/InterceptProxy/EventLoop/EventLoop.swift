import Dispatch
import Foundation

/// A serial queue that owns a set of connections: everything about a connection (its socket sources,
/// its OpenSSL objects, its parser state) is touched only on its loop, so none of it needs a lock.
/// (`@unchecked` because of `readBuffer`, which only code running on the loop touches.)
public final class EventLoop: @unchecked Sendable {
    let queue: DispatchQueue
    private let key = DispatchSpecificKey<Int>()
    let index: Int
    /// Scratch space every socket read on this loop lands in before its bytes are copied out:
    /// one allocation per loop instead of a zeroed 64 KiB array per read.
    let readBuffer: UnsafeMutableRawBufferPointer
    /// Touched only on the loop (see `schedule`).
    private let timers: LoopTimers
    /// Writes made during a socket event wait here and go out once, at its end (see `batchingWrites`).
    /// Touched only on the loop.
    private var writeBatch = WriteBatch()

    init(index: Int) {
        self.index = index
        queue = DispatchQueue(label: "intercept-proxy.loop.\(index)", qos: .userInitiated)
        queue.setSpecific(key: key, value: index)
        readBuffer = .allocate(byteCount: Connection.readChunk, alignment: 16)
        timers = LoopTimers(queue: queue)
    }

    deinit { readBuffer.deallocate() }

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

    /// Runs a socket event's handler; the writes it makes are coalesced into one send per socket
    /// at its end (fewer syscalls and wake-ups). Nested events join the outer one.
    func batchingWrites(_ body: () -> Void) {
        writeBatch.depth += 1
        body()
        writeBatch.depth -= 1
        guard writeBatch.depth == 0 else { return }
        // Each flush may deliver "drained" and its handler may write again: those writes (depth 0)
        // go out at once, as before batching, so nothing waits for an event that never comes.
        while !writeBatch.connections.isEmpty {
            let due = writeBatch.connections
            writeBatch.connections = []
            for connection in due { connection.flushBatchedWrites() }
        }
    }

    /// Whether a write should wait for the end of the current socket event.
    var isBatchingWrites: Bool { writeBatch.depth > 0 }

    /// Flushes `connection` when the current socket event ends.
    func flushAtEndOfEvent(_ connection: Connection) {
        writeBatch.connections.append(connection)
    }

    /// Timer items the loop holds (for tests: cancelled ones must not pile up).
    var heldTimers: Int { queue.sync { timers.count } }
}

/// A fixed set of loops, one per core by default; connections are handed out round-robin.
final class EventLoopGroup: Sendable {
    let loops: [EventLoop]
    private let next = LockedCounter()

    init(count: Int = ProcessInfo.processInfo.activeProcessorCount) {
        loops = (0..<max(1, count)).map { EventLoop(index: $0) }
    }

    func nextLoop() -> EventLoop {
        loops[next.increment() % loops.count]
    }
}

/// A counter shared across threads (accepts may race on several listeners).
final class LockedCounter: @unchecked Sendable {
    private let lock = NSLock()
    private var value = 0

    func increment() -> Int {
        lock.lock()
        defer { lock.unlock() }
        value += 1
        return value
    }
}

/// The connections with writes waiting for the end of the socket event being handled.
private struct WriteBatch {
    var depth = 0
    var connections: [Connection] = []
}

private struct UncheckedItem: @unchecked Sendable {
    let item: DispatchWorkItem
}
