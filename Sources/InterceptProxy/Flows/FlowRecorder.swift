import Foundation
import Logging

/// Fans flow events out to the JSON-lines file, the in-process stream and, for failures, the log.
/// Thread-safe: loops record concurrently. Each event is written with one write(2), so a line is
/// never torn and nothing recorded is lost when the process is stopped.
final class FlowRecorder: @unchecked Sendable {
    private let lock = NSLock()
    private var file: FileHandle?
    private let closesFile: Bool
    private var continuations: [UUID: AsyncStream<FlowEvent>.Continuation] = [:]
    private var history: [FlowEvent] = []
    private let encoder: JSONEncoder

    /// - Parameter path: a file to append JSON lines to, `-` for stdout, nil for none.
    init(path: String?) throws {
        encoder = JSONEncoder()
        encoder.dateEncodingStrategy = .custom { date, encoder in
            var container = encoder.singleValueContainer()
            try container.encode(FlowRecorder.timestamp(date))
        }
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        switch path {
        case nil:
            file = nil
            closesFile = false
        case "-":
            file = FileHandle.standardOutput
            closesFile = false
        case let path?:
            if !FileManager.default.fileExists(atPath: path) {
                guard FileManager.default.createFile(atPath: path, contents: nil) else {
                    throw SocketError(operation: "creating flow log \(path)", code: errno)
                }
            }
            guard let handle = FileHandle(forWritingAtPath: path) else {
                throw SocketError(operation: "opening flow log \(path)", code: errno)
            }
            handle.seekToEndOfFile()  // append: a restarted proxy never erases what an earlier run recorded
            file = handle
            closesFile = true
        }
    }

    private static func timestamp(_ date: Date) -> String {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        return formatter.string(from: date)
    }

    func record(_ event: FlowEvent) {
        let line = (try? encoder.encode(event)).map { $0 + Data("\n".utf8) }
        lock.lock()
        defer { lock.unlock() }
        history.append(event)
        if let line, let file { file.write(line) }
        for continuation in continuations.values { continuation.yield(event) }
    }

    /// Every event recorded so far.
    var events: [FlowEvent] {
        lock.lock()
        defer { lock.unlock() }
        return history
    }

    /// A stream of events from now on; it finishes when the recorder is closed.
    func stream() -> AsyncStream<FlowEvent> {
        let (stream, continuation) = AsyncStream<FlowEvent>.makeStream(bufferingPolicy: .unbounded)
        let id = UUID()
        lock.lock()
        continuations[id] = continuation
        lock.unlock()
        continuation.onTermination = { [weak self] _ in
            guard let self else { return }
            self.lock.lock()
            self.continuations[id] = nil
            self.lock.unlock()
        }
        return stream
    }

    /// Finishes the streams and flushes the file to disk.
    func close() {
        lock.lock()
        let finishing = continuations
        continuations = [:]
        lock.unlock()
        // Outside the lock: finish() runs onTermination, which takes the lock itself.
        for continuation in finishing.values { continuation.finish() }
        lock.lock()
        defer { lock.unlock() }
        if let file {
            try? file.synchronize()
            if closesFile { try? file.close() }
        }
        file = nil  // events after shutdown still reach `events`, never a closed handle
    }
}
