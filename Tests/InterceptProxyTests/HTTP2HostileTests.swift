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

    @Test func rapidResetDialsNoUpstreamPerStreamAndEndsWithEnhanceYourCalm() async throws {
        let origin = try MappedOrigin()
        let server = try CountingOrigin(chain: origin.chain)
        defer { server.stop() }
        let fixture = try origin.proxy(port: server.port)
        defer { Task { await fixture.proxy.stop() } }
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

    @Test func rapidResetAgainstAnH2OriginStaysOnOneUpstreamConnection() async throws {
        let h2 = try H2OriginFixture()
        defer { Task { await h2.stop() } }
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

    @Test func streamsResetMidResponseReuseTheirUpstreamConnections() async throws {
        let origin = try MappedOrigin()
        let server = try CountingOrigin(chain: origin.chain)
        defer { server.stop() }
        let fixture = try origin.proxy(port: server.port)
        defer { Task { await fixture.proxy.stop() } }
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

    @Test func continuationFloodEndsTheConnectionWithOneEvent() async throws {
        let fixture = try ProxyFixture()
        defer { Task { await fixture.proxy.stop() } }
        let result = try hostileH2Client(fixture, script: """
            send(frame(1, 0x1, 1, request("/c")) + b"".join(frame(9, 0, 1, encoder.encode([("x-filler", "a" * 100)])) for _ in range(2000)))
            read_all(10)
            report()
            """)
        #expect(result.stdout.contains("goaway ENHANCE_YOUR_CALM") && result.stdout.contains("eof True"), "\(result)")
        let errors = fixture.proxy.recordedEvents.filter { $0.type == .error }
        #expect(errors.count == 1 && errors[0].cause == .h2Flood, "\(errors)")
        #expect(errors.first?.detail == "the client's HTTP/2 session is dead: Too many CONTINUATION frames following a HEADER frame", "\(errors)")
        try expectServesAndCleansUp(fixture)
    }

    @Test func hpackBombIsAnswered431WithoutDecodingItAll() async throws {
        let fixture = try ProxyFixture()
        defer { Task { await fixture.proxy.stop() } }
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

    @Test func anOversizedRequestsBodyIsDroppedAndItsWindowGivenBack() async throws {
        let fixture = try ProxyFixture()
        defer { Task { await fixture.proxy.stop() } }
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

    @Test(arguments: ["ping", "settings"])
    func controlFrameFloodEndsWithEnhanceYourCalm(kind: String) async throws {
        let fixture = try ProxyFixture()
        defer { Task { await fixture.proxy.stop() } }
        // 200,000 frames that each want an ACK, while the client reads nothing (small receive buffer):
        // nghttp2 bounds the ACKs it queues (1000) and declares a flood.
        let flood = kind == "ping" ? #"frame(6, 0, 0, b"12345678")"# : #"frame(4, 0, 0, struct.pack(">HI", 3, 100))"#
        let result = try hostileH2Client(fixture, receiveBuffer: 4096, script: """
            chunk = \(flood) * 500
            tls.settimeout(3)
            try:
                for _ in range(400):
                    tls.sendall(chunk)
            except (socket.timeout, TimeoutError, OSError):
                pass
            read_all(15, stop=lambda f: f[0] == 7)
            read_all(5)
            report()
            """)
        #expect(result.stdout.contains("goaway ENHANCE_YOUR_CALM") && result.stdout.contains("eof True"), "\(result)")
        let errors = fixture.proxy.recordedEvents.filter { $0.type == .error }
        #expect(errors.count == 1 && errors.first?.cause == .h2Flood, "\(errors)")
        #expect(errors.first?.detail == "the client's HTTP/2 session is dead: Flooding was detected in this HTTP/2 session, and it must be closed")
        try expectServesAndCleansUp(fixture)
    }

    @Test func aSettingsFrameWithTooManyEntriesIsEnhanceYourCalm() async throws {
        let fixture = try ProxyFixture()
        defer { Task { await fixture.proxy.stop() } }
        // nghttp2 takes at most 32 entries per SETTINGS frame.
        let result = try hostileH2Client(fixture, script: """
            send(frame(4, 0, 0, struct.pack(">HI", 3, 100) * 40))
            read_all(10)
            report()
            """)
        #expect(result.stdout.contains("goaway ENHANCE_YOUR_CALM last=0 debug='SETTINGS: too many setting entries'") && result.stdout.contains("eof True"), "\(result)")
        let errors = fixture.proxy.recordedEvents.filter { $0.type == .error }
        #expect(errors.count == 1 && errors.first?.cause == .h2Flood, "\(errors)")
        #expect(errors.first?.detail == "the client broke HTTP/2: GOAWAY ENHANCE_YOUR_CALM sent (SETTINGS: too many setting entries)", "\(errors)")
        try expectServesAndCleansUp(fixture)
    }

    @Test func windowUpdateOverflowIsAFlowControlError() async throws {
        let fixture = try ProxyFixture()
        defer { Task { await fixture.proxy.stop() } }
        // 65,535 + 2^31 - 1 exceeds the largest window (RFC 9113 6.9.1).
        let result = try hostileH2Client(fixture, script: """
            send(frame(8, 0, 0, struct.pack(">I", 0x7FFFFFFF)))
            read_all(10)
            report()
            """)
        #expect(result.stdout.contains("goaway FLOW_CONTROL_ERROR") && result.stdout.contains("eof True"), "\(result)")
        let errors = fixture.proxy.recordedEvents.filter { $0.type == .error }
        #expect(errors.count == 1 && errors.first?.cause == .h2ProtocolError, "\(errors)")
        #expect(errors.first?.detail == "the client broke HTTP/2: GOAWAY FLOW_CONTROL_ERROR sent", "\(errors)")
        try expectServesAndCleansUp(fixture)
    }

    @Test func tenThousandStreamsAreRefusedBeyondTheLimit() async throws {
        let origin = try MappedOrigin()
        let server = try CountingOrigin(chain: origin.chain)
        defer { server.stop() }
        let fixture = try origin.proxy(port: server.port)
        defer { Task { await fixture.proxy.stop() } }
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

    @Test func aStreamThatNeverReadsHoldsBackA100MiBUpstream() async throws {
        let origin = try MappedOrigin()
        let server = try CountingOrigin(chain: origin.chain)
        defer { server.stop() }
        let fixture = try origin.proxy(port: server.port)
        defer { Task { await fixture.proxy.stop() } }
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

    @Test func anIdleConnectionGetsGoAwayAfterTheTimeout() async throws {
        let fixture = try ProxyFixture { $0.http2IdleTimeout = 1.5 }
        defer { Task { await fixture.proxy.stop() } }
        // A request, then PINGs for 2 s keep the connection alive (each frame moves the deadline);
        // then silence: GOAWAY NO_ERROR about 1.5 s later.
        let result = try hostileH2Client(fixture, script: """
            send(headers(1, "/idle"))
            read_all(5, until=lambda: 1 in summary["ended"])
            for _ in range(8):
                send(frame(6, 0, 0, b"keepaliv"))
                read_all(0.25, stop=lambda f: f[0] == 7)
            alive = summary["goaway"] is None
            started = time.time()
            read_all(5)
            report()
            print("alive while pinged", alive, "closed after", round(time.time() - started, 1))
            """)
        #expect(result.stdout.contains("goaway NO_ERROR last=1") && result.stdout.contains("eof True"), "\(result)")
        let closedAfter = result.stdout.firstMatch(of: /alive while pinged True closed after ([\d.]+)/).flatMap { Double($0.1) }
        #expect(closedAfter != nil && closedAfter! >= 1.2 && closedAfter! < 4, "\(result)")
        let errors = fixture.proxy.recordedEvents.filter { $0.type == .error }
        #expect(errors.count == 1 && errors.first?.cause == .idleTimeout && errors.first?.detail == "h2 connection idle for 1.5 s", "\(errors)")
        try expectServesAndCleansUp(fixture)
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

/// A normal h2 request through the proxy still gets its answer; then the proxy holds no client
/// connection on its port and no connection to `originPort` (within the 5 s grace period a
/// closing connection may take).
func expectServesAndCleansUp(_ fixture: ProxyFixture, host: String = HTTP2HostileTests.host, path: String = "/after",
                             originPort: Int? = nil, sourceLocation: SourceLocation = #_sourceLocation) throws {
    let after = try fixture.curl(["--http2", "--cacert", fixture.rootFile, "-w", "|%{http_code} %{http_version}", "https://\(host)\(path)"])
    #expect(after.status == 0 && after.stdout.hasSuffix("|200 2"), "\(after)", sourceLocation: sourceLocation)
    let deadline = Date() + 8
    var held = (client: 0, upstream: 0)
    repeat {
        held = (ProxySockets.count(localPort: fixture.port), originPort.map { ProxySockets.count(remotePort: $0) } ?? 0)
        if held == (0, 0) { return }
        usleep(50_000)
    } while Date() < deadline
    Issue.record("the proxy still holds \(held.client) client and \(held.upstream) upstream sockets", sourceLocation: sourceLocation)
}

/// Sockets this process holds open (an fd points at them), from /proc: the in-process proxy's
/// accepted connections are those on its port, its upstream ones those to the origin's.
enum ProxySockets {
    static func count(localPort: Int) -> Int { held().filter { $0.local == localPort && !$0.listening }.count }
    static func count(remotePort: Int) -> Int { held().filter { $0.remote == remotePort }.count }

    private static func held() -> [(local: Int, remote: Int, listening: Bool)] {
        let fds = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd")) ?? []
        let inodes = Set(fds.compactMap { try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/fd/\($0)") }
            .compactMap { $0.firstMatch(of: /^socket:\[(\d+)\]$/).map { String($0.1) } })
        let table = ["/proc/self/net/tcp", "/proc/self/net/tcp6"].compactMap { try? String(contentsOfFile: $0, encoding: .utf8) }.joined(separator: "\n")
        return table.split(separator: "\n").dropFirst().compactMap { line in
            let columns = line.split(separator: " ")
            guard columns.count > 9, inodes.contains(String(columns[9])) else { return nil }
            func port(_ address: Substring) -> Int { Int(address.split(separator: ":").last ?? "", radix: 16) ?? -1 }
            return (port(columns[1]), port(columns[2]), columns[3] == "0A")
        }
    }
}

/// An HTTPS origin speaking HTTP/1.1 that counts the TCP connections it accepts ("CONNECTION n")
/// and, when a connection ends, the body bytes it sent on it ("SENT n"). `/bytes/N`: N bytes.
final class CountingOrigin: @unchecked Sendable {
    private let server: PythonServer
    var port: Int { server.port }
    var connections: Int { server.output.components(separatedBy: "CONNECTION ").count - 1 }

    init(chain: ForgedChain) throws {
        server = try PythonServer(script: Self.script) { try $0.writeChain(chain) }
    }

    @discardableResult
    func waitFor(_ pattern: String, timeout: TimeInterval = 15) throws -> String { try server.waitFor(pattern, timeout: timeout) }

    func stop() { server.stop() }

    static let script = PythonServer.httpsRequestLoop + #"""
import itertools
context.set_alpn_protocols(["http/1.1"])
numbers = itertools.count(1)

def serve(raw):
    sent = 0
    try:
        tls = context.wrap_socket(raw, server_side=True)
        for path in request_paths(tls):
            size = int(path.rsplit("/", 1)[1]) if path.startswith("/bytes/") else 0
            tls.sendall(b"HTTP/1.1 200 OK\r\ncontent-length: %d\r\n\r\n" % size)
            block = b"x" * 65536
            while size:
                chunk = block[:min(size, len(block))]
                tls.sendall(chunk)
                sent += len(chunk)
                size -= len(chunk)
    except (OSError, ssl.SSLError):
        pass
    finally:
        print("SENT %d" % sent, flush=True)
        raw.close()

serve_forever(serve, on_accept=lambda: print("CONNECTION %d" % next(numbers), flush=True))
"""#
}

/// A raw h2 client (frames by hand, HPACK from the `hpack` package) through a CONNECT tunnel and
/// TLS with ALPN h2; the preface and an empty SETTINGS are sent first. The script has `frame`,
/// `headers`, `request` (an HPACK block), `rst`, `send`, `read_all(timeout, stop, until)` (reads
/// until EOF, the timeout, `stop(frame)` after a frame or `until()` before the next; acknowledges
/// SETTINGS, notes GOAWAY, RST_STREAM codes, response statuses, ended streams and the connection's
/// send window in `summary`)
/// and `report()`, which prints "goaway <code> last=<id> debug=<text>" (or "goaway None"),
/// "resets [(code, count)]", "status <stream> <status>" per response and "eof <bool>".
/// `receiveBuffer` shrinks the client's socket receive buffer (a client that does not read).
func hostileH2Client(_ fixture: ProxyFixture, host: String = HTTP2HostileTests.host, receiveBuffer: Int? = nil, script body: String) throws -> ProcessResult {
    let script = """
        import socket, ssl, struct, sys, time
        from hpack import Decoder, Encoder
        port, cafile, host, rcvbuf = int(sys.argv[1]), sys.argv[2], sys.argv[3], int(sys.argv[4])
        raw = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        if rcvbuf:
            raw.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        raw.settimeout(20)
        raw.connect(("127.0.0.1", port))
        raw.sendall(b"CONNECT %s:443 HTTP/1.1\\r\\nHost: %s:443\\r\\n\\r\\n" % (host.encode(), host.encode()))
        assert raw.recv(1024).startswith(b"HTTP/1.1 200"), "CONNECT refused"
        context = ssl.create_default_context(cafile=cafile)
        context.set_alpn_protocols(["h2"])
        tls = context.wrap_socket(raw, server_hostname=host)
        assert tls.selected_alpn_protocol() == "h2"
        ERRORS = ["NO_ERROR", "PROTOCOL_ERROR", "INTERNAL_ERROR", "FLOW_CONTROL_ERROR", "SETTINGS_TIMEOUT", "STREAM_CLOSED",
                  "FRAME_SIZE_ERROR", "REFUSED_STREAM", "CANCEL", "COMPRESSION_ERROR", "CONNECT_ERROR", "ENHANCE_YOUR_CALM"]
        encoder, decoder = Encoder(), Decoder()
        def frame(kind, flags, stream, payload=b""):
            return struct.pack(">I", len(payload))[1:] + bytes([kind, flags]) + struct.pack(">I", stream) + payload
        def request(path, extra=()):
            return encoder.encode([(":method", "GET"), (":scheme", "https"), (":authority", host), (":path", path)] + list(extra))
        def headers(stream, path, end_stream=True, extra=()):
            return frame(1, 0x4 | (0x1 if end_stream else 0), stream, request(path, extra))
        def rst(stream, code=8):
            return frame(3, 0, stream, struct.pack(">I", code))
        def send(data):
            try:
                tls.sendall(data)
            except (ssl.SSLError, OSError):
                pass  # the proxy hung up: what it sent before is still read
        send(b"PRI * HTTP/2.0\\r\\n\\r\\nSM\\r\\n\\r\\n" + frame(4, 0, 0))
        pending = b""
        def next_frame(deadline):
            global pending
            while True:
                if len(pending) >= 9:
                    length = int.from_bytes(pending[:3], "big")
                    if len(pending) >= 9 + length:
                        head, pending = pending[:9 + length], pending[9 + length:]
                        return head[3], head[4], int.from_bytes(head[5:9], "big") & 0x7FFFFFFF, head[9:]
                tls.settimeout(max(0.01, deadline - time.time()))
                try:
                    data = tls.recv(1 << 20)
                except (socket.timeout, TimeoutError):
                    return None
                except (ssl.SSLError, OSError):
                    data = b""
                if not data:
                    summary["eof"] = True
                    return None
                pending += data
        summary = {"resets": {}, "goaway": None, "eof": False, "status": {}, "ended": set(), "window": 65535}
        def read_all(timeout=10, stop=lambda f: False, until=lambda: False):
            deadline = time.time() + timeout
            while time.time() < deadline and not summary["eof"] and not until():
                f = next_frame(deadline)
                if f is None:
                    return
                kind, flags, stream, payload = f
                if kind == 4 and not flags & 1:
                    send(frame(4, 1, 0))
                elif kind == 3:
                    code = ERRORS[int.from_bytes(payload, "big")]
                    summary["resets"][code] = summary["resets"].get(code, 0) + 1
                elif kind == 8 and stream == 0:
                    summary["window"] += int.from_bytes(payload, "big") & 0x7FFFFFFF
                elif kind == 7:
                    last, code = struct.unpack(">II", payload[:8])
                    summary["goaway"] = "%s last=%d debug=%r" % (ERRORS[code] if code < len(ERRORS) else code, last, payload[8:].decode(errors="replace"))
                elif kind == 1:
                    fields = dict(decoder.decode(payload))
                    if ":status" in fields:
                        summary["status"][stream] = fields[":status"]
                if kind in (0, 1) and flags & 1:
                    summary["ended"].add(stream)
                if stop(f):
                    return
        def report():
            print("goaway", summary["goaway"])
            print("resets", sorted(summary["resets"].items()))
            for stream, status in sorted(summary["status"].items()):
                print("status", stream, status)
            print("eof", summary["eof"])
        \(body.split(separator: "\n").joined(separator: "\n"))
        """
    return try run(h2Python, ["-c", script, String(fixture.port), fixture.rootFile, host, String(receiveBuffer ?? 0)])
}
