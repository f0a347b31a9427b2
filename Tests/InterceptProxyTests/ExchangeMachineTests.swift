@testable import InterceptProxy
import Testing

/// `ExchangeMachine`, the decisions both client legs share, as a table: events in, actions out,
/// no loop and no sockets.
@Suite struct ExchangeMachineTests {
    struct Row: CustomTestStringConvertible, Sendable {
        let name: String
        var method = "GET"
        var http1 = true
        var keepAlive = true
        let events: [ExchangeMachine.Event]
        let actions: [String]
        var testDescription: String { name }
    }

    static func head(_ status: Int, _ fields: [(String, String)] = [], raw: Bool = true) -> ExchangeMachine.Event {
        .response(.head(HTTPResponseHead(version: "HTTP/1.1", status: status, reason: "", headers: fields.map { (name: $0.0, value: $0.1) }),
                        raw: raw ? Array("HTTP/1.1 \(status) x\r\n\r\n".utf8) : nil))
    }

    static let rows: [Row] = [
        Row(name: "a response streams through and is recorded at its end",
            events: [.forwarded, .upstreamAttached(version: "HTTP/1.1"), head(200), .response(.body([1, 2, 3])), .response(.end)],
            actions: ["armResponseTimer 60", "armResponseTimer 60", "writeHead 200", "armResponseTimer 60", "writeBody 3",
                      "cancelResponseTimer", "endResponse", "recordResponse", "releaseUpstream", "finished"]),
        Row(name: "HEAD ends with its head, whatever follows",
            method: "HEAD", events: [.forwarded, head(200, [("content-length", "10")]), .response(.body([0])), .response(.end)],
            actions: ["armResponseTimer 60", "cancelResponseTimer", "writeHead 200 bodyless", "endResponse", "recordResponse",
                      "releaseUpstream", "finished"]),
        Row(name: "204 and 304 have no body either",
            events: [.forwarded, head(304)],
            actions: ["armResponseTimer 60", "cancelResponseTimer", "writeHead 304 bodyless", "endResponse", "recordResponse",
                      "releaseUpstream", "finished"]),
        Row(name: "interim responses reach HTTP/1.1 clients",
            events: [.forwarded, head(100), head(103), head(200), .response(.end)],
            actions: ["armResponseTimer 60", "armResponseTimer 60", "writeInterim 100", "armResponseTimer 60", "writeInterim 103",
                      "armResponseTimer 60", "writeHead 200", "cancelResponseTimer", "endResponse", "recordResponse", "releaseUpstream", "finished"]),
        Row(name: "and not h2 clients",
            http1: false, events: [.forwarded, head(103, raw: false), head(200, raw: false), .response(.end)],
            actions: ["armResponseTimer 60", "armResponseTimer 60", "armResponseTimer 60", "writeHead 200", "cancelResponseTimer",
                      "endResponse", "recordResponse", "releaseUpstream", "finished"]),
        Row(name: "chunk framing and trailers pass to the leg",
            events: [.forwarded, head(200), .response(.framing([1])), .response(.body([2])),
                     .response(.trailer(name: "grpc-status", value: "0", raw: nil)), .response(.end)],
            actions: ["armResponseTimer 60", "armResponseTimer 60", "writeHead 200", "writeFraming 1", "armResponseTimer 60", "writeBody 1",
                      "writeTrailer grpc-status", "cancelResponseTimer", "endResponse", "recordResponse", "releaseUpstream", "finished"]),
        Row(name: "a failure before the head is a 502 that closes",
            events: [.forwarded, .upstreamFailed(.closedEarly("gone"))],
            actions: ["armResponseTimer 60", "recordError upstream_closed 502", "abandonUpstream", "cancelResponseTimer", "writeLocal 502 close",
                      "recordResponse", "finished close"]),
        Row(name: "a failure after the head aborts, with no response event",
            http1: false, events: [.forwarded, head(200, raw: false), .upstreamFailed(.reset(code: 2))],
            actions: ["armResponseTimer 60", "armResponseTimer 60", "writeHead 200", "cancelResponseTimer", "recordError upstream_reset",
                      "abandonUpstream", "abortResponse upstream_reset", "finished close"]),
        Row(name: "a silent upstream ends in 504",
            events: [.forwarded, .responseTimerFired(clientBacklogged: false)],
            actions: ["armResponseTimer 60", "recordError upstream_timeout 504", "abandonUpstream", "cancelResponseTimer",
                      "writeLocal 504 close", "recordResponse", "finished close"]),
        Row(name: "mid-body, the timer waits while the client has not taken what it was sent",
            events: [.forwarded, head(200), .responseTimerFired(clientBacklogged: true), .responseTimerFired(clientBacklogged: false)],
            actions: ["armResponseTimer 60", "armResponseTimer 60", "writeHead 200", "armResponseTimer 60", "cancelResponseTimer",
                      "recordError upstream_timeout", "abandonUpstream", "abortResponse upstream_timeout", "finished close"]),
        Row(name: "an ended exchange ignores late parts, failures and timers",
            events: [head(200), .response(.end), .upstreamFailed(.closedEarly("late")), .responseTimerFired(clientBacklogged: false),
                     .response(.body([1])), .connectionEnded(.clientClosed, "gone", status: nil, recorded: true)],
            actions: ["armResponseTimer 60", "writeHead 200", "cancelResponseTimer", "endResponse", "recordResponse", "releaseUpstream", "finished"]),
        Row(name: "the client leaving mid-response is its end on record",
            events: [.forwarded, head(200), .connectionEnded(.clientClosed, "gone", status: nil, recorded: true), .response(.end)],
            actions: ["armResponseTimer 60", "armResponseTimer 60", "writeHead 200", "cancelResponseTimer", "recordError client_closed",
                      "abandonUpstream"]),
        Row(name: "a connection ended for a reason already on record records nothing more",
            events: [.forwarded, .connectionEnded(.h2Flood, "flood", status: nil, recorded: false)],
            actions: ["armResponseTimer 60", "cancelResponseTimer", "abandonUpstream"]),
        Row(name: "an h2 client's reset drains or cancels the upstream",
            http1: false, events: [.forwarded, .clientReset(errorName: "CANCEL")],
            actions: ["armResponseTimer 60", "cancelResponseTimer", "recordError h2_stream_reset", "abandonUpstream"]),
        Row(name: "a local answer is written and recorded; not keep-alive closes",
            keepAlive: false, events: [.answer(HTTPResponse.text(200, "hi"))],
            actions: ["cancelResponseTimer", "writeLocal 200 close", "recordResponse", "finished close"]),
        Row(name: "101 hands the connection over once it ends",
            events: [.forwarded, head(101), .response(.end)],
            actions: ["armResponseTimer 60", "armResponseTimer 60", "writeHead 101 bodyless", "cancelResponseTimer", "endResponse",
                      "recordResponse", "switchProtocols"]),
        Row(name: "101 is a protocol error on h2",
            http1: false, events: [.forwarded, head(101, raw: false)],
            actions: ["armResponseTimer 60", "recordError upstream_protocol 502", "abandonUpstream", "cancelResponseTimer", "writeLocal 502 close",
                      "recordResponse", "finished close"]),
        Row(name: "an end without a head is a protocol error",
            events: [.forwarded, .response(.end)],
            actions: ["armResponseTimer 60", "recordError upstream_protocol 502", "abandonUpstream", "cancelResponseTimer", "writeLocal 502 close",
                      "recordResponse", "finished close"]),
    ]

