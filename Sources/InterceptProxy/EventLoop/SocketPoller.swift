import CLinuxEvents
import Dispatch
import Glibc
import Synchronization

/// What the poller calls when the kernel reports a socket ready. Called on the loop.
protocol PollTarget: AnyObject {
    func pollEvents(_ events: SocketReadiness)
    /// A read the target put off (`SocketPoller.deferRead`) is due.
    func deferredRead()
}

/// A socket whose writes wait for the end of the event being handled (`SocketPoller.holdWrites`).
protocol HeldWrites: AnyObject {
    func sendHeldWrites()
}

/// What epoll reported for a socket.
struct SocketReadiness {
    let mask: UInt32

    /// Input (or its end, or an error a read reports) is waiting.
    var readable: Bool { mask & (EPOLLIN.rawValue | EPOLLRDHUP.rawValue | Self.failed) != 0 }
    /// The send buffer has room (or an error a send reports).
    var writable: Bool { mask & (EPOLLOUT.rawValue | Self.failed) != 0 }
    /// The peer sent its FIN, or the socket failed: reads go on until they say so.
    var peerClosed: Bool { mask & (EPOLLRDHUP.rawValue | Self.failed) != 0 }

    private static let failed = EPOLLERR.rawValue | EPOLLHUP.rawValue
}

/// One epoll instance and one thread per event loop. The thread waits in epoll_wait and runs the
/// ready sockets' handlers itself, inside `queue.sync`: the loop's serial queue still owns all
/// connection state (timers and hand-overs from other threads run on it as before), but a socket
/// event costs one wake-up of this thread instead of libdispatch's manager-to-worker hand-off per
/// source, its FIONREAD per read and its epoll_ctl per re-arm (issue #16's profile). Sockets are
/// registered once, edge-triggered for input and output, so nothing is re-armed afterwards.
final class SocketPoller: @unchecked Sendable {
    private let queue: DispatchQueue
    private let epoll: Int32
    /// Written to stop the thread.
    private let wakeup: Int32
    private static let wakeupToken = UInt64.max

    // Touched only on the loop's queue.
    private var targets: [PollTarget?] = []
    private var generations: [UInt32] = []
    private var freeSlots: [Int] = []
    private var deferred: [PollTarget] = []
    private var inBatch = false
    /// Sockets written to while the current event was handled; sent when it has been.
    private var held: [HeldWrites] = []
    private var drainScheduled = false

    /// The thread's stop flag; read by the thread after each wake-up, set once.
    private let stopping = Atomic<Bool>(false)

    /// Events taken per epoll_wait.
    private static let batchSize = 64

    init(queue: DispatchQueue, name: String) {
        self.queue = queue
        epoll = epoll_create1(Int32(EPOLL_CLOEXEC))
        wakeup = eventfd(0, Int32(EFD_CLOEXEC) | Int32(EFD_NONBLOCK))
        precondition(epoll >= 0 && wakeup >= 0, "epoll_create1/eventfd failed: \(String(cString: strerror(errno)))")
        var event = epoll_event()
        event.events = EPOLLIN.rawValue
        event.data.u64 = Self.wakeupToken
        epoll_ctl(epoll, EPOLL_CTL_ADD, wakeup, &event)
        startThread(name: name)
    }

    /// Ends the thread (it holds the poller until it has left its last batch) and the epoll instance.
    func stop() {
        guard !stopping.exchange(true, ordering: .acquiringAndReleasing) else { return }
        var one: UInt64 = 1
        _ = Glibc.write(wakeup, &one, 8)
    }

    /// A registration: which slot, and which generation of it (a stale event for a closed and
    /// reused descriptor carries an older generation and is dropped).
    struct Token: Equatable {
        fileprivate let value: UInt64
    }

    /// Watches `fd` for input and output, edge-triggered, until `deregister`. On the loop.
    func register(_ fd: Int32, _ target: PollTarget, events: UInt32 = SocketPoller.readWrite) -> Token? {
        let slot: Int
        if let free = freeSlots.popLast() {
            slot = free
        } else {
            slot = targets.count
            targets.append(nil)
            generations.append(0)
        }
        generations[slot] &+= 1
        targets[slot] = target
        let token = Token(value: UInt64(generations[slot]) << 32 | UInt64(slot))
        var event = epoll_event()
        event.events = events
        event.data.u64 = token.value
        guard epoll_ctl(epoll, EPOLL_CTL_ADD, fd, &event) == 0 else {
            targets[slot] = nil
            freeSlots.append(slot)
            return nil
        }
        return token
    }

