import CertForge
import Foundation
@testable import InterceptProxy
import Testing
import TestSupport

/// Hostile HTTP/2 streams against a proxy in front of an origin: resets, too many streams, a
/// stream that never reads. The upstream side is checked too: what was dialled, what was sent.
extension HTTP2HostileTests {
    @Test func rapidResetDialsNoUpstreamPerStreamAndEndsWithEnhanceYourCalm() async throws {
        try await withMappedOrigin(origin: CountingOrigin.init(chain:)) { mapped in
            let server = mapped.origin, fixture = mapped.proxy
            // One real request warms the pool; then 10,000 HEADERS + RST_STREAM pairs (CVE-2023-44487).
            let result = try hostileH2Client(fixture, host: MappedOrigin.host, script: """
                send(headers(1, "/bytes/10"))
                read_all(10, until=lambda: 1 in summary["ended"])
                send(b"".join(headers(2 * i + 3, "/bytes/10") + rst(2 * i + 3) for i in range(10000)))
                read_all(10)
                report()
                """)
            #expect(result.stdout.contains("goaway ENHANCE_YOUR_CALM") && result.stdout.contains("eof True"), "\(result)")
            #expect(result.stdout.contains("status 1 200"), "the first stream was answered: \(result)")
            let resets = fixture.proxy.recordedEvents.filter { $0.cause == .h2RapidReset }
            #expect(resets.count == 1 && resets.first?.detail == "the client reset streams faster than 200 at once or 33 a second (HTTP/2 rapid reset, CVE-2023-44487)", "\(resets)")
            // Streams opened and reset in one read never start: no request event, no upstream.
            let requests = fixture.proxy.recordedEvents.filter { $0.type == .request }.count
            #expect(requests <= 1 + 200, "\(requests) of 10,000 reset streams were started")
            // One event for the connection; a started stream's reset has its own (at most the limit's worth).
            let errors = fixture.proxy.recordedEvents.filter { $0.type == .error }
            #expect(errors.filter { $0.cause != .h2StreamReset }.map(\.cause) == [.h2RapidReset], "\(errors.map(\.cause))")
            let dialled = server.connections  // before the next request's tunnel dials its own
            #expect(dialled <= 8, "upstream connections opened (the pool holds at most 8): \(dialled)")
            try expectServesAndCleansUp(fixture, host: MappedOrigin.host, path: "/bytes/5", originPort: server.port)
        }
    }

    @Test func rapidResetAgainstAnH2OriginStaysOnOneUpstreamConnection() async throws {
        try await withH2Origin { h2 in
            let fixture = h2.proxy
            let result = try hostileH2Client(fixture, host: MappedOrigin.host, script: """
                send(headers(1, "/bytes/10"))
                read_all(10, until=lambda: 1 in summary["ended"])
                send(b"".join(headers(2 * i + 3, "/bytes/10") + rst(2 * i + 3) for i in range(10000)))
                read_all(10)
                report()
                """)
            #expect(result.stdout.contains("status 1 200") && result.stdout.contains("goaway ENHANCE_YOUR_CALM") && result.stdout.contains("eof True"), "\(result)")
            #expect(fixture.proxy.recordedEvents.filter { $0.cause == .h2RapidReset }.count == 1)
            #expect(fixture.proxy.recordedEvents.filter { $0.type == .request }.count <= 1 + 200)
            let connections = h2.server.output.components(separatedBy: "CONNECTION alpn=h2").count - 1
            #expect(connections == 1, "upstream connections: \(h2.server.output.suffix(300))")
            try expectServesAndCleansUp(fixture, host: MappedOrigin.host, path: "/bytes/5", originPort: h2.server.port)
        }
    }

