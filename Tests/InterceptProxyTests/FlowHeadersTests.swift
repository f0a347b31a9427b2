import Foundation
@testable import InterceptProxy
import Testing

/// FlowHeaders packs an event's fields into one string; what it shows and encodes must be the
/// fields as they were given, in order, as `[name, value]` pairs.
@Suite struct FlowHeadersTests {
    @Test func fieldsReadBackInOrderWithEmptyAndNonASCIIValues() {
        let headers = FlowHeaders([(name: "Host", value: "é.example"), (name: "X-Empty", value: ""),
                                   (name: "", value: "odd"), (name: "Host", value: "second")])
        #expect(Array(headers) == [["Host", "é.example"], ["X-Empty", ""], ["", "odd"], ["Host", "second"]])
        #expect(headers.count == 4 && headers.first == ["Host", "é.example"])
        #expect(headers.utf8Count == "Hosté.exampleX-EmptyoddHostsecond".utf8.count)
    }

    @Test func encodesAsPairsAndDecodesBackEqual() throws {
        var event = FlowEvent(type: .request, connection: 1, time: Date(timeIntervalSince1970: 0))
        event.headers = [["Accept", "*/*"], ["User-Agent", "curl/7.88.1"]]
        let json = String(decoding: try JSONEncoder().encode(event), as: UTF8.self)
        #expect(json.contains(#""headers":[["Accept","*\/*"],["User-Agent","curl\/7.88.1"]]"#), "\(json)")
        let decoded = try JSONDecoder().decode(FlowEvent.self, from: Data(json.utf8))
        #expect(decoded == event)
    }

    @Test func aFieldThatIsNotANameValuePairIsRefusedWhenDecoding() {
        let json = #"{"time":0,"type":"request","connection":1,"headers":[["Host"]]}"#
        #expect(throws: DecodingError.self) { try JSONDecoder().decode(FlowEvent.self, from: Data(json.utf8)) }
    }
}
