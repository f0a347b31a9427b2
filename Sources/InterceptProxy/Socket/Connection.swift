import Dispatch
import Foundation

/// What a connection reports to whoever drives it. Called on the connection's loop.
protocol ConnectionDelegate: AnyObject {
    func connection(_ connection: Connection, received bytes: [UInt8])
    /// The peer will send nothing more (it may still read).
    func connectionReadEOF(_ connection: Connection)
    /// Everything queued has reached the kernel; a paused producer may go on.
    func connectionDrained(_ connection: Connection)
    /// The socket is gone; `error` is nil for an orderly close.
    func connectionClosed(_ connection: Connection, error: SocketError?)
}

/// A non-blocking TCP socket driven by dispatch sources on one event loop. Not thread-safe:
/// every call happens on `loop` (the `@unchecked Sendable` only lets closures carry it there).
final class Connection: @unchecked Sendable {
    let loop: EventLoop
    let peer: SocketAddress?
    weak var delegate: ConnectionDelegate?

    private let fd: Int32
    private let readSource: DispatchSourceRead
    private let writeSource: DispatchSourceWrite
    private var readSuspended = true
    private var writeSuspended = true
    private var outbound: [UInt8] = []
    private var outboundOffset = 0
    private var shutdownAfterDrain = false
    private var closeAfterDrain = false
    private(set) var isClosed = false
    /// A connection keeps itself alive until it is closed: its owner may let go of it while bytes
    /// are still draining (`closeWhenDrained`), and the sources' handlers must never outlive it.
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

    /// Bytes accepted by `write` but not yet taken by the kernel.
    var pendingOutbound: Int { outbound.count - outboundOffset }

    /// The largest read in one go (the size of each loop's read buffer).
    static let readChunk = 64 * 1024

    init(fd: Int32, loop: EventLoop, peer: SocketAddress?) {
        self.fd = fd
        self.loop = loop
        self.peer = peer
        _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK)
        var one: Int32 = 1
        setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
        readSource = DispatchSource.makeReadSource(fileDescriptor: fd, queue: loop.queue)
        writeSource = DispatchSource.makeWriteSource(fileDescriptor: fd, queue: loop.queue)
        readSource.setEventHandler { [unowned self] in self.readable() }
        writeSource.setEventHandler { [unowned self] in self.flush() }
        // The fd is closed once, after both sources are cancelled.
        let group = DispatchGroup()
        group.enter(); group.enter()
        readSource.setCancelHandler { group.leave() }
        writeSource.setCancelHandler { group.leave() }
        group.notify(queue: loop.queue) { Glibc.close(fd) }
        selfWhileOpen = self
    }

    /// Starts reading. Call once the delegate is set.
    func start() {
        loop.assertInEventLoop()
        resumeReading()
    }

    func pauseReading() {
        loop.assertInEventLoop()
        guard !readSuspended, !isClosed else { return }
        readSuspended = true
        readSource.suspend()
    }

    func resumeReading() {
        loop.assertInEventLoop()
        guard readSuspended, !isClosed else { return }
        readSuspended = false
        readSource.resume()
    }

    /// Queues bytes; whatever the kernel does not take at once is sent when the socket is writable.
    func write(_ bytes: [UInt8]) {
        loop.assertInEventLoop()
        guard !isClosed, !bytes.isEmpty else { return }
        if pendingOutbound == 0 {
            outbound = bytes
            outboundOffset = 0
        } else {
            outbound.append(contentsOf: bytes)
        }
        flush()
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
        // A suspended source must be resumed before it is cancelled, or it never finishes cancelling.
        if readSuspended { readSource.resume(); readSuspended = false }
        if writeSuspended { writeSource.resume(); writeSuspended = false }
        readSource.cancel()
        writeSource.cancel()
        outbound = []
        outboundOffset = 0
        delegate?.connectionClosed(self, error: error)
        selfWhileOpen = nil
    }

    /// Closes after the queued bytes are sent.
    func closeWhenDrained() {
        loop.assertInEventLoop()
        if pendingOutbound == 0 { close() } else { closeAfterDrain = true }
    }

    private func readable() {
        let buffer = loop.readBuffer
        let count = Glibc.read(fd, buffer.baseAddress, buffer.count)
        if count > 0 {
            delegate?.connection(self, received: Array(buffer[..<count]))
        } else if count == 0 {
            pauseReading()
            // Nobody is left to decide (the owner let go): the peer is done, so are we.
            guard let delegate else { closeWhenDrained(); return }
            delegate.connectionReadEOF(self)
        } else if errno != EAGAIN && errno != EINTR {
            close(error: .last("read"))
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
            let count = outbound.withUnsafeBytes {
                Glibc.send(fd, $0.baseAddress! + outboundOffset, pendingOutbound, Int32(MSG_NOSIGNAL))
            }
            if count > 0 {
                outboundOffset += count
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
        if pendingOutbound > 0 {
            if writeSuspended { writeSuspended = false; writeSource.resume() }
            return
        }
        outbound = []
        outboundOffset = 0
        if !writeSuspended { writeSuspended = true; writeSource.suspend() }
        if closeAfterDrain { close(); return }
        if shutdownAfterDrain { Glibc.shutdown(fd, Int32(SHUT_WR)) }
        delegate?.connectionDrained(self)
    }
}
