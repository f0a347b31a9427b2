import CertForge
import Foundation
import InterceptProxy
import Testing
import TestSupport

/// h2 on the upstream leg: the proxy offers the client's ALPN protocols upstream, and an origin
/// that picks h2 gets the client's streams one to one on one connection.
@Suite struct HTTP2UpstreamTests {
    @Test(arguments: [true, false])
    func h2ClientToNginxGetsTheOriginsBytes(originSpeaksH2: Bool) async throws {
        var random = SystemRandomNumberGenerator()
        let big = (0..<3_000_000).map { _ in UInt8.random(in: 0...255, using: &random) }
        let small = Array("hello from nginx\n".utf8)
        try await withMappedOrigin(origin: { try NginxOrigin(chain: $0, files: ["big": big, "small": small], http2: originSpeaksH2) }) { mapped in
            let fixture = mapped.proxy
            let scratch = try TemporaryDirectory()
            let result = try fixture.curl(["--cacert", fixture.rootFile, "--http2", "-w", "%{http_code} %{http_version} %{num_connects}\\n",
                                           "-o", scratch.path("big"), "https://\(MappedOrigin.host)/big",
                                           "-o", scratch.path("small"), "https://\(MappedOrigin.host)/small"])
            #expect(result.status == 0, "\(result)")
            #expect(result.stdout == "200 2 1\n200 2 0\n", "both over h2 on one client connection: \(result.stdout)")
            #expect(try Data(contentsOf: URL(fileURLWithPath: scratch.path("big"))) == Data(big), "the 3 MB body differs")
            #expect(try Data(contentsOf: URL(fileURLWithPath: scratch.path("small"))) == Data(small))

            let responses = fixture.proxy.recordedEvents.filter { $0.type == .response }
            #expect(responses.count == 2)
            let upstreamVersion = originSpeaksH2 ? "HTTP/2" : "HTTP/1.1"
            for response in responses {
                #expect(response.httpVersion == "HTTP/2" && response.upstreamHttpVersion == upstreamVersion, "\(response)")
                // nginx names the protocol it served in a header of its own.
                #expect(response.headers?.contains(["x-origin-protocol", originSpeaksH2 ? "HTTP/2.0" : "HTTP/1.1"]) == true, "\(response)")
            }
        }
    }

    @Test func aSlowReaderHoldsBackOnlyItsOwnUpstreamStream() async throws {
        // The client reads one stream at 512 KiB/s for 20 s while nginx could send 256 MiB at once:
        // only WINDOW_UPDATEs sent as the client takes the data hold nginx back. What nginx sent is
        // measured at nginx (RSS in this process would count the tests running beside it).
        try await withMappedOrigin(origin: { try NginxOrigin(chain: $0, files: ["small": Array("small\n".utf8)], sparse: ["big": 256 << 20]) }) { mapped in
            let nginx = mapped.origin, fixture = mapped.proxy
            let scratch = try TemporaryDirectory(), slowBody = scratch.path("big")
            let slow = try fixture.startCurl(["--cacert", fixture.rootFile, "--http2", "--limit-rate", "512K", "--max-time", "20", "-o", slowBody,
                                              "-w", "%{size_download}", "https://\(MappedOrigin.host)/big"])
            // Waited for, not slept: the slow reader is well into its download (1 MiB is two seconds
            // at its rate), its windows long full.
            try FaultTests.waitForDownload(slowBody, bytes: 1 << 20)
            let quick = try fixture.curl(["--cacert", fixture.rootFile, "--http2", "-w", " %{time_total}", "https://\(MappedOrigin.host)/small"])
            // Answered while the slow reader is still being held back: it blocks nothing else.
            #expect(slow.isRunning, "the slow reader had ended before the quick request was answered: \(slow.output)")
            #expect(quick.stdout.hasPrefix("small\n") && Double(quick.stdout.split(separator: " ").last ?? "99")! < 8, "\(quick)")
            let result = try slow.wait()
            #expect(result.status == 28 && (Int(result.stdout) ?? .max) < 16 << 20, "the reader was cut off by its own timeout: \(result)")
            // The proxy cancels the stream upstream when curl gives up; nginx then logs what it sent.
            _ = try? nginx.waitForAccessLog("/big ", timeout: 10)
            let sent = nginx.accessLog.split(separator: "\n").first { $0.hasPrefix("/big ") }.flatMap { Int($0.split(separator: " ")[2]) }
            #expect(sent != nil && sent! < 64 << 20, "nginx sent \((sent ?? -1) >> 20) MiB of 256 MiB to a proxy whose client took under 16: \(nginx.accessLog)")
        }
    }

