import Foundation
@testable import InterceptProxy
import Testing

/// The history keeps events packed into bytes (PackedFlowEvent); what it hands back must be the
/// event that was recorded, field for field and byte for byte.
@Suite struct PackedFlowEventTests {
    /// Every stored property set, none to its default: the Mirror check below fails when FlowEvent
    /// gains a field this does not set, and the round trip then fails until the field is packed.
    static func everyField() -> FlowEvent {
        var event = FlowEvent(type: .response, connection: 123_456_789,
                              time: Date(timeIntervalSinceReferenceDate: 817_303_763.123_456_7))
        event.client = "127.0.0.1:54321"
        event.host = "bücher.example"
        event.port = 8443
        event.sni = "sni.bücher.example"
        event.cause = .upstreamGoAway
        event.detail = "a detail with \"quotes\", a tab\t, a newline\n and 🧪"
        event.tlsVersion = "TLSv1.3"
        event.cipher = "TLS_AES_256_GCM_SHA384"
        event.alpn = "h2"
        event.method = "PATCH"
        event.url = "https://bücher.example:8443/päth?q=ü&x=" + String(repeating: "y", count: 300)
        event.status = 418
        event.headers = [["content-type", "text/plain; charset=utf-8"], ["x-é", "🧪"], ["", ""],
                         ["date", "Mon, 30 Nov 2026 19:09:23 GMT"]]
        event.bodyBytes = 1 << 40
        event.requestBodyBytes = 17
        event.httpVersion = "HTTP/2"
        event.streamId = 2_147_483_647
        event.upstreamHttpVersion = "HTTP/1.1"
        event.durationMs = 12.345_678_901_234
        event.count = 3
        event.interception = .bypassed
        event.world = .direct
        event.destination = "198.18.1.1:443"
        event.ja4 = "t13d3112h2_e8f1e7e78f70_b26ce05bbdd6"
        event.tlsStack = "OpenSSL"
        event.chain = "pkg.example < Zscaler Intermediate Root CA (zscaler.test) (t) (test) < Zscaler Intermediate Root CA (zscaler.test) (test)"
        return event
    }

    /// Exact: field by field as text compared byte for byte (String's == would call "é" and
    /// "e\u{301}" equal), and the Doubles by their bits (NaN, -0.0).
    static func expectIdentical(_ actual: FlowEvent, _ expected: FlowEvent, sourceLocation: SourceLocation = #_sourceLocation) {
        #expect(actual == expected, sourceLocation: sourceLocation)
        let fields = { (event: FlowEvent) in Mirror(reflecting: event).children.map { "\($0.label!)=\(String(reflecting: $0.value))" } }
        #expect(fields(actual).map { Array($0.utf8) } == fields(expected).map { Array($0.utf8) }, "\(fields(actual))", sourceLocation: sourceLocation)
        #expect(actual.time.timeIntervalSinceReferenceDate.bitPattern == expected.time.timeIntervalSinceReferenceDate.bitPattern, sourceLocation: sourceLocation)
        #expect(actual.durationMs?.bitPattern == expected.durationMs?.bitPattern, sourceLocation: sourceLocation)
    }

    static func roundTrip(_ event: FlowEvent) -> FlowEvent {
        PackedFlowEvent(event).event
    }

    @Test func theFullEventSetsEveryStoredProperty() {
        let full = Mirror(reflecting: Self.everyField())
        let bare = Mirror(reflecting: FlowEvent(type: .tunnelOpened, connection: 0, time: Date(timeIntervalSinceReferenceDate: 0)))
        #expect(full.children.count == 29, "FlowEvent has \(full.children.count) stored properties: set the new one in everyField()")
        for (field, empty) in zip(full.children, bare.children) {
            #expect(String(reflecting: field.value) != String(reflecting: empty.value), "\(field.label!) is not set")
        }
    }

    @Test func everyFieldRoundTrips() {
        let event = Self.everyField()
        Self.expectIdentical(Self.roundTrip(event), event)
    }

