import Foundation

/// Idle TCP connections to a local port, opened and closed on command by a python3 child, which
/// raises its own descriptor limit (RLIMIT_NOFILE, up to its hard limit) to hold thousands of them.
public final class HeldConnections: @unchecked Sendable {
    private let process: RunningProcess
    private var repliesRead = 0

    private static let script = """
        import resource, socket, sys
        port, most = int(sys.argv[1]), int(sys.argv[2])
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        need = most + 64
        if soft < need:
            if hard != resource.RLIM_INFINITY and hard < need:
                print(f"error: RLIMIT_NOFILE hard limit {hard} is below the {need} descriptors needed", flush=True)
                sys.exit(2)
            resource.setrlimit(resource.RLIMIT_NOFILE, (need, hard))
        held = []
        while True:
            line = sys.stdin.readline()
            if not line:
                break
            command, count = line.split()
            count = int(count)
            if command == "open":
                try:
                    for _ in range(count):
                        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                        s.settimeout(10)
                        s.connect(("127.0.0.1", port))
                        held.append(s)
                except OSError as error:
                    print(f"error: connection {len(held) + 1}: {error}", flush=True)
                    continue
            else:
                for s in held[:count]:
                    s.close()
                del held[:count]
            print(f"held {len(held)}", flush=True)
        """

    /// - Parameter most: the most connections it will be asked to hold at once.
    public init(port: Int, most: Int) throws {
        process = try start("python3", ["-c", Self.script, String(port), String(most)], keepingInputOpen: true, stderr: .intoStdout)
    }

    /// Opens `count` more connections (each one completes its TCP handshake); returns how many are held.
    @discardableResult
    public func open(_ count: Int, timeout: TimeInterval = 60) throws -> Int {
        try send("open \(count)", timeout: timeout)
    }

    /// Closes the `count` oldest connections; returns how many are still held.
    @discardableResult
    public func close(_ count: Int, timeout: TimeInterval = 30) throws -> Int {
        try send("close \(count)", timeout: timeout)
    }

    /// Sends a command and waits for its one-line reply.
    private func send(_ command: String, timeout: TimeInterval) throws -> Int {
        try process.writeInput(command + "\n")
        var lines: [String] = []
        do {
            try process.waitForOutput(timeout: timeout, "the reply to \(command)") { output, _ in
                lines = output.split(separator: "\n", omittingEmptySubsequences: false).dropLast().map(String.init)
                return lines.count > repliesRead
            }
        } catch let error as TimedOut {
            throw TimedOut(command: "python3 holding connections: \(command)", seconds: error.seconds)
        }
        let reply = lines[repliesRead]
        repliesRead += 1
        guard reply.hasPrefix("held "), let held = Int(reply.dropFirst(5)) else {
            throw HeldConnectionsFailed(reply: lines[(repliesRead - 1)...].joined(separator: "\n"))
        }
        return held
    }

    /// Closes every connection and ends the child: end of input, then SIGKILL if it is still there 10 s later.
    public func stop() {
        process.closeInput()
        if process.waitForExit(timeout: 10) == nil { process.stop() }
    }

    deinit { stop() }
}

public struct HeldConnectionsFailed: Error, CustomStringConvertible {
    public let reply: String
    public var description: String { "python3 holding connections: \(reply)" }
}

/// What /proc says about a process (Linux): its open descriptors, resident memory and CPU time.
public struct ProcessStatus {
    public let pid: Int32
    public init(pid: Int32) { self.pid = pid }

    public var openDescriptors: Int {
        (try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/fd").count) ?? -1
    }

    /// Open descriptors numbered below `limit`: the ones a process opened itself under RLIMIT_NOFILE =
    /// `limit`. A descriptor inherited from the test process (numbered above the limit, since the
    /// test process holds thousands) is not counted.
    public func openDescriptors(below limit: Int) -> Int {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/fd")) ?? []
        return names.compactMap(Int.init).filter { $0 < limit }.count
    }

    /// Where each descriptor numbered at or above `limit` points (for diagnosing an inherited one).
    public func descriptors(from limit: Int) -> [String] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/fd")) ?? []
        return names.compactMap(Int.init).filter { $0 >= limit }.sorted().map {
            "\($0) -> " + ((try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(pid)/fd/\($0)")) ?? "?")
        }
    }

    /// VmRSS in KiB.
    public var residentKiB: Int {
        let status = (try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8)) ?? ""
        let line = status.split(separator: "\n").first { $0.hasPrefix("VmRSS:") } ?? ""
        return Int(line.split(separator: " ").dropFirst().first ?? "") ?? -1
    }

    /// User plus system CPU time in seconds (utime and stime of /proc/PID/stat).
    public var cpuSeconds: Double {
        let stat = (try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8)) ?? ""
        // Fields after the command name, which is in parentheses and may hold spaces.
        guard let close = stat.lastIndex(of: ")") else { return -1 }
        let fields = stat[stat.index(after: close)...].split(separator: " ")
        // utime and stime are fields 14 and 15 of the whole line, 12 and 13 after the name (from 1).
        guard fields.count > 13, let user = Double(fields[11]), let system = Double(fields[12]) else { return -1 }
        return (user + system) / Double(sysconf(Int32(_SC_CLK_TCK)))
    }
}
