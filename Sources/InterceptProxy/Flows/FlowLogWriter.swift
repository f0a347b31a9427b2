import FoundationEssentials
import EssentialsSupport
import Dispatch
import Logging

/// Where the flow log's writer puts its batches: the file (FlowLogFile), or a test's sink.
/// Called from the writer's queue only, one call at a time.
protocol FlowLogSink: AnyObject {
    /// Writes `bytes`, whole lines (`lines` of them). A failure is the sink's to report and count.
    func write(_ bytes: [UInt8], lines: Int)
    /// Flushes and closes; nothing is written after.
    func close()
}

/// The one writer of the flow log. Loops encode their events and `submit` the lines; a serial queue
/// takes everything submitted so far and writes it as one batch of whole lines (one write(2) when the
/// kernel takes it whole), so lines are never torn and a slow disk never holds a loop for long.
///
/// Memory is bounded: the lines waiting or being written never exceed `capacity` bytes (a single line
/// larger than that is let through alone). When the buffer is full, `submit` waits for space up to
/// `maxWait`; a line that still does not fit is not written to the file (the in-memory history and
/// the streams have it) and is counted in `dropped`, the first such drop logged once as a warning.
/// While the writer makes no progress at all (a hung disk, a pipe nobody reads), further lines are
/// dropped at once instead of each waiting `maxWait`. `close` lets the writer finish what was
/// submitted before it, for up to a timeout, and logs how many lines were dropped, if any.
final class FlowLogWriter: @unchecked Sendable {
    /// The default bound: some 20,000 typical events, far beyond what a disk that keeps up ever queues.
    static let defaultCapacity = 8 << 20
    static let defaultMaxWait: TimeInterval = 0.1

    let capacity: Int
    private let maxWait: TimeInterval
    private let sink: FlowLogSink
    private let name: String
    private let logger: Logger?
    private let queue = DispatchQueue(label: "intercept-proxy.flow-log-writer")
    /// Guards everything below; the writer signals it whenever it has written a batch.
    private let condition = PthreadCondition()
    private var pending: [UInt8] = []
    private var pendingLines = 0
    /// Bytes submitted and not yet written: `pending` plus the batch being written.
    private var buffered = 0
    private var peak = 0
    private var writing = false
    /// Set when a submit gave up waiting; cleared by the next batch written.
    private var stalled = false
    private var closed = false
    private var droppedLines = 0
    private var warned = false

    /// - Parameters:
    ///   - name: the log's name in log lines (its path, or `(stdout)`).
    init(sink: FlowLogSink, name: String, capacity: Int = defaultCapacity, maxWait: TimeInterval = defaultMaxWait,
         logger: Logger?) {
        self.sink = sink
        self.name = name
        self.capacity = capacity
        self.maxWait = maxWait
        self.logger = logger
    }

    /// Queues one line (it ends with its newline) for the file; see the type's comment for a full buffer.
    func submit(_ line: [UInt8]) {
        condition.lock()
        guard !closed else { return condition.unlock() }  // after stop: the history still has the event
        if !fits(line.count) && !stalled {
            let deadline = Date() + maxWait
            while !fits(line.count) && !closed && condition.wait(until: deadline) {}
            stalled = !fits(line.count)
        }
        guard fits(line.count), !closed else {
            let warn = !closed && !warned
            if !closed { droppedLines += 1 }
            warned = warned || warn
            condition.unlock()
            if warn {
                logger?.warning("the flow log \(name) falls behind: \(capacity) bytes of events wait to be written; events that do not fit are not written to it (they are still recorded in memory), and how many is logged at stop")
            }
            return
        }
        pending.append(contentsOf: line)
        pendingLines += 1
        buffered += line.count
        peak = max(peak, buffered)
        let start = !writing
        writing = true
        condition.unlock()
        if start { queue.async { self.drain() } }
    }

    /// Room for `count` more bytes; an empty buffer takes any line, so none is too large to ever go out.
    private func fits(_ count: Int) -> Bool {
        buffered == 0 || buffered + count <= capacity
    }

    /// On the writer's queue: writes batches until nothing is pending.
    private func drain() {
        condition.lock()
        while !pending.isEmpty {
            let batch = pending, lines = pendingLines
            pending = []
            pendingLines = 0
            condition.unlock()
            sink.write(batch, lines: lines)
            condition.lock()
            buffered -= batch.count
            stalled = false
            condition.broadcast()
        }
        writing = false
        condition.broadcast()
        condition.unlock()
    }

    /// Lines submitted that the file did not get because the buffer was full.
    var dropped: Int { condition.withLock { droppedLines } }

    /// The most bytes ever buffered at once (never above `capacity`, bar a single larger line).
    var peakBufferedBytes: Int { condition.withLock { peak } }

    /// Stops taking lines, waits up to `timeout` for the writer to write what it has, then closes the
    /// sink. False when the writer did not finish in time (a hung disk): the sink is then left open,
    /// since the writer may still be inside a write to it, and what was pending is lost.
    @discardableResult
    func close(timeout: TimeInterval) -> Bool {
        condition.lock()
        guard !closed else {
            condition.unlock()
            return !writing
        }
        closed = true
        condition.broadcast()  // submits waiting for space give up
        let deadline = Date() + timeout
        while writing && condition.wait(until: deadline) {}
        let finished = !writing
        let (lost, dropped) = (pendingLines, droppedLines)
        condition.unlock()
        if finished { sink.close() } else {
            logger?.error("the flow log \(name) was not written to within \(timeout) s at stop; \(lost) events waiting for it are not in it")
        }
        if dropped > 0 {
            logger?.warning("\(dropped) flow event\(dropped == 1 ? " was" : "s were") not written to the flow log \(name): its writer fell behind (they were recorded in memory)")
        }
        return finished
    }
}
