import Foundation

// The machinery under RunningProcess (ExternalProcess.swift).

/// What the reader and watcher threads share with the RunningProcess: the output so far, whether
/// the streams are still open, how the child ended. Everything under `condition`, which is
/// broadcast on every change.
final class ChildState: @unchecked Sendable {
    enum Stream { case stdout, stderr }

    let condition = NSCondition()
    private let pid: pid_t
    private var bytes: [Stream: [UInt8]] = [.stdout: [], .stderr: []]
    private var version = 0
    private var openStreams: Int
    private var ended: Termination?

    init(pid: pid_t, streams: Int) {
        self.pid = pid
        openStreams = streams
    }

    var termination: Termination? { condition.withLock { ended } }

    /// What a waiter looks at, read under the lock.
    struct Snapshot {
        /// Bumped on every write and end: a waiter checks its condition again only when it moved.
        let version: Int
        let ended: Bool
        let openStreams: Int
    }

    func text(_ stream: Stream) -> String {
        condition.withLock { String(decoding: bytes[stream]!, as: UTF8.self) }
    }

    /// Waits until `predicate` holds or `deadline` passes; returns the snapshot it last looked at.
    @discardableResult
    func waitUntil(_ deadline: Date, _ predicate: (Snapshot) -> Bool) -> Snapshot {
        condition.lock()
        defer { condition.unlock() }
        while true {
            let now = Snapshot(version: version, ended: ended != nil, openStreams: openStreams)
            if predicate(now) { return now }
            // (wait(until: .distantFuture) traps in this Foundation: no deadline is a plain wait.)
            if deadline == .distantFuture {
                condition.wait()
            } else if !condition.wait(until: deadline) {
                return Snapshot(version: version, ended: ended != nil, openStreams: openStreams)
            }
        }
    }

    func signalIfRunning(_ signal: Int32) {
        // Under the lock, so that the watcher cannot reap the pid (which may then be reused) in between.
        condition.withLock { if ended == nil { kill(pid, signal) } }
    }

    /// Reads `descriptor` to its end, keeping what it reads as `stream`.
    func drain(_ descriptor: Int32, into stream: Stream) {
        var buffer = [UInt8](repeating: 0, count: 65536)
        while true {
            let count = buffer.withUnsafeMutableBytes { read(descriptor, $0.baseAddress, $0.count) }
            if count < 0 && errno == EINTR { continue }
            guard count > 0 else { break }
            condition.withLock {
                bytes[stream]! += buffer[..<count]
                version += 1
                condition.broadcast()
            }
        }
        close(descriptor)
        condition.withLock {
            openStreams -= 1
            version += 1
            condition.broadcast()
        }
    }

    /// Waits (without reaping) until the child ends, then reaps it under the lock and records how.
    func reapWhenExited() {
        var info = siginfo_t()
        while waitid(P_PID, id_t(pid), &info, WEXITED | WNOWAIT) != 0 && errno == EINTR {}
        condition.withLock {
            var status: Int32 = 0
            while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
            let signal = status & 0x7f
            ended = signal == 0 ? .exited((status >> 8) & 0xff) : .signalled(signal)
            version += 1
            condition.broadcast()
        }
    }
}

enum Spawner {
    /// Pipes are made and the child spawned under one lock: a pipe of one child is close-on-exec
    /// before any other child starts, so no child holds another's pipe open (its reader would
    /// never see the end).
    private static let lock = NSLock()

    struct Spawned {
        let pid: pid_t
        /// Our end of the child's stdin.
        let input: Int32
        /// Our reading ends, and which stream each is.
        let readers: [Int32]
        let streams: [ChildState.Stream]
    }

