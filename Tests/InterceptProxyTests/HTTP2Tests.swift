import Foundation
import InterceptProxy
import Testing
import TestSupport

/// h2 on the client leg (nghttp2), with HTTP/1.1 upstreams: curl --http2 as the real peer.
@Suite struct HTTP2Tests {
    @Test func offlineTunnelSpeaksH2AndRecordsTheStream() async throws {
        try await withProxy { fixture in
            let result = try fixture.curl(["--http2", "-v", "--cacert", fixture.rootFile, "https://h2.example/path?q=1"])
            #expect(result.status == 0, "\(result)")
            #expect(result.stderr.contains("ALPN: server accepted h2"), "\(result.stderr)")
            #expect(result.stdout.contains("request: GET https://h2.example/path?q=1"), "\(result.stdout)")
            let established = try fixture.waitForEvent { $0.type == .tlsEstablished }
            #expect(established.alpn == "h2")
            let response = try fixture.waitForEvent { $0.type == .response }
            #expect(response.httpVersion == "HTTP/2" && response.streamId == 1 && response.status == 200, "\(response)")
            let request = try fixture.waitForEvent { $0.type == .request }
            #expect(request.headers?.contains([":authority", "h2.example"]) == true, "\(request)")
        }
    }

    @Test func noHTTP2OffersOnlyHTTP1() async throws {
        try await withProxy(configure: { $0.http2 = false }) { fixture in
            let result = try fixture.curl(["--http2", "-v", "--cacert", fixture.rootFile, "https://h1only.example/"])
            #expect(result.status == 0, "\(result)")
            #expect(result.stderr.contains("ALPN: server accepted http/1.1"), "\(result.stderr)")
            #expect(try fixture.waitForEvent { $0.type == .response }.httpVersion == "HTTP/1.1")
        }
    }

    @Test func h2ClientToHTTP1OriginGetsTheSameBytes() async throws {
        try await withForwardingOrigin { fixture in
            for path in ["/hello", "/chunked", "/bytes/3000000", "/status/204"] {
                let h1 = try fixture.curl([path], ["--http1.1", "-s", "-w", "|%{http_code}"])
                let h2 = try fixture.curl([path], ["--http2", "-s", "-w", "|%{http_code}|%{http_version}"])
                #expect(h2.status == 0, "\(path): \(h2)")
                #expect(h2.stdout.hasSuffix("|2"), "\(path) was not answered over h2: \(h2.stdout.suffix(40))")
                let h1Body = h1.stdout.split(separator: "|").first.map(String.init) ?? ""
                let h2Body = h2.stdout.split(separator: "|").first.map(String.init) ?? ""
                #expect(h1Body.replacingOccurrences(of: #"X-Client-Port: \d+"#, with: "", options: .regularExpression).count == h2Body.count || path == "/hello",
                        "\(path): \(h1Body.count) vs \(h2Body.count) bytes")
                if path != "/hello" { #expect(h1Body == h2Body, "\(path) differs between HTTP/1.1 and h2") }
            }
            // Larger than every flow-control window: only WINDOW_UPDATEs sent as the upstream takes the
            // body let the upload finish.
            let scratch = try TemporaryDirectory()
            let upload = try scratch.write("upload.bin", String(repeating: "0123456789abcdef", count: 1 << 18))  // 4 MiB
            let posted = try fixture.curl(["/echo"], ["--http2", "--data-binary", "@\(upload)"])
            #expect(posted.stdout.hasPrefix("\(4 << 20) "), "\(posted)")
            let request = try fixture.proxy.waitForEvent { $0.type == .request && $0.url?.hasSuffix("/echo") == true }
            #expect(request.httpVersion == "HTTP/2" && request.method == "POST")
        }
    }

    @Test func trailersReachTheH2Client() async throws {
        try await withForwardingOrigin { fixture in
            let scratch = try TemporaryDirectory()
            let headers = scratch.path("headers.txt")
            let result = try fixture.curl(["/grpc-like"], ["--http2", "-D", headers])
            #expect(result.stdout == "hello", "\(result)")
            let seen = try String(contentsOfFile: headers, encoding: .utf8).lowercased()
            #expect(seen.hasPrefix("http/2 200"), "\(seen)")
            #expect(seen.contains("grpc-status: 0") && seen.contains("grpc-message: all good"), "trailers: \(seen)")
        }
    }

