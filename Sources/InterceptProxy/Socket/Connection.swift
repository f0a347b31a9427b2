import Dispatch
import FoundationEssentials
import Glibc

/// What a connection reports to whoever drives it. Called on the connection's loop.
protocol ConnectionDelegate: AnyObject {
    func connection(_ connection: Connection, received bytes: [UInt8])
    /// The same, in the loop's read buffer: valid only during the call, and overwritten by the
    /// loop's next read. The default copies it into `received`.
    func connection(_ connection: Connection, receivedInPlace bytes: UnsafeRawBufferPointer)
    /// The peer will send nothing more (it may still read).
    func connectionReadEOF(_ connection: Connection)
    /// Everything queued has reached the kernel; a paused producer may go on.
    func connectionDrained(_ connection: Connection)
    /// The socket is gone; `error` is nil for an orderly close.
    func connectionClosed(_ connection: Connection, error: SocketError?)
}

extension ConnectionDelegate {
    func connection(_ connection: Connection, receivedInPlace bytes: UnsafeRawBufferPointer) {
        self.connection(connection, received: Array(bytes))
    }
}

/// A non-blocking TCP socket driven by its loop's poller (edge-triggered: registered once for input
/// and output). Not thread-safe: every call happens on `loop` (the `@unchecked Sendable` only lets
/// closures carry it there).
final class Connection: PollTarget, HeldWrites, @unchecked Sendable {
    let loop: EventLoop
    let peer: SocketAddress?
    weak var delegate: ConnectionDelegate?

    private let fd: Int32
    /// Nil once closed (or if epoll refused the descriptor, which then closes at `start`).
    private var registration: SocketPoller.Token?
    private var readPaused = true
    /// The kernel may hold input we have not read: set by an input edge, cleared by a short read.
    private var mayRead = true
    /// The peer half-closed (or the socket failed): read until `read` returns 0 or an error.
    private var peerClosed = false
    private var outbound = OutboundQueue()
    /// Writes wait for the end of the event being handled (see SocketPoller.holdsWrites).
    private var writesHeld = false
    private var shutdownAfterDrain = false
    private var closeAfterDrain = false
    private(set) var isClosed = false
    /// A connection keeps itself alive until it is closed: its owner may let go of it while bytes
    /// are still draining (`closeWhenDrained`), and the poller's events must never outlive it.
    private var selfWhileOpen: Connection?

    /// The address the peer reached this socket at (getsockname).
    var localAddress: SocketAddress? {
        var storage = sockaddr_storage()
        var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
        let result = withUnsafeMutablePointer(to: &storage) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        return result == 0 ? SocketAddress(storage: storage) : nil
    }

    /// Where the client meant to go when the kernel redirected its connection here (iptables or
    /// nftables `REDIRECT`, read from conntrack with `SO_ORIGINAL_DST`); nil without a NAT entry.
    /// A connection made to the proxy itself reads its own local address here, or nothing.
    var originalDestination: SocketAddress? {
        guard let local = localAddress else { return nil }
        var storage = sockaddr_storage()
        var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
        // SO_ORIGINAL_DST (linux/netfilter_ipv4.h) and IP6T_SO_ORIGINAL_DST share the number 80.
        let level = local.isIPv6 ? Int32(IPPROTO_IPV6) : Int32(IPPROTO_IP)
        let result = withUnsafeMutablePointer(to: &storage) { getsockopt(fd, level, 80, $0, &length) }
        return result == 0 ? SocketAddress(storage: storage) : nil
    }

    /// Bytes accepted by `write` but not yet taken by the kernel.
    var pendingOutbound: Int { outbound.count }

    /// The largest read in one go (the size of each loop's read buffer). Large, because a bulk
    /// transfer's bytes leave as they came in: one 512 KiB read becomes one send to the other side
    /// and one wake-up of its reader. Against 64 KiB reads this cut the proxy's CPU per MiB relayed
    /// by about a fifth and raised the bench's bulk rate by about a sixth (issue #16). Small
    /// messages still cost one read of what is there.
    static let readChunk = 512 * 1024
    /// The most a socket holds back before sending anyway: holding merges small writes (a response
    /// head and its body); a bulk transfer's bytes go out as they come, so the peer works meanwhile.
    private static let holdLimit = 16 * 1024
    /// Full reads in a row before other sockets of the loop get their turn (1 MiB, a few
    /// milliseconds of relaying at most).
    private static let readsPerTurn = 2

