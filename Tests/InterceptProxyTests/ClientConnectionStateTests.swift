@testable import InterceptProxy
import Foundation
import Testing

/// The client connection's state machine, driven in memory (`MemoryClient`): phase transitions
/// and HTTP/1.1 pipelining, without sockets or an origin.
@Suite struct ClientConnectionStateTests {
    @Test func pipelinedRequestsAreAnsweredInRequestOrder() throws {
        let memory = try MemoryClient()
        memory.send((1...3).map { "GET http://a.test/\($0) HTTP/1.1\r\nHost: a.test\r\n\r\n" }.joined())
        let answers = memory.transport.text.components(separatedBy: "HTTP/1.1 200 OK").dropFirst()
        #expect(answers.count == 3)
        for (index, answer) in answers.enumerated() { #expect(answer.contains("request: GET http://a.test/\(index + 1)\n")) }
        // Each request event is followed by its response event before the next request starts.
        let exchange = memory.events.filter { $0.type == .request || $0.type == .response }.map { "\($0.type.rawValue) \($0.url ?? "")" }
        #expect(exchange == (1...3).flatMap { ["request http://a.test/\($0)", "response http://a.test/\($0)"] })
        #expect(memory.onLoop { memory.client.state.exchangesHTTP1 && memory.client.state.http1Leg?.outstanding.isEmpty == true })
    }

    @Test func aPlainRequestThenAConnectWalksThePhases() throws {
        let memory = try MemoryClient()
        #expect(memory.onLoop { if case .awaitingRequest = memory.client.state { true } else { false } })
        memory.send("GET http://a.test/ HTTP/1.1\r\nHost: a.test\r\n\r\n")
        #expect(memory.onLoop { if case .plainHTTP = memory.client.state { true } else { false } })
        memory.send("CONNECT b.test:443 HTTP/1.1\r\nHost: b.test:443\r\n\r\n")
        #expect(memory.transport.text.hasSuffix("HTTP/1.1 200 Connection established\r\n\r\n"))
        #expect(memory.onLoop { memory.client.state.isHandshaking && memory.client.target?.host == "b.test" && memory.client.clientTLS != nil })
        // Plaintext where the TLS handshake belongs: answered 400 in clear, recorded, closed.
        memory.send("GET / HTTP/1.1\r\nHost: b.test\r\n\r\n")
        #expect(memory.transport.text.contains("HTTP/1.1 400 Bad Request"))
        #expect(memory.events.contains { $0.type == .tlsFailed && $0.cause == .notTLS })
        #expect(memory.transport.isClosed)
        #expect(memory.onLoop { if case .closed = memory.client.state { true } else { false } })
        let closed = try #require(memory.events.last)
        #expect(closed.type == .tunnelClosed && closed.host == "b.test")
    }

    @Test func aSplicedTunnelUnderOfflineIsRefused() throws {
        let memory = try MemoryClient { $0.ignoreHosts = ["^c\\.test:"] }
        memory.send("CONNECT c.test:443 HTTP/1.1\r\nHost: c.test:443\r\n\r\n")
        // --ignore-hosts with --offline: nothing may be dialled, so the tunnel ends at once.
        #expect(memory.events.contains { $0.type == .error && $0.cause == .splicedOffline })
        #expect(memory.transport.isClosed)
    }

    @Test func aHalfSentRequestAtEOFIsRefusedNotTakenAsWhole() throws {
        let memory = try MemoryClient()
        memory.send("POST http://a.test/ HTTP/1.1\r\nHost: a.test\r\nContent-Length: 10\r\n\r\nabc")
        memory.onLoop { memory.client.clientReadEOF() }
        #expect(memory.transport.text.hasPrefix("HTTP/1.1 400 Bad Request"))
        #expect(memory.events.contains { $0.type == .error && $0.cause == .badRequest && $0.status == 400 })
        #expect(!memory.events.contains { $0.type == .response })
    }
}
