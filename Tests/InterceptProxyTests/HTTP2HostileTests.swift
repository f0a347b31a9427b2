import CertForge
import Foundation
@testable import InterceptProxy
import Testing
import TestSupport

/// Hostile HTTP/2 clients against the client leg: floods, bombs and resets written frame by frame.
/// Each test checks the proxy's answer (GOAWAY and its code, RST_STREAM, 431, close), the one
/// flow event, that the proxy then serves a normal h2 request, and that its sockets (client
/// connections, and upstream ones where there is an origin) go back to none.
@Suite struct HTTP2HostileTests {
    static let host = "h2.example"

    /// A client that breaks the session: one GOAWAY (the code `report()` prints), one error event, and
    /// the proxy serves on.
    struct BrokenSession: Sendable, CustomTestStringConvertible {
        let name: String
        let script: String
        var receiveBuffer: Int?
        /// What `report()` prints after "goaway ".
        let goAway: String
        let cause: FlowCause
        let detail: String
        var testDescription: String { name }
    }

    /// 200,000 frames that each want an ACK, while the client reads nothing (small receive buffer):
    /// nghttp2 bounds the ACKs it queues (1000) and declares a flood.
    static func controlFrameFlood(_ frame: String) -> String {
        """
        chunk = \(frame) * 500
        tls.settimeout(3)
        try:
            for _ in range(400):
                tls.sendall(chunk)
        except (socket.timeout, TimeoutError, OSError):
            pass
        read_all(15, stop=lambda f: f[0] == 7)
        read_all(5)
        report()
        """
    }

