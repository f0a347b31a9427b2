@testable import InterceptProxy
import Foundation
import TestSupport
import Testing

/// The per-tunnel upstream policy, over a real origin: the probe decides, HTTP/1.1 connections are
/// capped and shared in order, a released connection goes to the oldest waiter, a failed probe
/// fails every waiter.
@Suite struct UpstreamPoolTests {
    /// Records what the pool hands it.
    final class Exchange: PooledExchange, @unchecked Sendable {
        var attached: [UpstreamConnection] = []
        var unavailable: [UpstreamFailure] = []
        func attach(_ upstream: UpstreamConnection) { attached.append(upstream) }
        func attach(_ connection: HTTP2UpstreamConnection) { Issue.record("no h2 without TLS") }
        func upstreamUnavailable(_ failure: UpstreamFailure) { unavailable.append(failure) }
    }

    private func pool(_ loop: EventLoop, port: Int) -> UpstreamPool {
        UpstreamPool(route: UpstreamRoute(target: ("127.0.0.1", port), dial: ("127.0.0.1", port), viaProxy: false),
                     tls: nil, loop: loop, connectTimeout: 5, probeProtocols: nil)
    }

    private func waitUntil(_ loop: EventLoop, _ condition: () -> Bool) {
        let deadline = Date() + 10
        while !loop.queue.sync(execute: condition) && Date() < deadline { usleep(5_000) }
    }

    @Test func anHTTP1OriginGetsAtMostMaxUpstreamsSharedInOrder() throws {
        let origin = try OriginServer()  // plain HTTP: no TLS, so no ALPN, so the HTTP/1.1 pool
        defer { origin.stop() }
        let loop = EventLoop(index: 210)
        let pool = pool(loop, port: origin.port)
        let exchanges = (0..<10).map { _ in Exchange() }
        loop.queue.sync { exchanges.forEach(pool.acquire) }
        // Nothing before the probe's answer; then the probe serves the first, new dials the next seven.
        waitUntil(loop) { exchanges[0].attached.count == 1 }
        loop.queue.sync {
            #expect(exchanges.map(\.attached.count) == [1, 1, 1, 1, 1, 1, 1, 1, 0, 0])
            #expect(Set(exchanges.prefix(8).map { ObjectIdentifier($0.attached[0]) }).count == UpstreamPool.maxUpstreams)
            // A reusable connection goes to the oldest waiter, as it is.
            let first = exchanges[0].attached[0]
            pool.release(first, reusable: true)
            #expect(exchanges[8].attached.first === first)
            // One that is not is closed, and the next waiter gets a new connection.
            let second = exchanges[1].attached[0]
            pool.release(second, reusable: false)
            #expect(second.isClosed)
            let fresh = try? #require(exchanges[9].attached.first)
            #expect(fresh !== second && !exchanges.prefix(9).contains { $0.attached.contains { $0 === fresh } })
            // With no waiter, a reusable connection idles and serves the next exchange.
            let third = exchanges[2].attached[0]
            pool.release(third, reusable: true)
            let next = Exchange()
            pool.acquire(for: next)
            #expect(next.attached.first === third)
            // A waiter that left is skipped: the freed connection idles instead.
            let gone = Exchange()
            pool.acquire(for: gone)
            #expect(gone.attached.isEmpty)
            pool.stopWaiting(gone)
            pool.release(exchanges[3].attached[0], reusable: true)
            #expect(gone.attached.isEmpty)
            pool.closeAll()
            // Other suites count this process's descriptors: nothing stays open.
            (exchanges + [next]).flatMap(\.attached).forEach { $0.close() }
        }
    }

    @Test func aProbeThatCannotConnectFailsEveryWaiter() throws {
        let loop = EventLoop(index: 211)
        let pool = pool(loop, port: try freeLoopbackPort())
        let exchanges = (0..<3).map { _ in Exchange() }
        loop.queue.sync { exchanges.forEach(pool.acquire) }
        waitUntil(loop) { exchanges.allSatisfy { !$0.unavailable.isEmpty } }
        loop.queue.sync {
            #expect(exchanges.map { $0.unavailable.map(\.cause) } == Array(repeating: [FlowCause.upstreamRefused], count: 3))
            #expect(exchanges.allSatisfy { $0.attached.isEmpty })
            pool.closeAll()
        }
    }
}
