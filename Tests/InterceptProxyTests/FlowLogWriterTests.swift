import Foundation
@testable import InterceptProxy
import Logging
import Testing
import TestSupport

/// The flow log's one writer: its buffer is bounded in bytes whatever the sink does, a full buffer
/// drops and counts (never a hang), and what was recorded before stop is in the file after it.
@Suite struct FlowLogWriterTests {
    /// A sink whose writes block until `release()`: a hung disk, or a pipe nobody reads.
    private final class HeldSink: FlowLogSink, @unchecked Sendable {
        private let condition = NSCondition()
        private var held = true
        private var bytes: [UInt8] = []
        private var isClosed = false
        private var entered = false

        func write(_ bytes: [UInt8], lines: Int) {
            condition.withLock {
                entered = true
                condition.broadcast()
                while held { condition.wait() }
                self.bytes += bytes
            }
        }

        func close() { condition.withLock { isClosed = true } }
        func release() { condition.withLock { held = false; condition.broadcast() } }
        /// Waits until the writer is inside its first write.
        func awaitWrite() -> Bool {
            condition.withLock {
                let deadline = Date() + 5
                while !entered && condition.wait(until: deadline) {}
                return entered
            }
        }
        var lines: [Substring] { condition.withLock { String(decoding: bytes, as: UTF8.self).split(separator: "\n", omittingEmptySubsequences: false) } }
        var closed: Bool { condition.withLock { isClosed } }
    }

    /// A line of 182 bytes whatever the numbers (up to 9 threads and 99,999 lines each).
    private static func line(thread: Int, index: Int) -> [UInt8] {
        let number = String(index), padded = String(repeating: "0", count: 5 - number.count) + number
        return Array("{\"thread\":\(thread),\"index\":\"\(padded)\",\"pad\":\"\(String(repeating: "x", count: 150))\"}\n".utf8)
    }

    private static func logger(_ messages: CapturedMessages) -> Logger {
        Logger(label: "test") { _ in CapturingLogHandler(messages: messages) }
    }