    @Test func anHTTP1ClientReachesAnH2OnlyOriginThroughTranslation() async throws {
        // A client preferring http/1.1 but offering h2 too: the client leg keeps its preference, the
        // upstream leg offers the same list, and the h2-only origin picks h2.
        try await withH2Origin { h2 in
            let server = h2.server, fixture = h2.proxy
            let result = try http1ClientOfferingH2(proxyPort: fixture.port, rootFile: fixture.rootFile, requests: """
                [("GET", "/trailers", None), ("GET", "/bytes/300000", None), ("POST", "/echo", b"z" * 2000000), ("HEAD", "/bytes/10", None)]
                """)
            #expect(result.stdout == """
                GET /trailers 200 11 5 hello chunked
                GET /bytes/300000 200 11 300000 xxxxxxxxxxxxxxxxxxxx None
                POST /echo 200 11 7 2000000 None
                HEAD /bytes/10 200 11 0  None
                alpn http/1.1

                """, "\(result)")
            #expect(server.output.components(separatedBy: "CONNECTION alpn=h2").count - 1 == 1, "one upstream connection: \(server.output)")
            let responses = fixture.proxy.recordedEvents.filter { $0.type == .response }
            #expect(responses.count == 4 && responses.allSatisfy { $0.httpVersion == "HTTP/1.1" && $0.upstreamHttpVersion == "HTTP/2" }, "\(responses)")
        }
    }

    @Test(arguments: [true, false])
    func mimicUpstreamWorksWithAnH2Origin(clientSpeaksH2: Bool) async throws {
        try await withH2Origin(configure: { $0.mimicUpstream = true }) { h2 in
            let server = h2.server, fixture = h2.proxy
            // The origin speaks first (SETTINGS) while the client's handshake is still waiting for the
            // mimicked certificate; nothing of it may be lost, whichever protocol the client leg gets.
            if clientSpeaksH2 {
                let result = try fixture.curl(["--cacert", fixture.rootFile, "--http2", "-w", " %{http_version}",
                                               "https://\(MappedOrigin.host)/bytes/5", "https://\(MappedOrigin.host)/bytes/7"])
                #expect(result.stdout == "xxxxx 2xxxxxxx 2", "\(result)")
            } else {
                let result = try http1ClientOfferingH2(proxyPort: fixture.port, rootFile: fixture.rootFile,
                                                       requests: #"[("GET", "/bytes/5", None), ("GET", "/bytes/7", None)]"#)
                #expect(result.stdout == "GET /bytes/5 200 11 5 xxxxx None\nGET /bytes/7 200 11 7 xxxxxxx None\nalpn http/1.1\n", "\(result)")
            }
            #expect(fixture.proxy.recordedEvents.filter { $0.type == .response && $0.upstreamHttpVersion == "HTTP/2" }.count == 2)
            #expect(server.output.components(separatedBy: "CONNECTION alpn=h2").count - 1 == 1, "the dialled connection served both: \(server.output)")
        }
    }

    @Test func anUpstreamResetResetsOnlyItsOwnClientStream() async throws {
        try await withH2Origin { h2 in
            let server = h2.server, fixture = h2.proxy
            let urls = ["/bytes/200000", "/reset/3000", "/bytes/200001", "/bytes/200002"].flatMap { ["-o", "/dev/null", "https://\(MappedOrigin.host)\($0)"] }
            let result = try fixture.curl(["--cacert", fixture.rootFile, "--http2", "--parallel",
                                           "-w", "%{url} %{http_code} %{size_download} %{exitcode} %{num_connects}\\n"] + urls)
            let lines = result.stdout.split(separator: "\n").map { $0.split(separator: " ").map(String.init) }
            #expect(lines.count == 4, "\(result)")
            #expect(lines.compactMap { $0.last.flatMap { Int($0) } }.reduce(0, +) == 1, "one client connection: \(result.stdout)")
            for line in lines where line.count == 5 {
                if line[0].hasSuffix("/reset/3000") {
                    #expect(line[3] == "92", "curl's HTTP/2 stream error for the reset stream: \(line)")
                } else {
                    #expect(line[1] == "200" && line[2] == String(line[0].split(separator: "/").last!) && line[3] == "0", "\(line)")
                }
            }
            #expect(result.stderr.contains("INTERNAL_ERROR"), "the upstream's error code reaches the client: \(result.stderr)")
            #expect(server.output.components(separatedBy: "CONNECTION alpn=h2").count - 1 == 1, "one upstream h2 connection carried all four streams: \(server.output)")

            let request = try fixture.waitForEvent { $0.type == .request && $0.url?.hasSuffix("/reset/3000") == true }
            let reset = try fixture.waitForEvent { $0.type == .error && $0.cause == .upstreamReset }
            #expect(reset.streamId != nil && reset.streamId == request.streamId, "the flow event names the client stream: \(reset)")
            #expect(reset.detail?.contains("INTERNAL_ERROR") == true, "\(reset)")
            let completed = fixture.proxy.recordedEvents.filter { $0.type == .response && $0.status == 200 }
            #expect(completed.count == 3 && completed.allSatisfy { $0.upstreamHttpVersion == "HTTP/2" }, "\(completed)")
        }
    }

    @Test func anUpstreamGoAwayMidTransferResetsTheStreamsInFlightAndTheTunnelGoesOn() async throws {
        try await withH2Origin { h2 in
            let fixture = h2.proxy
            // Two streams in flight when the origin sends GOAWAY (INTERNAL_ERROR) and hangs up; then a
            // third stream on the same client connection.
            let result = try h2ClientThroughTunnel(proxyPort: fixture.port, rootFile: fixture.rootFile, host: MappedOrigin.host, script: """
                first = [get("/hold/3000"), get("/goaway/2000")]
                run_until(lambda: all(done(s) for s in first))
                for s in first: report(s)
                after = get("/bytes/5000")
                run_until(lambda: done(after))
                report(after)
                """)
            #expect(result.status == 0, "\(result)")
            let lines = result.stdout.split(separator: "\n").map(String.init)
            #expect(lines == ["1 200 reset=2", "3 200 reset=2", "5 200 bytes=5000 connection=2"], "\(result) \(fixture.proxy.recordedEvents.filter { $0.type == .error })")

            let goAways = fixture.proxy.recordedEvents.filter { $0.type == .error && $0.cause == .upstreamGoAway }
            #expect(Set(goAways.compactMap(\.streamId)) == [1, 3], "\(goAways)")
            #expect(goAways.allSatisfy { $0.detail?.contains("GOAWAY INTERNAL_ERROR") == true }, "\(goAways)")
            let after = try fixture.waitForEvent { $0.type == .response && $0.streamId == 5 }
            #expect(after.status == 200 && after.upstreamHttpVersion == "HTTP/2")
        }
    }

    @Test func aClientResetCancelsOnlyItsUpstreamStream() async throws {
        try await withH2Origin { h2 in
            let server = h2.server, fixture = h2.proxy
            let result = try h2ClientThroughTunnel(proxyPort: fixture.port, rootFile: fixture.rootFile, host: MappedOrigin.host, script: """
                held = get("/hold/3000")
                run_until(lambda: streams[held]["bytes"] == 3000)
                conn.reset_stream(held, error_code=8)
                tls.sendall(conn.data_to_send())
                after = get("/bytes/700")
                run_until(lambda: done(after))
                report(after)
                """)
            #expect(result.stdout == "3 200 bytes=700 connection=1\n", "the same upstream connection goes on: \(result)")
            _ = try server.waitFor(#"RESET BY PROXY (1 8)"#)  // upstream stream 1, CANCEL
            let reset = try fixture.waitForEvent { $0.type == .error && $0.cause == .h2StreamReset }
            #expect(reset.streamId == 1 && reset.url?.hasSuffix("/hold/3000") == true, "\(reset)")
        }
    }

    @Test func streamsNginxRefusesAfterItsGoAwayAreSentAgain() async throws {
        // keepalive_requests 3: nginx answers three streams per connection, then GOAWAY (NO_ERROR)
        // and refuses the rest, which the proxy sends again on a new connection.
        try await withMappedOrigin(origin: { try NginxOrigin(chain: $0, files: (0..<12).reduce(into: [:]) { $0["f\($1)"] = Array(repeating: UInt8(97 + $1), count: 1000 + $1) },
                                    keepaliveRequests: 3) }) { mapped in
            let fixture = mapped.proxy
            let urls = (0..<12).flatMap { ["-o", "/dev/null", "https://\(MappedOrigin.host)/f\($0)"] }
            let parallel = try fixture.curl(["--cacert", fixture.rootFile, "--http2", "--parallel",
                                             "-w", "%{http_code} %{size_download}\\n"] + urls)
            let sequential = try fixture.curl(["--cacert", fixture.rootFile, "--http2", "-w", "%{http_code} %{size_download}\\n"] + urls)
            let expected = Set((0..<12).map { "200 \(1000 + $0)" })
            #expect(Set(parallel.stdout.split(separator: "\n").map(String.init)) == expected, "\(parallel)")
            #expect(sequential.stdout.split(separator: "\n").map(String.init) == (0..<12).map { "200 \(1000 + $0)" }, "\(sequential)")
            #expect(!fixture.proxy.recordedEvents.contains { $0.type == .error }, "\(fixture.proxy.recordedEvents.filter { $0.type == .error })")
            #expect(fixture.proxy.recordedEvents.filter { $0.type == .response && $0.upstreamHttpVersion == "HTTP/2" }.count == 24)
        }
    }

    @Test func trailersAndUploadsCrossAnH2Upstream() async throws {
        try await withH2Origin { h2 in
            let fixture = h2.proxy
            let scratch = try TemporaryDirectory()
            let headers = scratch.path("headers.txt")
            let trailers = try fixture.curl(["--cacert", fixture.rootFile, "--http2", "-D", headers, "https://\(MappedOrigin.host)/trailers"])
            #expect(trailers.stdout == "hello", "\(trailers)")
            let seen = try String(contentsOfFile: headers, encoding: .utf8).lowercased()
            #expect(seen.contains("grpc-status: 0") && seen.contains("grpc-message: all good"), "trailers: \(seen)")
            // More than every flow-control window on both legs.
            let upload = try scratch.write("upload.bin", String(repeating: "0123456789abcdef", count: 1 << 18))
            let posted = try fixture.curl(["--cacert", fixture.rootFile, "--http2", "--data-binary", "@\(upload)", "https://\(MappedOrigin.host)/echo"])
            #expect(posted.stdout == "\(4 << 20)", "\(posted)")
        }
    }
}

/// Python's `h2` as the client, through a CONNECT tunnel and TLS with ALPN h2: for stream-level
/// sequences curl cannot express. The script calls `get(path)` (returns the stream id),
/// `run_until(predicate)`, `done(stream)` and `report(stream)`, which prints
/// "<stream> <status> reset=<code>" or "<stream> <status> bytes=<n> connection=<x-connection>".
func h2ClientThroughTunnel(proxyPort: Int, rootFile: String, host: String, script body: String) throws -> ProcessResult {
    let script = """
        import socket, ssl, sys
        import h2.config, h2.connection, h2.events
        raw = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=20)
        raw.sendall(b"CONNECT %s:443 HTTP/1.1\\r\\nHost: %s:443\\r\\n\\r\\n" % (sys.argv[3].encode(), sys.argv[3].encode()))
        assert raw.recv(1024).startswith(b"HTTP/1.1 200"), "CONNECT refused"
        context = ssl.create_default_context(cafile=sys.argv[2])
        context.set_alpn_protocols(["h2"])
        tls = context.wrap_socket(raw, server_hostname=sys.argv[3])
        assert tls.selected_alpn_protocol() == "h2"
        conn = h2.connection.H2Connection(config=h2.config.H2Configuration(client_side=True, header_encoding="utf-8"))
        conn.initiate_connection()
        tls.sendall(conn.data_to_send())
        streams = {}
        def get(path):
            stream = conn.get_next_available_stream_id()
            conn.send_headers(stream, [(":method", "GET"), (":scheme", "https"), (":authority", sys.argv[3]), (":path", path)], end_stream=True)
            tls.sendall(conn.data_to_send())
            streams[stream] = {"bytes": 0}
            return stream
        def done(stream):
            return "ended" in streams[stream] or "reset" in streams[stream]
        def run_until(predicate):
            while not predicate():
                data = tls.recv(65536)
                assert data, "the proxy closed the connection"
                for event in conn.receive_data(data):
                    if isinstance(event, h2.events.ResponseReceived):
                        headers = dict(event.headers)
                        streams[event.stream_id].update(status=headers[":status"], connection=headers.get("x-connection"))
                    elif isinstance(event, h2.events.DataReceived):
                        streams[event.stream_id]["bytes"] += len(event.data)
                        conn.acknowledge_received_data(event.flow_controlled_length, event.stream_id)
                    elif isinstance(event, h2.events.StreamEnded):
                        streams[event.stream_id]["ended"] = True
                    elif isinstance(event, h2.events.StreamReset):
                        streams[event.stream_id]["reset"] = int(event.error_code)
                    elif isinstance(event, h2.events.ConnectionTerminated):
                        raise AssertionError("GOAWAY from the proxy: %r" % event)
                tls.sendall(conn.data_to_send())
        def report(stream):
            s = streams[stream]
            if "reset" in s:
                print(stream, s.get("status"), "reset=%d" % s["reset"])
            else:
                print(stream, s.get("status"), "bytes=%d" % s["bytes"], "connection=%s" % s.get("connection"))
        \(body.split(separator: "\n").joined(separator: "\n"))
        """
    return try run(h2Python, ["-c", script, String(proxyPort), rootFile, host])
}

/// Python's http.client through a tunnel to `origin.test`, offering ALPN "http/1.1, h2" (in that
/// order) and making `requests` (a Python list of (method, path, body)) on one connection. Prints
/// "<method> <path> <status> <version> <length> <first bytes> <transfer-encoding>" per response,
/// then "alpn <protocol>".
func http1ClientOfferingH2(proxyPort: Int, rootFile: String, requests: String) throws -> ProcessResult {
    let script = """
        import http.client, ssl, sys
        context = ssl.create_default_context(cafile=sys.argv[2])
        context.set_alpn_protocols(["http/1.1", "h2"])
        conn = http.client.HTTPSConnection("127.0.0.1", int(sys.argv[1]), context=context, timeout=20)
        conn.set_tunnel("\(MappedOrigin.host)", 443)
        for method, path, body in \(requests):
            conn.request(method, path, body=body)
            response = conn.getresponse()
            data = response.read()
            print(method, path, response.status, response.version, len(data), data[:20].decode(), response.getheader("transfer-encoding"))
        print("alpn", conn.sock.selected_alpn_protocol())
        """
    return try run("python3", ["-c", script, String(proxyPort), rootFile])
}
