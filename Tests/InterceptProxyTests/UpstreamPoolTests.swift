@testable import InterceptProxy
import Foundation
import Testing

/// The per-tunnel upstream policy, over origins in memory: the probe decides, HTTP/1.1 connections
/// are capped and shared in order, a released connection goes to the oldest waiter, one that
/// cannot serve again is closed, a failed probe fails every waiter.
@Suite struct UpstreamPoolTests {
    /// Records what the pool hands it.
    final class Exchange: PooledExchange, @unchecked Sendable {
        var attached: [HTTP1UpstreamLeg] = []
        var unavailable: [UpstreamFailure] = []
        func attach(_ leg: HTTP1UpstreamLeg) { attached.append(leg) }
        func attach(_ connection: HTTP2UpstreamConnection) { Issue.record("the origin chose HTTP/1.1") }
        func upstreamUnavailable(_ failure: UpstreamFailure) { unavailable.append(failure) }
    }

    /// Takes the responses served in these tests (an upstream leg closes on bytes no one awaits).
    final class Sink: HTTP1UpstreamUser {
        var parts = 0
        func upstream(_ leg: HTTP1UpstreamLeg, received part: ResponsePart) { parts += 1 }
        func upstreamReadProcessed(_ leg: HTTP1UpstreamLeg) {}
        func upstreamTookRequest(_ leg: HTTP1UpstreamLeg) {}
        func upstream(_ leg: HTTP1UpstreamLeg, failed failure: UpstreamFailure) { Issue.record("\(failure)") }
    }
    private let sink = Sink()

    private static let get = UpstreamRequest(method: "GET", scheme: "https", authority: "a.test", target: "/", fields: [], body: .none)

    /// A request and its complete response on `leg`, as an exchange would have it.
    private func serve(_ leg: HTTP1UpstreamLeg, keepAlive: Bool = true) {
        leg.user = sink
        leg.send(.head(Self.get))
        leg.send(.end)
        (leg.transport as! MemoryUpstream).respond("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n" + (keepAlive ? "" : "Connection: close\r\n") + "\r\nok")
    }

    @Test func anHTTP1OriginGetsAtMostMaxUpstreamsSharedInOrder() {
        let loop = EventLoop(index: 210)
        let dialer = MemoryDialer(loop: loop)
        let pool = UpstreamPool(dialer: dialer, loop: loop, probeProtocols: ["h2", "http/1.1"])
        let exchanges = (0..<10).map { _ in Exchange() }
        loop.queue.sync {
            exchanges.forEach { pool.acquire(for: $0) }
            // Nothing before the probe's answer; it offered the client's protocols.
            #expect(dialer.dialled.count == 1 && dialer.dialled[0].offered == ["h2", "http/1.1"])
            #expect(exchanges.allSatisfy { $0.attached.isEmpty })
            dialer.dialled[0].connect(alpn: "http/1.1")
            // The probe serves the first, new dials (offering http/1.1 only) the next seven.
            #expect(exchanges.map(\.attached.count) == [1, 1, 1, 1, 1, 1, 1, 1, 0, 0])
            #expect(dialer.dialled.count == UpstreamPool.maxUpstreams && dialer.dialled.dropFirst().allSatisfy { $0.offered == ["http/1.1"] })
            #expect(pool.waitingCount == 2)
            // A connection whose response completed goes to the oldest waiter, as it is.
            let first = exchanges[0].attached[0]
            serve(first)
            pool.release(first)
            #expect(exchanges[8].attached.first === first)
            // One that cannot serve again (Connection: close) is closed; the next waiter gets a new one.
            let second = exchanges[1].attached[0]
            serve(second, keepAlive: false)
            pool.release(second)
            #expect(second.transport.isClosed)
            #expect(dialer.dialled.count == UpstreamPool.maxUpstreams + 1)
            #expect(exchanges[9].attached.first?.transport === dialer.dialled.last)
            // With no waiter, a reusable connection idles and serves the next exchange.
            let third = exchanges[2].attached[0]
            serve(third)
            pool.release(third)
            let next = Exchange()
            pool.acquire(for: next)
            #expect(next.attached.first === third)
            // A waiter that left is skipped: the freed connection idles instead.
            let gone = Exchange()
            pool.acquire(for: gone)
            #expect(gone.attached.isEmpty)
            pool.stopWaiting(gone)
            let fourth = exchanges[3].attached[0]
            serve(fourth)
            pool.release(fourth)
            #expect(gone.attached.isEmpty)
            // A connection released mid-response is not reused.
            let fifth = exchanges[4].attached[0]
            fifth.send(.head(Self.get))
            pool.release(fifth)
            #expect(fifth.transport.isClosed)
            pool.closeAll()
            #expect(fourth.transport.isClosed, "idle connections close with the pool")
            #expect(!exchanges[5].attached[0].transport.isClosed, "a busy one is its exchange's to give back")
        }
    }

    @Test func aResetStreamsResponseIsDrainedAndTheConnectionServesAgain() {
        let loop = EventLoop(index: 212)
        let dialer = MemoryDialer(loop: loop)
        let pool = UpstreamPool(dialer: dialer, loop: loop, probeProtocols: nil)
        let (first, second) = (Exchange(), Exchange())
        loop.queue.sync {
            pool.acquire(for: first)
            dialer.dialled[0].connect()
            let leg = first.attached[0]
            leg.send(.head(Self.get))
            leg.send(.end)
            pool.abandon(leg)  // the client gave up before the response came
            (leg.transport as! MemoryUpstream).respond("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhel")
            pool.acquire(for: second)
            #expect(second.attached.first?.transport === dialer.dialled.last && dialer.dialled.count == 2, "still draining: a new connection")
            (leg.transport as! MemoryUpstream).respond("lo")
            #expect(!leg.transport.isClosed && leg.isReusable, "drained to the end: reusable")
            let third = Exchange()
            pool.acquire(for: third)
            #expect(third.attached.first === leg)
            pool.closeAll()
        }
    }

    @Test func aProbeThatCannotConnectFailsEveryWaiter() {
        let loop = EventLoop(index: 211)
        let dialer = MemoryDialer(loop: loop)
        let pool = UpstreamPool(dialer: dialer, loop: loop, probeProtocols: nil)
        let exchanges = (0..<3).map { _ in Exchange() }
        loop.queue.sync {
            exchanges.forEach { pool.acquire(for: $0) }
            dialer.dialled[0].closeFromOrigin(failure: .refused(address: "127.0.0.1:1", detail: "Connection refused"))
            #expect(exchanges.map { $0.unavailable.map(\.cause) } == Array(repeating: [FlowCause.upstreamRefused], count: 3))
            #expect(exchanges.allSatisfy { $0.attached.isEmpty })
            pool.closeAll()
        }
    }
}
