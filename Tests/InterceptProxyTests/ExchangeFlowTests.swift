@testable import InterceptProxy
import Foundation
import Testing

/// The whole path of an HTTP/1.1 client's exchange in memory: the client leg, `HTTPExchange`, the
/// pool and an origin the test plays, on a clock the test advances. What used to need sockets
/// and sleeps: a 502 when the origin hangs up, a 504 when it stays silent, pipelined requests
/// sent one at a time on one connection, and an h2 origin's GOAWAY retried for an HTTP/1.1 client.
@Suite struct ExchangeFlowTests {
    /// An h2 origin in memory: nghttp2's server side, fed what the proxy sent.
    final class H2Origin: HTTP2ClientLegSessionDelegate {
        let session: HTTP2ClientLegSession
        var requests: [(head: HTTP2RequestHead, stream: Int32)] = []
        init() throws {
            session = try HTTP2ClientLegSession()
            session.delegate = self
        }
        /// Reads what the proxy sent on `upstream`, answers with what nghttp2 has to say.
        func exchange(with upstream: MemoryUpstream) throws {
            try session.feed(upstream.takeSent())
            let output = session.takeOutput()
            if !output.isEmpty { upstream.respond(output) }
        }
        func http2Request(_ head: HTTP2RequestHead, stream: Int32, endStream: Bool) { requests.append((head, stream)) }
        func http2RequestData(_ bytes: [UInt8], stream: Int32) {}
        func http2RequestEnded(stream: Int32) {}
        func http2StreamClosed(stream: Int32, errorCode: UInt32) {}
        func http2RequestHeadTooLarge(stream: Int32, size: Int, fields: Int, endStream: Bool) {}
        func http2ClientReset(stream: Int32, errorCode: UInt32) {}
        func http2InvalidFrame(type: UInt8, stream: Int32, error: Int32, atStreamLimit: Bool) {}
        func http2GoAwaySent(errorCode: UInt32, debugData: String) {}
    }

    /// GOAWAY NO_ERROR promising nothing: every stream the proxy opened was left unprocessed.
    static let goAwayProcessingNothing: [UInt8] = [0, 0, 8, 7, 0, 0, 0, 0, 0] + [0, 0, 0, 0] + [0, 0, 0, 0]

    @Test func anOriginThatHangsUpBeforeAnsweringGets502() throws {
        let memory = try MemoryClient(origins: true)
        memory.send("GET http://origin.test/a HTTP/1.1\r\nHost: origin.test\r\n\r\n")
        let origin = try #require(memory.origin(0))
        memory.onLoop { origin.connect() }
        #expect(memory.onLoop { origin.sentText }.hasPrefix("GET /a HTTP/1.1\r\nHost: origin.test\r\n"))
        memory.onLoop { origin.closeFromOrigin() }
        #expect(memory.transport.text.hasPrefix("HTTP/1.1 502 Bad Gateway"), "\(memory.transport.text)")
        #expect(memory.events.contains { $0.type == .error && $0.cause == .upstreamClosed && $0.status == 502 && $0.url == "http://origin.test/a" })
        #expect(memory.events.contains { $0.type == .response && $0.status == 502 })
        #expect(memory.transport.isClosed, "a 502 closes the connection")
    }

    @Test func aSilentOriginGets504WhenTheClockPassesTheResponseTimeout() throws {
        let memory = try MemoryClient(origins: true) { $0.responseTimeout = 30 }
        memory.send("GET http://origin.test/slow HTTP/1.1\r\nHost: origin.test\r\n\r\n")
        let origin = try #require(memory.origin(0))
        memory.onLoop { origin.connect() }
        memory.onLoop { memory.clock.advance(by: 29) }
        #expect(memory.transport.text.isEmpty, "not before the timeout")
        // A response head pushes the deadline back; then silence mid-body ends in an abort.
        memory.onLoop { origin.respond("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nhello") }
        memory.onLoop { memory.clock.advance(by: 29) }
        #expect(memory.transport.text.hasSuffix("hello") && !memory.transport.isClosed)
        memory.onLoop { memory.clock.advance(by: 2) }
        #expect(memory.transport.isClosed, "a truncated transfer: the client must not take it for whole")
        #expect(memory.events.contains { $0.type == .error && $0.cause == .upstreamTimeout && $0.status == nil })
        #expect(!memory.events.contains { $0.type == .response })
        #expect(origin.isClosed, "the upstream goes too")

        let quiet = try MemoryClient(origins: true) { $0.responseTimeout = 30 }
        quiet.send("GET http://origin.test/ HTTP/1.1\r\nHost: origin.test\r\n\r\n")
        quiet.onLoop { quiet.clock.advance(by: 31) }  // the connect never completes: the timer bounds it too
        #expect(quiet.transport.text.hasPrefix("HTTP/1.1 504 Gateway Timeout"), "\(quiet.transport.text)")
        #expect(quiet.events.contains { $0.type == .error && $0.cause == .upstreamTimeout && $0.status == 504 })
        #expect(quiet.onLoop { quiet.clock.armed } == 0)
    }