    static let brokenSessions: [BrokenSession] = [
        BrokenSession(name: "CONTINUATION flood", script: """
            send(frame(1, 0x1, 1, request("/c")) + b"".join(frame(9, 0, 1, encoder.encode([("x-filler", "a" * 100)])) for _ in range(2000)))
            read_all(10)
            report()
            """, goAway: "ENHANCE_YOUR_CALM", cause: .h2Flood,
            detail: "the client's HTTP/2 session is dead: Too many CONTINUATION frames following a HEADER frame"),
        BrokenSession(name: "PING flood", script: controlFrameFlood(#"frame(6, 0, 0, b"12345678")"#), receiveBuffer: 4096,
                      goAway: "ENHANCE_YOUR_CALM", cause: .h2Flood,
                      detail: "the client's HTTP/2 session is dead: Flooding was detected in this HTTP/2 session, and it must be closed"),
        BrokenSession(name: "SETTINGS flood", script: controlFrameFlood(#"frame(4, 0, 0, struct.pack(">HI", 3, 100))"#), receiveBuffer: 4096,
                      goAway: "ENHANCE_YOUR_CALM", cause: .h2Flood,
                      detail: "the client's HTTP/2 session is dead: Flooding was detected in this HTTP/2 session, and it must be closed"),
        // nghttp2 takes at most 32 entries per SETTINGS frame.
        BrokenSession(name: "SETTINGS with 40 entries", script: """
            send(frame(4, 0, 0, struct.pack(">HI", 3, 100) * 40))
            read_all(10)
            report()
            """, goAway: "ENHANCE_YOUR_CALM last=0 debug='SETTINGS: too many setting entries'", cause: .h2Flood,
            detail: "the client broke HTTP/2: GOAWAY ENHANCE_YOUR_CALM sent (SETTINGS: too many setting entries)"),
        // 65,535 + 2^31 - 1 exceeds the largest window (RFC 9113 6.9.1).
        BrokenSession(name: "WINDOW_UPDATE overflow", script: """
            send(frame(8, 0, 0, struct.pack(">I", 0x7FFFFFFF)))
            read_all(10)
            report()
            """, goAway: "FLOW_CONTROL_ERROR", cause: .h2ProtocolError,
            detail: "the client broke HTTP/2: GOAWAY FLOW_CONTROL_ERROR sent"),
    ]

    @Test(arguments: brokenSessions)
    func aBrokenSessionEndsWithOneGoAwayAndOneEvent(_ broken: BrokenSession) async throws {
        try await withProxy { fixture in
            let result = try hostileH2Client(fixture, receiveBuffer: broken.receiveBuffer, script: broken.script)
            #expect(result.stdout.contains("goaway \(broken.goAway)") && result.stdout.contains("eof True"), "\(result)")
            let errors = fixture.proxy.recordedEvents.filter { $0.type == .error }
            #expect(errors.count == 1 && errors.first?.cause == broken.cause, "\(errors)")
            #expect(errors.first?.detail == broken.detail, "\(errors)")
            try expectServesAndCleansUp(fixture)
        }
    }

    @Test func hpackBombIsAnswered431WithoutDecodingItAll() async throws {
        try await withProxy { fixture in
            // Stream 1: one 4000-byte field enters the dynamic table, then one-byte references to it fill
            // the 16 KB frame (about 50 MB decoded). Stream 3: 300 small fields. Stream 5: a normal request.
            let result = try hostileH2Client(fixture, script: """
                first = encoder.encode([(":method", "GET"), (":scheme", "https"), (":authority", host), (":path", "/bomb"), ("x-big", "b" * 4000)])
                send(frame(1, 0x5, 1, first + bytes([0x80 | 62]) * (16384 - len(first))))
                send(headers(3, "/many", extra=[("x-f%d" % i, "v") for i in range(300)]))
                send(headers(5, "/fine"))
                read_all(10, until=lambda: all(s in summary["ended"] for s in (1, 3, 5)))
                report()
                """)
            #expect(result.stdout.contains("status 1 431") && result.stdout.contains("status 3 431") && result.stdout.contains("status 5 200"), "\(result)")
            #expect(result.stdout.contains("goaway None"), "the connection goes on: \(result)")
            let rejected = fixture.proxy.recordedEvents.filter { $0.cause == .h2HeaderListTooLarge }
            #expect(rejected.map(\.streamId) == [1, 3] && rejected.allSatisfy { $0.status == 431 }, "\(rejected)")
            // Decoding stopped within one field of the limit, far from the ~50 MB the block expands to.
            let decoded = rejected.first?.detail.flatMap { $0.firstMatch(of: /at least (\d+) bytes/) }.flatMap { Int($0.1) } ?? .max
            #expect(decoded <= 65536 + 4096 + 64, "\(rejected)")
            #expect(fixture.proxy.recordedEvents.filter { $0.type == .request }.compactMap(\.url) == ["https://\(Self.host)/fine"])
            try expectServesAndCleansUp(fixture)
        }
    }

    @Test func anOversizedRequestsBodyIsDroppedAndItsWindowGivenBack() async throws {
        try await withProxy { fixture in
            // Three oversized POSTs with 60,000-byte bodies, one after another, sent as the connection's
            // window allows: 180,000 bytes, more than its 65,535, go through only if the proxy gives
            // back the window for what it drops.
            let result = try hostileH2Client(fixture, script: """
                for stream in (1, 3, 5):
                    send(headers(stream, "/upload", end_stream=False, extra=[("x-f%d" % i, "v") for i in range(300)]))
                    for part in range(4):
                        read_all(5, until=lambda: summary["window"] >= 15000)
                        if summary["window"] < 15000:
                            print("stalled: window", summary["window"])
                            break
                        summary["window"] -= 15000
                        send(frame(0, 0x1 if part == 3 else 0, stream, b"u" * 15000))
                    read_all(10, until=lambda: stream in summary["ended"])
                send(headers(7, "/fine"))
                read_all(10, until=lambda: 7 in summary["ended"])
                report()
                """)
            #expect(result.stdout.contains("goaway None") && !result.stdout.contains("stalled"), "\(result)")
            #expect(result.stdout.contains("status 1 431\nstatus 3 431\nstatus 5 431\nstatus 7 200"), "\(result)")
            #expect(fixture.proxy.recordedEvents.filter { $0.cause == .h2HeaderListTooLarge }.count == 3)
            try expectServesAndCleansUp(fixture)
        }
    }

    @Test func anIdleConnectionGetsGoAwayAfterTheTimeout() async throws {
        try await withProxy(configure: { $0.http2IdleTimeout = 1.5 }) { fixture in
            // A request, then PINGs for 2 s keep the connection alive (each frame moves the deadline);
            // then silence: GOAWAY NO_ERROR 1.5 s after the last PING. Timed from sending it (the
            // proxy cannot have received it earlier), so a late wake-up here cannot make it look early.
            let result = try hostileH2Client(fixture, script: """
                send(headers(1, "/idle"))
                read_all(5, until=lambda: 1 in summary["ended"])
                for _ in range(8):
                    last_ping = time.monotonic()
                    send(frame(6, 0, 0, b"keepaliv"))
                    read_all(0.25, stop=lambda f: f[0] == 7)
                alive = summary["goaway"] is None
                read_all(15)
                report()
                print("alive while pinged", alive, "closed after", round(time.monotonic() - last_ping, 2))
                """)
            #expect(result.stdout.contains("goaway NO_ERROR last=1") && result.stdout.contains("eof True"), "\(result)")
            let closedAfter = result.stdout.firstMatch(of: /alive while pinged True closed after ([\d.]+)/).flatMap { Double($0.1) }
            #expect(closedAfter != nil && closedAfter! >= 1.45 && closedAfter! < 10, "\(result)")
            let errors = fixture.proxy.recordedEvents.filter { $0.type == .error }
            #expect(errors.count == 1 && errors.first?.cause == .idleTimeout && errors.first?.detail == "h2 connection idle for 1.5 s", "\(errors)")
            try expectServesAndCleansUp(fixture)
        }
    }
}