    @Test func hundredConcurrentStreamsShareOneTunnel() async throws {
        let scratch = try TemporaryDirectory()
        let har = scratch.path("streams.har")
        try await withForwardingOrigin(configure: { $0.harPath = har }) { fixture in
            let urls = (0..<100).flatMap { ["-o", "/dev/null", "https://\(MappedOrigin.host)/bytes/\(20_000 + $0)"] }
            let result = try fixture.proxy.curl(["--cacert", fixture.proxy.rootFile, "--http2", "--parallel", "--parallel-max", "100",
                                                 "-w", "%{http_code} %{size_download} %{num_connects}\\n"] + urls)
            let lines = result.stdout.split(separator: "\n")
            #expect(lines.count == 100, "\(result)")
            #expect(lines.allSatisfy { $0.hasPrefix("200 ") }, "\(lines.filter { !$0.hasPrefix("200 ") }) \(result.stderr.suffix(300)) \(fixture.proxy.proxy.recordedEvents.filter { $0.type == .error })")
            let sizes = Set(lines.compactMap { Int($0.split(separator: " ")[1]) })
            #expect(sizes == Set((0..<100).map { 20_000 + $0 }), "every stream got its own body")
            #expect(lines.compactMap { Int($0.split(separator: " ")[2]) }.reduce(0, +) == 1, "one tunnel carried all streams")
            let streams = Set(fixture.proxy.proxy.recordedEvents.filter { $0.type == .response }.compactMap(\.streamId))
            #expect(streams.count == 100)
            // The HAR pairs each response with its own stream's request, though they finished out of order.
            try fixture.proxy.proxy.writeHAR()
            let log = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: har))) as? [String: Any]
            let entries = (log?["log"] as? [String: Any])?["entries"] as? [[String: Any]] ?? []
            #expect(entries.count == 100)
            for entry in entries {
                let request = entry["request"] as? [String: Any], response = entry["response"] as? [String: Any]
                let size = (response?["content"] as? [String: Any])?["size"] as? Int
                #expect((request?["url"] as? String)?.hasSuffix("/bytes/\(size ?? -1)") == true, "\(entry)")
                #expect(request?["httpVersion"] as? String == "HTTP/2" && response?["httpVersion"] as? String == "HTTP/2")
                #expect(entry["_streamId"] is Int)
            }
        }
    }

    @Test func aSlowStreamDelaysNoOtherAndIsRecordedUnanswered() async throws {
        try await withForwardingOrigin { fixture in
            // One connection: /slow (the origin sleeps 30 s) beside 20 quick streams; curl gives up on
            // /slow after 15 s (and then on the connection). The quick ones must end well before that
            // (10 s leaves a loaded machine room), so none waited for /slow.
            let quick = (0..<20).flatMap { ["-o", "/dev/null", "https://\(MappedOrigin.host)/bytes/\(100 + $0)"] }
            let result = try fixture.proxy.curl(["--cacert", fixture.proxy.rootFile, "--http2", "--parallel", "--parallel-max", "30", "--max-time", "15",
                                                 "-w", "%{http_code} %{time_total} %{url}\\n", "-o", "/dev/null", "https://\(MappedOrigin.host)/slow"] + quick)
            let lines = result.stdout.split(separator: "\n")
            let slow = lines.filter { $0.hasSuffix("/slow") }, fast = lines.filter { !$0.hasSuffix("/slow") }
            #expect(slow.count == 1 && slow[0].hasPrefix("000 "), "\(result.stdout)")
            #expect(fast.count == 20 && fast.allSatisfy { $0.hasPrefix("200 ") && Double($0.split(separator: " ")[1])! < 10 }, "\(result.stdout)")
            let unanswered = try fixture.proxy.waitForEvent { $0.type == .error && ($0.cause == .h2StreamReset || $0.cause == .clientClosed) }
            #expect(unanswered.url?.hasSuffix("/slow") == true, "\(unanswered)")
        }
    }


    @Test func thousandsOfStreamsOnOneConnectionEndCleanly() async throws {
        // More streams than nghttp2's reset allowance (1000): a stream the client has to reset
        // (END_STREAM arriving after the body, as the benchmark's h2 scenario against nginx once
        // showed) would end in GOAWAY and refused streams.
        try await withForwardingOrigin { fixture in
            let scratch = try TemporaryDirectory()
            let config = try scratch.write("urls.curlrc", (0..<1500).map { "url = \"https://\(MappedOrigin.host)/bytes/\($0 % 50 + 1)\"\noutput = \"/dev/null\"\n" }.joined())
            let result = try fixture.proxy.curl(["--cacert", fixture.proxy.rootFile, "--http2", "--parallel", "--parallel-max", "100",
                                                 "-w", "%{http_code} %{num_connects}\\n", "--config", config])
            let lines = result.stdout.split(separator: "\n")
            #expect(lines.count == 1500 && lines.allSatisfy { $0.hasPrefix("200 ") }, "\(lines.filter { !$0.hasPrefix("200 ") }.prefix(5)) \(result.stderr.suffix(300))")
            #expect(lines.compactMap { Int($0.split(separator: " ")[1]) }.reduce(0, +) == 1, "one connection for all")
            #expect(!fixture.proxy.proxy.recordedEvents.contains { $0.cause == .h2StreamReset })
        }
    }
}
