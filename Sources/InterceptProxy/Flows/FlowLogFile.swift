import FoundationEssentials
import Glibc
import Logging

/// The flow log's file descriptor, written with write(2) so that a failing write is an error to
/// handle, not a trap (Foundation's `FileHandle.write` traps on ENOSPC or EPIPE). A failure is told
/// once, on the log, and the events are dropped from the file (never from memory) until a write
/// succeeds again; a file removed under the running proxy is created again at its path.
/// Not thread-safe: FlowLogWriter calls it from its one queue.
final class FlowLogFile: FlowLogSink {
    private var fd: Int32
    /// The path to re-create when the file is removed; nil for stdout, which is not ours.
    private let path: String?
    private let logger: Logger?
    /// Set by the first failed write; cleared, with one line saying so, by the next one that succeeds.
    private var failure: String?
    private var dropped = 0
    /// A write that failed after part of a line went out: the next line starts on a line of its own.
    private var torn = false

    /// Opens `path` for appending (a restarted proxy never erases what an earlier run recorded),
    /// creating it if needed; `-` is stdout.
    init(path: String, logger: Logger?) throws {
        self.logger = logger
        if path == "-" {
            fd = STDOUT_FILENO
            self.path = nil
        } else {
            fd = try Self.open(path)
            self.path = path
        }
    }

    private static func open(_ path: String) throws -> Int32 {
        let fd = Glibc.open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw SocketError(operation: "opening flow log \(path)", code: errno) }
        return fd
    }

    /// Appends whole lines (one write(2) when the kernel takes them whole, as it does for a regular file).
    func write(_ lines: [UInt8], lines count: Int) {
        guard reopenIfRemoved(lines: count) else { return }
        var bytes = lines
        if torn { bytes.insert(UInt8(ascii: "\n"), at: 0) }
        // stdout may be a pipe whose reader is gone: EPIPE is handled here, and the SIGPIPE it
        // raises must not kill the process (a library does not change the process's dispositions).
        path == nil ? Self.withSIGPIPEBlocked { writeAll(bytes, lines: count) } : writeAll(bytes, lines: count)
    }

    private func writeAll(_ bytes: [UInt8], lines: Int) {
        var written = 0
        while written < bytes.count {
            let count = bytes.withUnsafeBytes { Glibc.write(fd, $0.baseAddress! + written, $0.count - written) }
            if count < 0 && errno == EINTR { continue }
            guard count > 0 else {
                failed(count < 0 ? String(cString: strerror(errno)) : "the write took no bytes", partly: written > 0, lines: lines)
                return
            }
            written += count
        }
        torn = false
        if let failure {
            logger?.notice("the flow log \(name) is written again (it had failed: \(failure)); \(dropped) event\(dropped == 1 ? " was" : "s were") not written to it")
            self.failure = nil
            dropped = 0
        }
    }

    /// Runs `body` with SIGPIPE blocked on this thread, and discards a SIGPIPE it raised.
    private static func withSIGPIPEBlocked(_ body: () -> Void) {
        var pipeSignal = sigset_t(), previous = sigset_t(), pending = sigset_t()
        sigemptyset(&pipeSignal)
        sigaddset(&pipeSignal, SIGPIPE)
        pthread_sigmask(SIG_BLOCK, &pipeSignal, &previous)
        body()
        sigpending(&pending)
        if sigismember(&pending, SIGPIPE) == 1 && sigismember(&previous, SIGPIPE) == 0 {
            var now = timespec()
            _ = sigtimedwait(&pipeSignal, nil, &now)
        }
        pthread_sigmask(SIG_SETMASK, &previous, nil)
    }

    /// `lines` did not go out whole (those before a partial write did, but the count cannot tell).
    private func failed(_ reason: String, partly: Bool, lines: Int) {
        torn = torn || partly
        dropped += lines
        guard failure == nil else { return }  // one line for a run of failures, not one per event
        failure = reason
        logger?.error("writing the flow log \(name) failed: \(reason); events are not written to it (they are still recorded in memory) until a write succeeds again")
    }

    /// A regular file nobody links any more (removed or rotated away without a signal) is created
    /// again at its path, so that what follows lands where readers look. One fstat per batch.
    /// False when it could not be created again (its directory is gone too): the batch is dropped.
    private func reopenIfRemoved(lines: Int) -> Bool {
        guard let path else { return true }
        var status = stat()
        guard fstat(fd, &status) == 0, (status.st_mode & S_IFMT) == S_IFREG, status.st_nlink == 0 else { return true }
        do {
            let reopened = try Self.open(path)
            Glibc.close(fd)
            fd = reopened
            torn = false
            logger?.warning("the flow log \(path) was removed while the proxy ran; it is created again and events go on there")
            return true
        } catch {
            failed("it was removed, and creating it again failed: \(error)", partly: false, lines: lines)
            return false
        }
    }

    /// The log's name in log lines.
    var name: String { path ?? "(stdout)" }

    /// Flushes to disk and closes (stdout is flushed, not closed).
    func close() {
        _ = fsync(fd)
        if path != nil { Glibc.close(fd) }
        fd = -1
    }
}