    @Test(arguments: rows)
    func decides(_ row: Row) {
        var machine = ExchangeMachine(method: row.method, clientSpeaksHTTP1: row.http1, keepAlive: row.keepAlive,
                                      responseTimeout: 60, upstreamName: "a.test")
        let actions = row.events.flatMap { machine.receive($0) }.map(\.summary)
        #expect(actions == row.actions)
    }

    @Test func countsWhatCrossedAndWhoAnswered() {
        var machine = ExchangeMachine(method: "POST", clientSpeaksHTTP1: false, keepAlive: true, responseTimeout: 5, upstreamName: "a.test")
        _ = machine.receive(.requestBody(bytes: 7))
        _ = machine.receive(.upstreamAttached(version: "HTTP/2"))
        _ = machine.receive(Self.head(201, [("x", "y")], raw: false))
        _ = machine.receive(.response(.body([1, 2])))
        _ = machine.receive(.response(.body([3])))
        _ = machine.receive(.response(.end))
        #expect(machine.state == .ended(.completed))
        #expect(machine.requestBodyBytes == 7 && machine.responseBodyBytes == 3 && machine.status == 201)
        #expect(machine.upstreamVersion == "HTTP/2" && machine.responseHeaders.map(\.name) == ["x"])
    }

    @Test func theTimeoutNamesTheUpstreamAndItsSeconds() {
        var machine = ExchangeMachine(method: "GET", clientSpeaksHTTP1: true, keepAlive: true, responseTimeout: 5, upstreamName: "slow.test")
        let actions = machine.receive(.responseTimerFired(clientBacklogged: false))
        guard case let .recordError(cause, detail, status) = actions.first else {
            Issue.record("\(actions.map(\.summary))")
            return
        }
        #expect(cause == .upstreamTimeout && status == 504)
        #expect(detail == "timed out waiting 5 s for a response from slow.test")
        #expect(machine.state == .ended(.failed))
    }

    @Test func aLocalAnswerRecordsTheHeadersAsSentPerVersion() {
        for (http1, length) in [(true, "Content-Length"), (false, "content-length")] {
            var machine = ExchangeMachine(method: "HEAD", clientSpeaksHTTP1: http1, keepAlive: true, responseTimeout: 5, upstreamName: "a")
            _ = machine.receive(.answer(HTTPResponse.text(200, "hello")))
            #expect(machine.responseHeaders.last.map { $0.name == length && $0.value == "6" } == true)
            #expect(machine.responseBodyBytes == 0, "a HEAD answer carries no body")
        }
    }
}

@Suite struct HTTPWireFramingTests {
    @Test func chunksAndTheLastChunk() {
        #expect(HTTPWire.chunk([]) == [])
        #expect(HTTPWire.chunk(Array("hello, world!!!!!".utf8)) == Array("11\r\nhello, world!!!!!\r\n".utf8))
        #expect(HTTPWire.lastChunk() == Array("0\r\n\r\n".utf8))
        #expect(HTTPWire.lastChunk(trailers: [("grpc-status", "0")]) == Array("0\r\ngrpc-status: 0\r\n\r\n".utf8))
    }

    @Test func authoritiesBracketIPv6AndDropTheDefaultPort() {
        #expect(HTTPWire.authority(host: "a.test", port: 443) == "a.test")
        #expect(HTTPWire.authority(host: "::1", port: 443) == "[::1]")
        #expect(HTTPWire.authority(host: "::1", port: 80, defaultPort: 80) == "[::1]")
        #expect(HTTPWire.authority(host: "::1", port: 8443, defaultPort: 80) == "[::1]:8443")
        #expect(HTTPWire.authority(host: "a.test", port: 443, defaultPort: nil) == "a.test:443")
    }
}