    /// Stops watching; call before closing `fd`. On the loop.
    func deregister(_ fd: Int32, _ token: Token) {
        _ = epoll_ctl(epoll, EPOLL_CTL_DEL, fd, nil)
        let slot = Int(token.value & 0xFFFF_FFFF)
        guard slot < targets.count, UInt64(generations[slot]) == token.value >> 32 else { return }
        targets[slot] = nil
        freeSlots.append(slot)
    }

    static let readWrite = EPOLLIN.rawValue | EPOLLOUT.rawValue | EPOLLRDHUP.rawValue | EPOLLET.rawValue
    static let writeOnly = EPOLLOUT.rawValue | EPOLLET.rawValue

    /// Whether a write now may wait for the end of the event being handled: everything one read
    /// produces for a socket (a response head and its body, h2 frames of several streams) then
    /// leaves in one send. Outside an event (timers, hand-overs) writes go out at once.
    var holdsWrites: Bool { inBatch }

    /// `socket.sendHeldWrites()` runs once the event being handled is done. On the loop, while `holdsWrites`.
    func holdWrites(_ socket: HeldWrites) {
        held.append(socket)
    }

    private func sendHeld() {
        while !held.isEmpty {
            let due = held
            held = []
            for socket in due { socket.sendHeldWrites() }  // may hold more (a drained callback writes)
        }
    }

    /// Runs `target.deferredRead()` soon on the loop: after the current batch when called from one
    /// (the thread then polls without blocking), else as a block on the queue. On the loop.
    func deferRead(_ target: PollTarget) {
        deferred.append(target)
        guard !inBatch, !drainScheduled else { return }
        drainScheduled = true
        queue.async { [self] in
            drainScheduled = false
            runDeferred()
        }
    }

    private func runDeferred() {
        guard !deferred.isEmpty else { return }
        let due = deferred
        deferred = []
        for target in due {
            target.deferredRead()
            sendHeld()
        }
    }

    /// One batch of events, on the queue. Returns whether reads were put off for the next round.
    private func dispatch(_ events: UnsafeMutablePointer<epoll_event>, count: Int) -> Bool {
        inBatch = true
        defer { inBatch = false }
        for index in 0..<count {
            let token = events[index].data.u64
            guard token != Self.wakeupToken else { continue }
            let slot = Int(token & 0xFFFF_FFFF)
            guard slot < targets.count, UInt64(generations[slot]) == token >> 32, let target = targets[slot] else { continue }
            target.pollEvents(SocketReadiness(mask: events[index].events))
            sendHeld()
        }
        runDeferred()
        return !deferred.isEmpty
    }

    private func run() {
        let events = UnsafeMutablePointer<epoll_event>.allocate(capacity: Self.batchSize)
        defer { events.deallocate() }
        var pendingReads = false
        while !stopping.load(ordering: .acquiring) {
            let count = epoll_wait(epoll, events, Int32(Self.batchSize), pendingReads ? 0 : -1)
            if count < 0 {
                if errno == EINTR { continue }
                preconditionFailure("epoll_wait failed: \(String(cString: strerror(errno)))")
            }
            if stopping.load(ordering: .acquiring) { break }
            if count == 0 && !pendingReads { continue }
            pendingReads = queue.sync { dispatch(events, count: Int(count)) }
        }
        Glibc.close(wakeup)
        Glibc.close(epoll)
    }

    /// Returns once the thread has named itself, so a loop's thread carries its name (top -H, perf,
    /// /proc) from the moment the loop exists, even on a machine too busy to run it at once.
    private func startThread(name: String) {
        let named = DispatchSemaphore(value: 0)
        let context = Unmanaged.passRetained(ThreadContext(poller: self, name: name, named: named)).toOpaque()
        var thread = pthread_t()
        let result = pthread_create(&thread, nil, { raw in
            let context = Unmanaged<ThreadContext>.fromOpaque(raw!).takeRetainedValue()
            _ = shim_name_this_thread(String(context.name.prefix(15)))
            context.named.signal()
            context.poller.run()
            return nil
        }, context)
        precondition(result == 0, "pthread_create failed: \(result)")
        pthread_detach(thread)
        named.wait()
    }
}

private final class ThreadContext {
    let poller: SocketPoller
    let name: String
    let named: DispatchSemaphore
    init(poller: SocketPoller, name: String, named: DispatchSemaphore) {
        self.poller = poller
        self.name = name
        self.named = named
    }
}
