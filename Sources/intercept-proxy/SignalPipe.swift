import Dispatch
import FoundationEssentials
import Glibc

/// Delivers SIGINT, SIGTERM and SIGUSR1 to a handler on the main queue, from the moment `install`
/// returns: a signal handler writes the signal's number into a pipe (the one thing a handler may
/// safely do), and a dispatch source reads it. A signal that arrives before anybody watches the
/// pipe waits in it instead of killing the process or being lost, so the ready file can promise
/// that a SIGTERM is handled.
enum SignalPipe {
    /// The pipe's write end, set once before any handler is installed and never changed.
    nonisolated(unsafe) private static var writeEnd: Int32 = -1
    nonisolated(unsafe) private static var readEnd: Int32 = -1
    nonisolated(unsafe) private static var source: DispatchSourceRead?

    /// Installs the handlers; call as early as possible. Signals are queued until `watch`.
    static func install(_ signals: [Int32]) throws {
        var ends: [Int32] = [0, 0]
        guard pipe(&ends) == 0 else { throw POSIXError(POSIXErrorCode(rawValue: errno) ?? .EIO) }
        for end in ends {
            _ = fcntl(end, F_SETFD, FD_CLOEXEC)
            _ = fcntl(end, F_SETFL, O_NONBLOCK)  // a handler must never block on a full pipe
        }
        writeEnd = ends[1]
        readEnd = ends[0]
        for signalNumber in signals {
            var action = sigaction()
            action.__sigaction_handler.sa_handler = { number in
                var byte = UInt8(truncatingIfNeeded: number)
                let saved = errno
                _ = write(SignalPipe.writeEnd, &byte, 1)  // async-signal-safe; a full pipe drops it
                errno = saved
            }
            sigemptyset(&action.sa_mask)
            action.sa_flags = SA_RESTART
            guard sigaction(signalNumber, &action, nil) == 0 else {
                throw POSIXError(POSIXErrorCode(rawValue: errno) ?? .EINVAL)
            }
        }
    }

    /// Calls `handler` on the main queue with each signal received, including those queued since `install`.
    static func watch(_ handler: @escaping @Sendable (Int32) -> Void) {
        let source = DispatchSource.makeReadSource(fileDescriptor: readEnd, queue: .main)
        source.setEventHandler {
            var bytes = [UInt8](repeating: 0, count: 64)
            let count = read(readEnd, &bytes, bytes.count)
            for byte in bytes.prefix(max(0, count)) { handler(Int32(byte)) }
        }
        source.resume()
        self.source = source
    }
}