    @Test func pipelinedRequestsGoUpstreamOneAtATimeOnOneConnection() throws {
        let memory = try MemoryClient(origins: true)
        memory.send("GET http://origin.test/1 HTTP/1.1\r\nHost: origin.test\r\n\r\nGET http://origin.test/2 HTTP/1.1\r\nHost: origin.test\r\n\r\n")
        let origin = try #require(memory.origin(0))
        memory.onLoop { origin.connect() }
        let first = memory.onLoop { String(decoding: origin.takeSent(), as: UTF8.self) }
        #expect(first.hasPrefix("GET /1 ") && !first.contains("GET /2"), "the second waits for the first's response: \(first)")
        #expect(memory.events.filter { $0.type == .request }.count == 1)
        memory.onLoop { origin.respond("HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\none") }
        let second = memory.onLoop { String(decoding: origin.takeSent(), as: UTF8.self) }
        #expect(second.hasPrefix("GET /2 "), "sent on the same connection once the first ended: \(second)")
        memory.onLoop { origin.respond("HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\ntwo") }
        #expect(memory.transport.text == "HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\noneHTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\ntwo")
        #expect(memory.events.filter { $0.type == .response }.compactMap(\.url) == ["http://origin.test/1", "http://origin.test/2"])
        #expect(memory.onLoop { memory.dialer.dialled.count } == 1)
    }

    @Test func anH2OriginsGoAwayIsRetriedForAnHTTP1Client() throws {
        let memory = try MemoryClient(origins: true)
        memory.send("GET http://origin.test/retry HTTP/1.1\r\nHost: origin.test\r\n\r\n")
        let first = try #require(memory.origin(0))
        let refusing = try H2Origin()
        try memory.onLoop {
            first.connect(alpn: "h2")
            try refusing.exchange(with: first)
            first.respond(Self.goAwayProcessingNothing)  // the request was not processed: safe to send again
        }
        #expect(refusing.requests.map(\.head.path) == ["/retry"])
        let second = try #require(memory.origin(1), "a new connection for the retry")
        let serving = try H2Origin()
        try memory.onLoop {
            second.connect(alpn: "h2")
            try serving.exchange(with: second)
            let stream = try #require(serving.requests.first?.stream)
            serving.session.respond(stream: stream, status: 200, headers: [("content-length", "4")], endStream: false)
            serving.session.send(Array("fine".utf8), stream: stream)
            serving.session.finish(stream: stream)
            second.respond(serving.session.takeOutput())
        }
        #expect(serving.requests.map { "\($0.head.method) \($0.head.authority)\($0.head.path)" } == ["GET origin.test/retry"])
        #expect(memory.transport.text.hasPrefix("HTTP/1.1 200 OK\r\n") && memory.transport.text.hasSuffix("\r\n\r\nfine"), "\(memory.transport.text)")
        let response = try #require(memory.events.first { $0.type == .response })
        #expect(response.status == 200 && response.httpVersion == "HTTP/1.1" && response.upstreamHttpVersion == "HTTP/2")
        #expect(!memory.events.contains { $0.type == .error })
    }

    @Test func aClientLeavingMidResponseIsRecordedAndItsUpstreamClosed() throws {
        let memory = try MemoryClient(origins: true)
        memory.send("GET http://origin.test/big HTTP/1.1\r\nHost: origin.test\r\n\r\n")
        let origin = try #require(memory.origin(0))
        memory.onLoop {
            origin.connect()
            origin.respond("HTTP/1.1 200 OK\r\nContent-Length: 1000000\r\n\r\nsome")
            memory.transport.close(error: nil)
        }
        let error = try #require(memory.events.first { $0.type == .error })
        #expect(error.cause == .clientClosed && error.url == "http://origin.test/big")
        #expect(!memory.events.contains { $0.type == .response })
        #expect(origin.isClosed)
    }
}