    @Test func aStuckSinkKeepsTheBufferWithinItsBoundAndCountsWhatIsDropped() throws {
        let sink = HeldSink(), messages = CapturedMessages()
        let capacity = 64 << 10
        let writer = FlowLogWriter(sink: sink, name: "held.jsonl", capacity: capacity, maxWait: 0.05, logger: Self.logger(messages))
        let (threads, perThread) = (4, 2_000)
        let started = Date()
        DispatchQueue.concurrentPerform(iterations: threads) { thread in
            for index in 0..<perThread { writer.submit(Self.line(thread: thread, index: index)) }
        }
        let elapsed = Date().timeIntervalSince(started)
        let total = threads * perThread, lineBytes = Self.line(thread: 0, index: 0).count

        // Bounded memory, no hang: once the writer made no progress for 50 ms, lines are dropped at once.
        #expect(writer.peakBufferedBytes <= capacity, "\(writer.peakBufferedBytes) bytes buffered")
        #expect(writer.peakBufferedBytes > capacity - 2 * lineBytes, "the buffer filled up: \(writer.peakBufferedBytes)")
        #expect(elapsed < 5, "\(elapsed) s to submit \(total) lines to a stuck writer")
        let dropped = writer.dropped
        #expect(dropped > total - capacity / lineBytes - 1 && dropped < total, "\(dropped) of \(total) dropped")
        let warning = "the flow log held.jsonl falls behind: 65536 bytes of events wait to be written; events that do not fit are not written to it (they are still recorded in memory), and how many is logged at stop"
        #expect(messages.all == [warning], "\(messages.all)")

        // Released, everything that was taken goes out whole, and the stop says how many were not.
        sink.release()
        #expect(writer.close(timeout: 10))
        #expect(sink.closed)
        let lines = sink.lines
        #expect(lines.last == "", "ends with a newline")
        let written = lines.dropLast()
        #expect(written.count == total - dropped, "\(written.count) lines written, \(dropped) dropped of \(total)")
        #expect(written.allSatisfy { $0.utf8.count == lineBytes - 1 && $0.hasPrefix("{\"thread\":") && $0.hasSuffix("\"}") })
        #expect(Set(written).count == written.count, "no line twice")
        #expect(messages.all == [warning, "\(dropped) flow events were not written to the flow log held.jsonl: its writer fell behind (they were recorded in memory)"],
                "\(messages.all)")
    }

    @Test func stopGivesUpOnAHungSinkAfterItsTimeout() throws {
        let sink = HeldSink(), messages = CapturedMessages()
        let writer = FlowLogWriter(sink: sink, name: "hung.jsonl", capacity: 1 << 20, logger: Self.logger(messages))
        writer.submit(Self.line(thread: 0, index: 0))
        #expect(sink.awaitWrite())
        for index in 1..<10 { writer.submit(Self.line(thread: 0, index: index)) }
        let started = Date()
        #expect(writer.close(timeout: 0.3) == false)
        let elapsed = Date().timeIntervalSince(started)
        #expect(elapsed >= 0.3 && elapsed < 3, "\(elapsed) s")
        #expect(!sink.closed, "left open: the writer may still be inside a write")
        // The first line went to the (hung) sink at once; the other nine wait behind it.
        #expect(messages.all == ["the flow log hung.jsonl was not written to within 0.3 s at stop; 9 events waiting for it are not in it"], "\(messages.all)")
        writer.submit(Self.line(thread: 1, index: 0))  // after stop: ignored, not counted
        #expect(writer.dropped == 0)
        sink.release()
    }

    /// Several threads record at once, then the recorder closes: every event is in the file, whole.
    @Test func everyEventRecordedBeforeCloseIsInTheFile() throws {
        let scratch = try TemporaryDirectory(), path = scratch.path("flows.jsonl")
        let recorder = try FlowRecorder(path: path, historyLimit: 100)
        let (threads, perThread) = (8, 2_500)
        DispatchQueue.concurrentPerform(iterations: threads) { thread in
            for index in 0..<perThread {
                var event = FlowEvent(type: .error, connection: thread + 1)
                event.cause = .upstreamGoAway
                event.detail = "\(thread)/\(index)"
                recorder.record(event)
            }
        }
        recorder.close()
        let lines = try String(contentsOfFile: path, encoding: .utf8).split(separator: "\n", omittingEmptySubsequences: false)
        #expect(lines.last == "")
        let objects = lines.dropLast().compactMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
        #expect(objects.count == lines.count - 1, "every line is a whole JSON object")
        let details = objects.compactMap { $0["detail"] as? String }
        let expected = (0..<threads).flatMap { thread in (0..<perThread).map { "\(thread)/\($0)" } }
        #expect(details.count == expected.count && Set(details) == Set(expected), "\(details.count) of \(expected.count)")
        #expect(objects.allSatisfy { $0["cause"] as? String == "upstream_goaway" && $0["type"] as? String == "error" })
        // Each thread's events in the order it recorded them.
        for thread in 0..<threads {
            let mine = details.filter { $0.hasPrefix("\(thread)/") }
            #expect(mine == (0..<perThread).map { "\(thread)/\($0)" }, "thread \(thread) out of order")
        }
        #expect(recorder.fileDropped == 0)
    }

    /// The proxy end to end: clients on several connections, then stop; the file holds exactly
    /// the events the proxy recorded, each line byte for byte what the recorder encodes.
    @Test func theFlowFileHoldsEveryEventAfterStop() async throws {
        let scratch = try TemporaryDirectory(), path = scratch.path("flows.jsonl")
        try await withProxy(configure: { $0.flowsPath = path }) { fixture in
            let clients = try (0..<4).map { client in
                try fixture.startCurl((0..<25).map { "http://client\(client).example/\($0)" })
            }
            for client in clients { #expect(try client.wait().status == 0) }
            await fixture.proxy.stop()
            let recorded = fixture.proxy.recordedEvents
            #expect(recorded.filter { $0.type == .response }.count == 100)
            let lines = try String(contentsOfFile: path, encoding: .utf8).split(separator: "\n")
            #expect(lines.count == recorded.count, "\(lines.count) lines, \(recorded.count) events")
            let encoder = try FlowRecorder(path: nil)
            let encoded = Set(recorded.compactMap { encoder.line(for: $0).map { String(decoding: $0, as: UTF8.self) } })
            #expect(Set(lines.map { $0 + "\n" }) == encoded)
            #expect(fixture.proxy.droppedFlowLogEvents == 0)
        }
    }

    /// A flow log whose reader stopped reading (a FIFO; `--flows -` into a pipe works the same):
    /// before, the loop writing an event blocked in write(2) and the proxy hung. Now the proxy goes
    /// on serving, the events beyond the bound are counted and warned about once, and once the
    /// reader reads again every event not counted as dropped arrives, whole, by the end of the stop.
    @Test func aFlowLogNobodyReadsLeavesTheProxyServing() async throws {
        let scratch = try TemporaryDirectory(), path = scratch.path("flows.fifo")
        try #require(mkfifo(path, 0o600) == 0)
        let reader = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC)  // open, never read until later
        try #require(reader >= 0)
        defer { close(reader) }
        let messages = CapturedMessages()
        var configuration = ProxyConfiguration()
        configuration.port = 0
        configuration.offline = true
        configuration.caDirectory = scratch.path("certs")
        configuration.flowsPath = path
        configuration.flowLogBufferBytes = 32 << 10
        let proxy = try InterceptProxy(configuration: configuration, logger: Self.logger(messages))
        try proxy.start()
        try await stopping({ await proxy.stop() }) {
            let started = Date()
            let urls = (0..<400).map { "http://stuck.example/\($0)" }
            let result = try run("curl", ["-sS", "--max-time", "60", "-x", "http://127.0.0.1:\(proxy.port)"] + urls)
            #expect(result.status == 0 && result.stdout.contains("GET http://stuck.example/399"), "\(result.stderr)")
            #expect(Date().timeIntervalSince(started) < 30, "served while the flow log was stuck")
            let dropped = proxy.droppedFlowLogEvents
            #expect(dropped > 100, "\(dropped) dropped")
            #expect(messages.all.filter { $0.contains("falls behind") }.count == 1, "\(messages.all)")

            // The reader reads again; the stop waits for the writer, which then closes its end (EOF).
            // A thread of its own, not a task: a blocking read on the concurrency pool could wait
            // behind other tests' blocking calls longer than the writer waits at stop.
            let received = BlockingReader { () -> [UInt8] in
                var bytes: [UInt8] = [], chunk = [UInt8](repeating: 0, count: 65_536)
                let deadline = Date() + 30
                while Date() < deadline {
                    let count = read(reader, &chunk, chunk.count)
                    if count > 0 { bytes += chunk[..<count]; continue }
                    if count == 0 { break }  // every writer closed: the stop is over
                    // EAGAIN: nothing yet; wait until there is (or the writer closes).
                    var readable = pollfd(fd: reader, events: Int16(POLLIN), revents: 0)
                    _ = poll(&readable, 1, Int32(max(1, deadline.timeIntervalSinceNow * 1000)))
                }
                return bytes
            }
            await proxy.stop()
            let lines = String(decoding: received.value(timeout: 40), as: UTF8.self).split(separator: "\n", omittingEmptySubsequences: false)
            #expect(lines.last == "", "ends with a whole line")
            let objects = lines.dropLast().compactMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
            #expect(objects.count == lines.count - 1, "every line whole")
            #expect(objects.count == proxy.recordedEvents.count - dropped, "\(objects.count) lines, \(proxy.recordedEvents.count) events, \(dropped) dropped")
            #expect(messages.all.contains("\(dropped) flow events were not written to the flow log \(path): its writer fell behind (they were recorded in memory)"), "\(messages.all)")
        }
    }
}

/// Runs a blocking body on a thread of its own; `value` waits for its result.
private final class BlockingReader: @unchecked Sendable {
    private let done = DispatchSemaphore(value: 0)
    private var result: [UInt8] = []

    init(_ body: @escaping @Sendable () -> [UInt8]) {
        Thread.detachNewThread { [self] in
            result = body()
            done.signal()
        }
    }

    /// The body's result, or nothing when it did not end within `timeout` seconds.
    func value(timeout: TimeInterval) -> [UInt8] {
        done.wait(timeout: .now() + timeout) == .success ? result : []
    }
}
