@testable import InterceptProxy
import Foundation
import Testing

/// `HTTPExchange`'s decisions, which both client legs share: local answers, 502/504 before a
/// response started and an abort after, the response timer, and the events recorded for each.
@Suite struct HTTPExchangeTests {
    /// Collects what the exchange asks its client leg to write.
    final class Responder: ExchangeResponder, @unchecked Sendable {
        var written: [HTTPResponse] = []
        var ended: [Bool] = []
        var aborted: [UpstreamFailure] = []
        var timedOut = 0

        func writeLocal(_ response: HTTPResponse, for exchange: HTTPExchange) -> (headers: [(name: String, value: String)], bodyBytes: Int) {
            written.append(response)
            return (response.headers.map { (name: $0.0, value: $0.1) }, response.body.count)
        }
        func localAnswerEnded(_ exchange: HTTPExchange, closeConnection: Bool) { ended.append(closeConnection) }
        func abortResponse(of exchange: HTTPExchange, failure: UpstreamFailure) { aborted.append(failure) }
        func responseTimerFired(for exchange: HTTPExchange) {
            timedOut += 1
            exchange.fail(exchange.timeoutFailure)
        }
    }

    private func exchange(_ memory: MemoryClient, _ responder: Responder, streamId: Int32? = nil) -> HTTPExchange {
        memory.onLoop {
            let exchange = HTTPExchange(context: memory.client, method: "GET", url: "https://a.test/x", clientVersion: "HTTP/1.1",
                                        streamId: streamId, keepAlive: true, requestHeaders: [["Host", "a.test"]])
            exchange.responder = responder
            return exchange
        }
    }

    @Test func aFailureBeforeTheResponseIsAnswered502AndRecorded() throws {
        let memory = try MemoryClient()
        let responder = Responder()
        let exchange = exchange(memory, responder)
        memory.onLoop { exchange.fail(.closedEarly("gone")) }
        #expect(responder.written.map(\.status) == [502])
        #expect(responder.ended == [true])  // a 502 closes the HTTP/1.1 connection
        #expect(responder.aborted.isEmpty)
        let error = try #require(memory.events.first { $0.type == .error })
        #expect(error.cause == .upstreamClosed && error.status == 502 && error.url == "https://a.test/x")
        let response = try #require(memory.events.first { $0.type == .response })
        #expect(response.status == 502 && response.url == "https://a.test/x")
        #expect(exchange.isComplete)
    }

    @Test func aFailureAfterTheHeadAbortsWithoutAResponseEvent() throws {
        let memory = try MemoryClient()
        let responder = Responder()
        let exchange = exchange(memory, responder, streamId: 3)
        memory.onLoop {
            exchange.responseStarted(status: 200, headers: [])
            exchange.fail(.reset(code: 2))
        }
        #expect(responder.written.isEmpty)
        #expect(responder.aborted == [.reset(code: 2)])
        let error = try #require(memory.events.first { $0.type == .error })
        #expect(error.status == nil && error.streamId == 3 && error.detail?.hasPrefix("stream 3: ") == true)
        #expect(!memory.events.contains { $0.type == .response })
    }

    @Test func theResponseTimerEndsASilentExchangeWith504() throws {
        let memory = try MemoryClient { $0.responseTimeout = 0.05 }
        let responder = Responder()
        let exchange = exchange(memory, responder)
        memory.onLoop { exchange.armResponseTimer() }
        let deadline = Date() + 5
        while memory.onLoop({ !exchange.isComplete }) && Date() < deadline { usleep(10_000) }
        #expect(responder.timedOut == 1)
        #expect(responder.written.map(\.status) == [504])
        #expect(memory.events.contains { $0.type == .error && $0.cause == .upstreamTimeout && $0.status == 504 })
    }

    @Test func aCompletedExchangeIgnoresLateFailuresAndTimers() throws {
        let memory = try MemoryClient { $0.responseTimeout = 0.05 }
        let responder = Responder()
        let exchange = exchange(memory, responder)
        memory.onLoop {
            exchange.armResponseTimer()
            exchange.responseStarted(status: 204, headers: [("x", "y")])
            exchange.complete()
            exchange.fail(.closedEarly("late"))
        }
        usleep(200_000)
        #expect(responder.timedOut == 0 && responder.written.isEmpty && responder.aborted.isEmpty)
        #expect(memory.events.filter { $0.type == .response }.map(\.status) == [204])
        #expect(!memory.events.contains { $0.type == .error })
    }

    @Test func anOfflineAnswerNamesTheRequest() throws {
        let memory = try MemoryClient()
        let responder = Responder()
        let exchange = exchange(memory, responder)
        memory.onLoop { exchange.answer(exchange.localAnswer) }
        let body = String(decoding: try #require(responder.written.first).body, as: UTF8.self)
        #expect(body.contains("No upstream was contacted (--offline)") && body.contains("request: GET https://a.test/x"))
        #expect(responder.ended == [false])  // keep-alive
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