    static func spawn(command: String, argv: [String], environment: [String: String],
                      stdout: ChildOutput, stderr: ChildOutput) throws -> Spawned {
        lock.lock()
        defer { lock.unlock() }
        var opened: [Int32] = []
        func makePipe() throws -> (read: Int32, write: Int32) {
            var ends: [Int32] = [-1, -1]
            guard pipe(&ends) == 0 else { throw SpawnFailed(command: command, reason: "pipe: \(String(cString: strerror(errno)))") }
            opened += ends
            for end in ends { _ = fcntl(end, F_SETFD, FD_CLOEXEC) }
            return (ends[0], ends[1])
        }
        do {
            let input = try makePipe()
            let output = try makePipe()
            var errors = output
            if stderr != .intoStdout { errors = try makePipe() }

            var actions = posix_spawn_file_actions_t()
            posix_spawn_file_actions_init(&actions)
            defer { posix_spawn_file_actions_destroy(&actions) }
            posix_spawn_file_actions_adddup2(&actions, input.read, STDIN_FILENO)
            posix_spawn_file_actions_adddup2(&actions, output.write, STDOUT_FILENO)
            posix_spawn_file_actions_adddup2(&actions, errors.write, STDERR_FILENO)
            // Nothing else of the test process reaches the child (Swift's Glibc does not import
            // addclosefrom_np): the descriptors open now are closed in it; later ones are CLOEXEC here.
            let openNow = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd")) ?? []
            for descriptor in openNow.compactMap(Int32.init) where descriptor > 2 {
                posix_spawn_file_actions_addclose(&actions, descriptor)
            }
            var attributes = posix_spawnattr_t()
            posix_spawnattr_init(&attributes)
            defer { posix_spawnattr_destroy(&attributes) }
            var signals = sigset_t()
            sigfillset(&signals)
            posix_spawnattr_setsigdefault(&attributes, &signals)
            sigemptyset(&signals)
            posix_spawnattr_setsigmask(&attributes, &signals)
            posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK))

            let arguments = argv.map { strdup($0) } + [nil]
            let variables = environment.map { strdup("\($0.key)=\($0.value)") } + [nil]
            defer { (arguments + variables).forEach { free($0) } }
            var child = pid_t()
            let result = posix_spawn(&child, argv[0], &actions, &attributes, arguments, variables)
            guard result == 0 else { throw SpawnFailed(command: command, reason: String(cString: strerror(result))) }

            // The child's ends are the child's now; a closed pipe's reader goes too.
            close(input.read)
            close(output.write)
            if stderr != .intoStdout { close(errors.write) }
            var readers: [Int32] = [], streams: [ChildState.Stream] = []
            for (ends, destination, stream) in [(output, stdout, ChildState.Stream.stdout), (errors, stderr, .stderr)]
                where !(stream == .stderr && destination == .intoStdout) {
                if destination == .closedPipe {
                    close(ends.read)
                } else {
                    readers.append(ends.read)
                    streams.append(stream)
                }
            }
            return Spawned(pid: child, input: input.write, readers: readers, streams: streams)
        } catch {
            opened.forEach { close($0) }
            throw error
        }
    }
}

/// Writes all of `bytes`, with SIGPIPE blocked in this thread (and a SIGPIPE the write raised
/// taken back): a reader that is gone is an EPIPE here, not the end of the test process.
/// Returns 0 or the errno of the failed write.
func writeIgnoringSIGPIPE(_ descriptor: Int32, _ bytes: [UInt8]) -> Int32 {
    var pipeSignal = sigset_t(), previous = sigset_t()
    sigemptyset(&pipeSignal)
    sigaddset(&pipeSignal, SIGPIPE)
    var pending = sigset_t()
    sigpending(&pending)
    let alreadyPending = sigismember(&pending, SIGPIPE) == 1
    pthread_sigmask(SIG_BLOCK, &pipeSignal, &previous)
    defer { pthread_sigmask(SIG_SETMASK, &previous, nil) }
    var failure: Int32 = 0
    var offset = 0
    while offset < bytes.count {
        let count = bytes.withUnsafeBytes { write(descriptor, $0.baseAddress! + offset, $0.count - offset) }
        if count < 0 {
            if errno == EINTR { continue }
            failure = errno
            break
        }
        offset += count
    }
    if failure == EPIPE && !alreadyPending {
        var none = timespec()
        _ = sigtimedwait(&pipeSignal, nil, &none)
    }
    return failure
}
