import Foundation
@testable import InterceptProxy
import Logging
import Testing
import TestSupport

/// The event history is bounded by bytes, not only by count: requests with many headers cannot
/// make a long-running proxy (or one writing a HAR) grow without bound.
@Suite struct ResourceLimitTests {
    /// 90 headers of about 340 bytes (under the decoder's 100 fields and 64 KiB): a request event
    /// of some 37 KB by `estimatedBytes`.
    private static let manyHeaders = (0..<90).flatMap { ["-H", "X-Filler-\($0): \(String(repeating: "v", count: 324))"] }
    private static let bound = 200_000

    /// One curl, twelve requests with many headers on one tunnel.
    private func sendTwelve(_ fixture: ProxyFixture, host: String) throws {
        let urls = (1...12).map { "https://\(host)/\($0)" }
        let result = try fixture.curl(["--cacert", fixture.rootFile] + Self.manyHeaders + urls)
        #expect(result.status == 0 && result.stdout.contains("GET https://\(host)/12"), "\(result)")
    }

    private func requestURLs(_ events: [FlowEvent]) -> [String] {
        events.filter { $0.type == .request }.compactMap(\.url)
    }

    @Test func historyKeepsTheNewestEventsWithinItsBytes() async throws {
        try await withProxy(configure: { $0.eventHistoryBytes = Self.bound }) { fixture in
            try sendTwelve(fixture, host: "many.example")
            try fixture.waitForEvent { $0.type == .response && $0.url == "https://many.example/12" }

            let events = fixture.proxy.recordedEvents
            let bytes = events.map(\.estimatedBytes).reduce(0, +)
            #expect(bytes <= Self.bound, "\(bytes) bytes kept")
            #expect(events.first { $0.type == .request }.map(\.estimatedBytes).map { $0 > 30_000 } == true)
            let urls = requestURLs(events)
            #expect(urls.last == "https://many.example/12" && !urls.contains("https://many.example/1"), "\(urls)")
            #expect(urls.count >= 3 && urls.count < 12, "\(urls)")
            #expect(fixture.proxy.maxConnections == ProxyConfiguration.defaultMaxConnections)
        }
    }

    @Test func anEventsStreamNobodyReadsKeepsOnlyTheNewest() async throws {
        try await withProxy(configure: { $0.eventHistoryBytes = Self.bound }) { fixture in
            let events = fixture.proxy.events  // not read until the proxy has stopped
            try sendTwelve(fixture, host: "stream.example")
            try fixture.waitForEvent { $0.type == .response && $0.url == "https://stream.example/12" }
            await fixture.proxy.stop()
            var received: [FlowEvent] = []
            for await event in events { received.append(event) }  // ends: the proxy stopped
            let bytes = received.map(\.estimatedBytes).reduce(0, +)
            #expect(bytes <= Self.bound, "\(bytes) bytes buffered")
            let urls = requestURLs(received)
            #expect(urls.last == "https://stream.example/12" && !urls.contains("https://stream.example/1"), "\(urls)")
            #expect(received.last?.type == .tunnelClosed)
        }
    }

    @Test func historyEvictsOldestFirstAndKeepsItsByteCount() {
        var history = EventHistory(maxCount: 100, maxBytes: 60_000)
        var appended: [FlowEvent] = []
        for index in 0..<1_000 {
            var event = FlowEvent(type: index % 2 == 0 ? .request : .response, connection: index)
            event.detail = String(repeating: "x", count: index % 7 * 100)
            history.append(event)
            appended.append(event)
        }
        let kept = history.all
        #expect(kept == Array(appended.suffix(kept.count)) && kept.count <= 100 && kept.count > 50)
        #expect(history.bytes == kept.map(\.estimatedBytes).reduce(0, +) && history.bytes <= 60_000)
        #expect(history.evicted == 1_000 - kept.count && history.evictedResponses == appended.prefix(history.evicted).filter { $0.type == .response }.count)
        #expect(history.popFirst() == kept.first && history.count == kept.count - 1)
        while history.popFirst() != nil {}
        #expect(history.bytes == 0 && history.count == 0 && history.all.isEmpty)
    }