    @Test func streamsResetMidResponseReuseTheirUpstreamConnections() async throws {
        try await withMappedOrigin(origin: CountingOrigin.init(chain:)) { mapped in
            let server = mapped.origin, fixture = mapped.proxy
            // 150 streams one after another, each reset once its response began (its request went out
            // on a pooled HTTP/1.1 connection): the proxy reads the rest of each response and reuses
            // the connection, instead of closing it and dialling anew for the next stream.
            let result = try hostileH2Client(fixture, host: MappedOrigin.host, script: """
                send(frame(8, 0, 0, struct.pack(">I", 1 << 30)))
                for i in range(150):
                    send(headers(2 * i + 1, "/bytes/200000"))
                    read_all(10, stop=lambda f: f[0] == 1 and f[2] == 2 * i + 1)
                    send(rst(2 * i + 1))
                send(headers(301, "/bytes/10"))
                read_all(10, until=lambda: 301 in summary["ended"])
                report()
                """)
            let statuses = result.stdout.split(separator: "\n").filter { $0.hasPrefix("status ") }
            #expect(statuses.count == 151 && statuses.allSatisfy { $0.hasSuffix(" 200") }, "\(result)")
            #expect(result.stdout.contains("status 301 200") && result.stdout.contains("goaway None"), "\(result)")
            let dialled = server.connections
            #expect(dialled <= 8, "upstream connections opened for 151 streams: \(dialled)")
            let errors = fixture.proxy.recordedEvents.filter { $0.type == .error }
            // Each reset stream is recorded unanswered, unless the origin's whole response had already
            // reached the proxy (then it is a response, cut short only on the client's side).
            let responses = fixture.proxy.recordedEvents.filter { $0.type == .response }
            #expect(errors.allSatisfy { $0.cause == .h2StreamReset } && errors.count + responses.count == 151,
                    "\(errors.count) errors \(Set(errors.compactMap(\.cause))), \(responses.count) responses")
            try expectServesAndCleansUp(fixture, host: MappedOrigin.host, path: "/bytes/5", originPort: server.port)
        }
    }

    @Test func tenThousandStreamsAreRefusedBeyondTheLimit() async throws {
        try await withMappedOrigin(origin: CountingOrigin.init(chain:)) { mapped in
            let server = mapped.origin, fixture = mapped.proxy
            let result = try hostileH2Client(fixture, host: MappedOrigin.host, script: """
                send(b"".join(headers(2 * i + 1, "/bytes/1") for i in range(10000)))
                read_all(20, until=lambda: sum(summary["resets"].values()) + len(summary["ended"]) >= 10000)
                report()
                """)
            let lines = result.stdout.split(separator: "\n").map(String.init)
            let answered = lines.filter { $0.hasPrefix("status ") && $0.hasSuffix(" 200") }.count
            // RFC 9113 5.1.2: REFUSED_STREAM (before the client acknowledged the limit) or PROTOCOL_ERROR.
            let refused = (lines.first { $0.hasPrefix("resets ") } ?? "").matches(of: /'(REFUSED_STREAM|PROTOCOL_ERROR)', (\d+)/).compactMap { Int($0.2) }.reduce(0, +)
            #expect(answered >= 100 && answered + refused == 10000, "\(answered) answered, \(refused) refused: \(result.stdout.suffix(300)) \(result.stderr)")
            #expect(result.stdout.contains("goaway None"), "the connection goes on: \(result.stdout.suffix(200))")
            let limits = fixture.proxy.recordedEvents.filter { $0.cause == .h2TooManyStreams }
            #expect(limits.count == 1 && limits.first?.detail?.contains("at most 100 concurrent streams") == true, "\(limits)")
            // Only streams that were taken became requests, over at most the pool's connections.
            #expect(fixture.proxy.recordedEvents.filter { $0.type == .request }.count == answered)
            let dialled = server.connections  // before the next request's tunnel dials its own
            #expect(dialled <= 8, "upstream connections opened (the pool holds at most 8): \(dialled)")
            try expectServesAndCleansUp(fixture, host: MappedOrigin.host, path: "/bytes/5", originPort: server.port)
        }
    }

    @Test func aStreamThatNeverReadsHoldsBackA100MiBUpstream() async throws {
        try await withMappedOrigin(origin: CountingOrigin.init(chain:)) { mapped in
            let server = mapped.origin, fixture = mapped.proxy
            // The client asks for 100 MiB and never reads nor sends WINDOW_UPDATE, for 3 s; then it hangs up.
            let result = try hostileH2Client(fixture, host: MappedOrigin.host, receiveBuffer: 4096, script: """
                send(headers(1, "/bytes/%d" % (100 << 20)))
                time.sleep(3)
                tls.close()
                print("closed")
                """)
            #expect(result.stdout == "closed\n", "\(result)")
            // The origin counts what it could send before the proxy cancelled the request.
            let sent = Int(try server.waitFor(#"SENT (\d+)"#)) ?? .max
            #expect(sent < 24 << 20, "the origin sent \(sent >> 20) MiB of 100 to a client that read nothing")
            try expectServesAndCleansUp(fixture, host: MappedOrigin.host, path: "/bytes/5", originPort: server.port)
        }
    }
}

/// The rapid-reset meter on a simulated clock.
@Suite struct ResetRateLimitTests {
    @Test func aBurstOf200PassesThe201stTrips() {
        var limit = ResetRateLimit()
        let start = DispatchTime.now().uptimeNanoseconds
        var passed = 0
        while !limit.exceeded(now: start) && passed < 1000 { passed += 1 }
        #expect(passed == 200)
    }

    @Test func sustainedResetsTripOnlyAbove33ASecond() {
        func secondsUntilTripped(perSecond: Int) -> Double? {
            var limit = ResetRateLimit()
            let start = DispatchTime.now().uptimeNanoseconds
            for n in 0..<(perSecond * 120) {
                let now = start + UInt64(n) * 1_000_000_000 / UInt64(perSecond)
                if limit.exceeded(now: now) { return Double(now - start) / 1e9 }
            }
            return nil
        }
        #expect(secondsUntilTripped(perSecond: 30) == nil, "30 resets a second for two minutes are allowed")
        let tripped = secondsUntilTripped(perSecond: 40)  // 200 tokens drain at 7 a second
        #expect(tripped != nil && tripped! > 25 && tripped! < 32, "\(String(describing: tripped))")
    }
}
