import Glibc

/// A child started with posix_spawn (Foundation's `Process` crashes on this toolchain,
/// swift-corelibs-foundation#5472), found on PATH through /usr/bin/env; in a process group of its
/// own when `ownGroup` (a helper, so that a timeout reaches what it starts too), else in ours (a
/// command the user runs, which may read the terminal).
private struct ChildProcess {
    let pid: pid_t
    let ownGroup: Bool

    /// `stdout`: where the child's stdout goes (`nil`: our stderr); stderr goes to our stderr, or
    /// to /dev/null when `quiet`.
    init(_ arguments: [String], environment: [String: String], stdout: Int32?, quiet: Bool, ownGroup: Bool, closing: [Int32] = []) throws {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_adddup2(&actions, stdout ?? STDERR_FILENO, STDOUT_FILENO)
        if quiet {
            posix_spawn_file_actions_addopen(&actions, STDERR_FILENO, "/dev/null", O_WRONLY, 0)
            posix_spawn_file_actions_addopen(&actions, STDIN_FILENO, "/dev/null", O_RDONLY, 0)
        }
        for fd in closing { posix_spawn_file_actions_addclose(&actions, fd) }
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        // The signals we block while we wait are unblocked and default in the child.
        var none = sigset_t(), all = sigset_t()
        sigemptyset(&none)
        sigfillset(&all)
        posix_spawnattr_setsigmask(&attributes, &none)
        posix_spawnattr_setsigdefault(&attributes, &all)
        var flags = POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF
        if ownGroup {
            posix_spawnattr_setpgroup(&attributes, 0)
            flags |= POSIX_SPAWN_SETPGROUP
        }
        posix_spawnattr_setflags(&attributes, Int16(flags))
        let argv = (["/usr/bin/env"] + arguments).map { strdup($0) } + [nil]
        let envp = environment.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer { (argv + envp).forEach { free($0) } }
        var pid = pid_t()
        let spawned = posix_spawn(&pid, "/usr/bin/env", &actions, &attributes, argv, envp)
        guard spawned == 0 else { throw SpawnError(message: "cannot run /usr/bin/env: \(String(cString: strerror(spawned)))") }
        self.pid = pid
        self.ownGroup = ownGroup
    }

    /// The status once it has exited (the signal number when killed), or nil when it has not.
    func poll() -> Int32? {
        var status: Int32 = 0
        let result = waitpid(pid, &status, WNOHANG)
        if result == 0 || (result < 0 && errno == EINTR) { return nil }
        guard result == pid else { return -1 }
        let signal = status & 0x7f
        return signal == 0 ? (status >> 8) & 0xff : signal
    }

    /// Waits for it to exit, without a bound.
    func wait() -> Int32 {
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
        let signal = status & 0x7f
        return signal == 0 ? (status >> 8) & 0xff : signal
    }

    /// Its whole group when it has one of its own, else itself.
    func kill(_ signal: Int32) {
        _ = Glibc.kill(ownGroup ? -pid : pid, signal)
    }
}

/// How a command run by `runProcess` ended.
package struct ProcessOutcome: Sendable, Equatable {
    /// Its exit status, or the number of the signal that killed it.
    package let status: Int32
    /// A signal we received while it ran and passed on to it (SIGINT, SIGTERM, SIGHUP), if any.
    package let forwarded: Int32?
}

/// Runs `arguments` (found on PATH) with `environment`, its stdout and stderr on our stderr, until it
/// exits. SIGINT, SIGTERM and SIGHUP sent to us meanwhile are passed on to it, so a caller that is
/// stopped still cleans up after it; the outcome says which came. (It stays in our process group:
/// a Ctrl-C reaches it from the terminal too, and it may read the terminal.)
package func runProcess(_ arguments: [String], environment: [String: String]) throws -> ProcessOutcome {
    var forwarded = sigset_t(), previous = sigset_t()
    sigemptyset(&forwarded)
    for signal in [SIGINT, SIGTERM, SIGHUP] { sigaddset(&forwarded, signal) }
    pthread_sigmask(SIG_BLOCK, &forwarded, &previous)
    defer { pthread_sigmask(SIG_SETMASK, &previous, nil) }
    let child = try ChildProcess(arguments, environment: environment, stdout: nil, quiet: false, ownGroup: false)
    var received: Int32?
    while true {
        if let status = child.poll() { return ProcessOutcome(status: status, forwarded: received) }
        var timeout = timespec(tv_sec: 0, tv_nsec: 50_000_000)
        let signal = sigtimedwait(&forwarded, nil, &timeout)
        if signal > 0 {
            received = signal
            child.kill(signal)
        }
    }
}

/// What `captureProcess` saw: the exit status (the signal number when killed) and standard output.
package struct CapturedProcess: Sendable {
    package let status: Int32
    package let output: String
    package let timedOut: Bool
}

/// Runs `arguments` (found on PATH) with `environment`, its stderr dropped and its stdout collected
/// (at most `limit` bytes are kept); it and its group are killed after `timeout` seconds. For short
/// helper commands (probing an interpreter, importing into a keystore) whose answer the caller reads.
package func captureProcess(_ arguments: [String], environment: [String: String], timeout: Double = 30,
                            limit: Int = 1 << 20) throws -> CapturedProcess {
    var ends: [Int32] = [0, 0]
    // Close-on-exec at once (Glibc's module leaves out pipe2): no other child inherits the ends.
    guard pipe(&ends) == 0 else { throw SpawnError(message: "pipe: \(String(cString: strerror(errno)))") }
    for end in ends { _ = fcntl(end, F_SETFD, FD_CLOEXEC) }
    let (readEnd, writeEnd) = (ends[0], ends[1])
    let child: ChildProcess
    do {
        child = try ChildProcess(arguments, environment: environment, stdout: writeEnd, quiet: true, ownGroup: true, closing: [readEnd])
    } catch {
        close(readEnd)
        close(writeEnd)
        throw error
    }
    close(writeEnd)
    defer { close(readEnd) }
    var output: [UInt8] = []
    var chunk = [UInt8](repeating: 0, count: 64 * 1024)
    let deadline = monotonicSeconds() + timeout
    var open = true
    while true {
        if !open, let status = child.poll() {
            return CapturedProcess(status: status, output: String(decoding: output, as: UTF8.self), timedOut: false)
        }
        let remaining = deadline - monotonicSeconds()
        if remaining <= 0 {
            child.kill(SIGKILL)
            _ = child.wait()
            return CapturedProcess(status: SIGKILL, output: String(decoding: output, as: UTF8.self), timedOut: true)
        }
        guard open else {
            usleep(10_000)  // output is done; the child is finishing
            continue
        }
        var poller = pollfd(fd: readEnd, events: Int16(POLLIN), revents: 0)
        let ready = Glibc.poll(&poller, 1, Int32(min(remaining, 1) * 1000))
        guard ready > 0 else { continue }
        let count = chunk.withUnsafeMutableBytes { read(readEnd, $0.baseAddress, $0.count) }
        if count < 0 && errno == EINTR { continue }
        if count <= 0 { open = false; continue }
        if output.count < limit { output += chunk[..<min(count, limit - output.count)] }
    }
}