    @Test func countBoundStillApplies() async throws {
        try await withProxy(configure: { $0.eventHistoryLimit = 5 }) { fixture in
            let result = try fixture.curl(["--cacert", fixture.rootFile] + (1...4).map { "https://count.example/\($0)" })
            #expect(result.status == 0, "\(result)")
            try fixture.waitForEvent { $0.type == .response && $0.url == "https://count.example/4" }
            let events = fixture.proxy.recordedEvents
            #expect(events.count == 5, "\(events.map(\.type))")
            #expect(requestURLs(events) == ["https://count.example/3", "https://count.example/4"], "\(events.map(\.type))")
        }
    }

    @Test func harHistoryIsBoundedAndTheHARSaysWhatIsMissing() async throws {
        let files = try TemporaryDirectory()
        let har = files.path("flows.har")
        try await withProxy(configure: { $0.harPath = har; $0.harHistoryBytes = Self.bound; $0.eventHistoryBytes = 1_000 }) { fixture in
            try sendTwelve(fixture, host: "har.example")
            try fixture.waitForEvent { $0.type == .response && $0.url == "https://har.example/12" }

            let bytes = fixture.proxy.recordedEvents.map(\.estimatedBytes).reduce(0, +)
            #expect(bytes <= Self.bound && bytes > 100_000, "\(bytes) bytes kept")  // the HAR bound, not eventHistoryBytes
            try fixture.proxy.writeHAR()
            let document = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: har))) as! [String: Any]
            let log = document["log"] as! [String: Any]
            let entries = log["entries"] as! [[String: Any]]
            let urls = entries.compactMap { ($0["request"] as? [String: Any])?["url"] as? String }
            #expect(urls.last == "https://har.example/12" && !urls.contains("https://har.example/1"), "\(urls)")
            let missing = 12 - entries.count
            #expect(missing > 0)
            #expect(log["comment"] as? String == "\(missing) older entries were dropped: the events kept for the HAR are bounded (harHistoryBytes)", "\(log["comment"] ?? "none")")
        }
    }

    @Test func harBoundWarnsOnce() async throws {
        let scratch = try TemporaryDirectory()
        let messages = CapturedMessages()
        var configuration = ProxyConfiguration()
        configuration.port = 0
        configuration.offline = true
        configuration.caDirectory = scratch.path("certs")
        configuration.harPath = scratch.path("flows.har")
        configuration.harHistoryBytes = Self.bound
        let proxy = try InterceptProxy(configuration: configuration, logger: Logger(label: "test") { _ in CapturingLogHandler(messages: messages) })
        try proxy.start()
        try await stopping({ await proxy.stop() }) {
            let urls = (1...12).map { "https://warn.example/\($0)" }
            let result = try run("curl", ["-sS", "--http1.1", "-x", "http://127.0.0.1:\(proxy.port)", "--cacert", proxy.rootCertificateFile!] + Self.manyHeaders + urls)
            #expect(result.status == 0, "\(result)")
            await proxy.stop()
            let warnings = messages.all.filter { $0.contains("harHistoryBytes") }
            #expect(warnings == ["the flow events kept for the HAR reached 200000 bytes (harHistoryBytes): the oldest are dropped from now on, and the HAR's comment says how many entries are missing"], "\(messages.all)")
        }
    }
}

/// Log messages at warning level and above, kept for a test to read (also used by FlowLogWriterTests).
final class CapturedMessages: @unchecked Sendable {
    private let lock = NSLock()
    private var messages: [String] = []
    func append(_ message: String) { lock.withLock { messages.append(message) } }
    var all: [String] { lock.withLock { messages } }
}

struct CapturingLogHandler: LogHandler {
    let messages: CapturedMessages
    var logLevel: Logger.Level = .warning
    var metadata: Logger.Metadata = [:]
    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        messages.append(event.message.description)
    }
}