    /// Takes over `fd`. On the loop.
    init(fd: Int32, loop: EventLoop, peer: SocketAddress?) {
        loop.assertInEventLoop()
        self.fd = fd
        self.loop = loop
        self.peer = peer
        _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK)
        var one: Int32 = 1
        setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
        selfWhileOpen = self
        registration = loop.poller.register(fd, self)
    }

    /// Starts reading. Call once the delegate is set.
    func start() {
        loop.assertInEventLoop()
        guard registration != nil || isClosed else {
            close(error: SocketError(operation: "epoll_ctl", code: errno))
            return
        }
        resumeReading()
    }

    func pauseReading() {
        loop.assertInEventLoop()
        readPaused = true
    }

    /// Input that arrived while paused is read soon after (not from inside this call).
    func resumeReading() {
        loop.assertInEventLoop()
        guard readPaused, !isClosed else { return }
        readPaused = false
        if mayRead { loop.poller.deferRead(self) }
    }

    /// Queues bytes; whatever the kernel does not take at once is sent when the socket is writable.
    func write(_ bytes: [UInt8]) {
        loop.assertInEventLoop()
        guard !isClosed, !bytes.isEmpty else { return }
        outbound.append(bytes)
        if loop.poller.holdsWrites && pendingOutbound < Self.holdLimit {
            if !writesHeld {
                writesHeld = true
                loop.poller.holdWrites(self)
            }
            return
        }
        flush()
    }

    func sendHeldWrites() {
        writesHeld = false
        if pendingOutbound > 0 && !isClosed { flush() }
    }

    /// Half-closes the sending side once everything queued is sent (the peer then reads EOF).
    func shutdownWriteWhenDrained() {
        loop.assertInEventLoop()
        shutdownAfterDrain = true
        if pendingOutbound == 0 && !isClosed { Glibc.shutdown(fd, Int32(SHUT_WR)) }
    }

    /// Closes at once; queued bytes are dropped.
    func close(error: SocketError? = nil) {
        loop.assertInEventLoop()
        guard !isClosed else { return }
        isClosed = true
        // Bytes held for the end of the event were never tried: try them once, as an immediate write would have.
        if writesHeld && pendingOutbound > 0 { _ = sendPending() }
        if let registration { loop.poller.deregister(fd, registration) }
        registration = nil
        Glibc.close(fd)
        outbound.removeAll()
        delegate?.connectionClosed(self, error: error)
        selfWhileOpen = nil
    }

    /// Closes after the queued bytes are sent.
    func closeWhenDrained() {
        loop.assertInEventLoop()
        if pendingOutbound == 0 { close() } else { closeAfterDrain = true }
    }

    // MARK: PollTarget

    func pollEvents(_ events: SocketReadiness) {
        guard !isClosed else { return }
        if events.readable { mayRead = true }
        if events.peerClosed { peerClosed = true }
        if events.writable && pendingOutbound > 0 { flush() }
        readAvailable()
    }

    func deferredRead() { readAvailable() }

    /// Reads while the kernel may hold input, up to a few full buffers; the rest is put off to the
    /// end of the poller's batch, so one busy socket does not starve the loop's others.
    private func readAvailable() {
        var turns = Self.readsPerTurn
        while mayRead && !readPaused && !isClosed {
            guard turns > 0 else {
                loop.poller.deferRead(self)
                return
            }
            turns -= 1
            let buffer = loop.readBuffer
            let count = Glibc.read(fd, buffer.baseAddress, buffer.count)
            if count > 0 {
                // A short read of a stream socket took all there was: the next input is a new edge.
                // Not after a half-close, whose EOF the next read must still find.
                if count < buffer.count && !peerClosed { mayRead = false }
                delegate?.connection(self, receivedInPlace: UnsafeRawBufferPointer(rebasing: buffer[..<count]))
            } else if count == 0 {
                // `mayRead` stays set: a later resumeReading finds the EOF again, as a
                // level-triggered source would.
                pauseReading()
                // Nobody is left to decide (the owner let go): the peer is done, so are we.
                guard let delegate else { closeWhenDrained(); return }
                delegate.connectionReadEOF(self)
            } else if errno == EAGAIN {
                mayRead = false
            } else if errno != EINTR {
                close(error: .last("read"))
            }
        }
    }

    /// Hands over whatever the kernel still holds for us, without waiting.
    private func drainReceivedBytes() {
        let buffer = loop.readBuffer
        while !isClosed {
            let count = Glibc.recv(fd, buffer.baseAddress, buffer.count, Int32(MSG_DONTWAIT))
            guard count > 0 else { return }
            delegate?.connection(self, received: Array(buffer[..<count]))
        }
    }

    private func flush() {
        while pendingOutbound > 0 {
            let count = sendPending()
            if count > 0 {
                outbound.consume(count)
            } else if count < 0 && (errno == EAGAIN || errno == EINTR) {
                break
            } else {
                let error = SocketError.last("send")
                // The peer may have explained itself before resetting (a TLS alert): deliver that first.
                drainReceivedBytes()
                close(error: error)
                return
            }
        }
        // Whatever is left goes out on the next output edge.
        guard pendingOutbound == 0 else { return }
        if closeAfterDrain { close(); return }
        if shutdownAfterDrain { Glibc.shutdown(fd, Int32(SHUT_WR)) }
        delegate?.connectionDrained(self)
    }

    /// One send of what is queued; what the kernel took or -1 (errno says why).
    private func sendPending() -> Int {
        outbound.send(to: fd, flags: Int32(MSG_NOSIGNAL))
    }
}