    @Test func unsetFieldsStayNilAndEmptyOnesStayEmpty() {
        let bare = FlowEvent(type: .tunnelClosed, connection: 0, time: Date(timeIntervalSinceReferenceDate: 0))
        Self.expectIdentical(Self.roundTrip(bare), bare)
        var empty = bare
        for path: WritableKeyPath<FlowEvent, String?> in [\.client, \.host, \.sni, \.detail, \.tlsVersion, \.cipher,
                                                         \.alpn, \.method, \.url, \.httpVersion, \.upstreamHttpVersion] {
            empty[keyPath: path] = ""
        }
        empty.headers = FlowHeaders()
        for path: WritableKeyPath<FlowEvent, Int?> in [\.port, \.status, \.bodyBytes, \.requestBodyBytes, \.streamId, \.count] {
            empty[keyPath: path] = 0
        }
        empty.durationMs = 0
        let back = Self.roundTrip(empty)
        Self.expectIdentical(back, empty)
        #expect(back.url == "" && back.headers?.isEmpty == true && back.count == 0)
        // Each field alone: the presence bits do not shift one field into another's place.
        for (index, path) in ([\.client, \.url, \.upstreamHttpVersion] as [WritableKeyPath<FlowEvent, String?>]).enumerated() {
            var one = bare
            one[keyPath: path] = "only \(index)"
            Self.expectIdentical(Self.roundTrip(one), one)
        }
    }

    @Test func extremeNumbersKeepTheirBits() {
        let integers = [Int.min, Int.min + 1, -1 << 40, -129, -64, -1, 0, 1, 63, 64, 127, 128, 16_383, 16_384, Int.max]
        let doubles: [Double] = [-0.0, .nan, -.nan, .infinity, -.infinity, .leastNonzeroMagnitude, .greatestFiniteMagnitude, -3.75]
        for (index, value) in integers.enumerated() {
            var event = FlowEvent(type: .error, connection: value, time: Date(timeIntervalSinceReferenceDate: doubles[index % doubles.count]))
            event.port = value
            event.status = ~value
            event.bodyBytes = value
            event.requestBodyBytes = value / 3
            event.streamId = value
            event.count = value
            event.durationMs = doubles[(index + 3) % doubles.count]
            let back = Self.roundTrip(event)
            #expect(back.connection == value && back.port == value && back.status == ~value && back.count == value, "\(value)")
            #expect(back.bodyBytes == value && back.requestBodyBytes == value / 3 && back.streamId == value)
            #expect(back.time.timeIntervalSinceReferenceDate.bitPattern == event.time.timeIntervalSinceReferenceDate.bitPattern)
            #expect(back.durationMs?.bitPattern == event.durationMs?.bitPattern)
        }
    }

    @Test func everyKindAndCauseRoundTrip() {
        let kinds: [FlowEvent.Kind] = [.tunnelOpened, .tlsEstablished, .tlsFailed, .request, .response, .error, .tunnelClosed]
        for kind in kinds {
            let packed = PackedFlowEvent(FlowEvent(type: kind, connection: 1))
            #expect(packed.type == kind && packed.event.type == kind)
        }
        for cause in FlowCause.allCases {
            var event = FlowEvent(type: .error, connection: 2)
            event.cause = cause
            #expect(Self.roundTrip(event).cause == cause)
        }
    }

    @Test func textKeepsItsExactBytesHoweverLong() {
        var event = FlowEvent(type: .request, connection: 3)
        event.detail = "e\u{301} é 𝄞 \u{0} \u{FEFF}" + String(repeating: "ü", count: 40_000)  // a 3-byte length
        event.host = "e\u{301}.example"
        event.headers = FlowHeaders((0..<300).map { (name: "x-\($0)", value: String(repeating: "v", count: $0 * 7)) })
        let back = Self.roundTrip(event)
        Self.expectIdentical(back, event)
        #expect(Array(back.host!.utf8) == Array("e\u{301}.example".utf8) && Array(back.host!.utf8) != Array("é.example".utf8))
        #expect(back.headers.map(Array.init) == event.headers.map(Array.init))
    }

    @Test func theHistoryHandsBackTheEventsItWasGiven() {
        var history = EventHistory(maxCount: 4, maxBytes: 1 << 20)
        var recorded = [Self.everyField()]
        for index in 0..<5 {
            var event = Self.everyField()
            event.connection = index
            event.url = index % 2 == 0 ? nil : "https://h.example/\(index)"
            event.headers = index == 3 ? nil : event.headers
            history.append(event)
            recorded.append(event)
        }
        let kept = Array(recorded.suffix(4))
        #expect(history.all.count == 4)
        for (back, event) in zip(history.all, kept) { Self.expectIdentical(back, event) }
        let after = history.events(after: 3, maxCount: 10, maxBytes: 1 << 20)
        #expect(after.map(\.sequence) == [4, 5] && after.map(\.event) == Array(kept.suffix(2)))
        #expect(history.popFirst() == kept.first && history.all == Array(kept.dropFirst()))
    }
}
