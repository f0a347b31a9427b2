import Foundation
@testable import InterceptProxy
import Testing

/// Flow causes are one enum whose raw values are the flow log's words; the table of causes in
/// docs/proxy.md lists exactly them, and a cause is written as its raw value.
@Suite struct FlowCauseTests {
    /// The cause table of docs/proxy.md: (cause, event) per row, in order.
    private static func documentedRows() throws -> [(cause: String, event: String)] {
        let document = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("docs/proxy.md")
        let lines = try String(contentsOf: document, encoding: .utf8).split(separator: "\n", omittingEmptySubsequences: false)
        let header = try #require(lines.firstIndex(of: "| `cause` | event | when |"), "docs/proxy.md has a table of causes")
        return lines[(header + 2)...].prefix { $0.hasPrefix("| `") }.map { row in
            let cells = row.split(separator: "|").map { $0.trimmingCharacters(in: .whitespaces) }
            return (String(cells[0].dropFirst().dropLast()), cells[1])
        }
    }

    @Test func theDocumentedTableListsEveryCauseInOrder() throws {
        let rows = try Self.documentedRows()
        #expect(rows.map(\.cause) == FlowCause.allCases.map(\.rawValue))
        let handshake = Set(HandshakeFailure.allCases.map(\.cause.rawValue))
        #expect(handshake.count == HandshakeFailure.allCases.count, "one cause per handshake failure")
        #expect(Set(rows.filter { $0.event == "`tls_failed`" }.map(\.cause)) == handshake)
        #expect(rows.allSatisfy { $0.event == "`tls_failed`" || $0.event == "`error`" })
    }

    @Test func aCauseIsWrittenAsItsRawValueAndReadBack() throws {
        let recorder = try FlowRecorder(path: nil)
        for cause in FlowCause.allCases {
            var event = FlowEvent(type: .error, connection: 7, time: Date(timeIntervalSince1970: 1_764_500_000.25))
            event.cause = cause
            let line = String(decoding: try #require(recorder.line(for: event)), as: UTF8.self)
            #expect(line == "{\"cause\":\"\(cause.rawValue)\",\"connection\":7,\"time\":\"2025-11-30T10:53:20.250Z\",\"type\":\"error\"}\n")
            #expect(try JSONDecoder().decode(CauseField.self, from: Data(line.utf8)).cause == cause)
            #expect("\(cause)" == cause.rawValue, "log lines name the raw value")
        }
    }

    /// The `cause` field of a flow log line, decoded.
    private struct CauseField: Decodable { let cause: FlowCause }
}
