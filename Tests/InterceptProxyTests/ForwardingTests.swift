import CertForge
import Foundation
import InterceptProxy
import Testing
import TestSupport

/// Forward mode against local origins: what the client gets is what the origin sent.
@Suite struct ForwardingTests {
    @Test func mappedHTTPSOriginAnswersThroughTheTunnel() async throws {
        try await withForwardingOrigin { fixture in
            let result = try fixture.curl(["/hello"])
            await fixture.stop()
            #expect(result.status == 0, "\(result)")
            #expect(result.stdout == "hello from origin\n")
            let events = fixture.proxy.proxy.recordedEvents
            #expect(events.contains { $0.type == .response && $0.status == 200 && $0.url == "https://origin.test/hello" && $0.bodyBytes == 18 })
        }
    }

    @Test func keepAliveUsesOneTunnelAndOneUpstreamConnection() async throws {
        try await withForwardingOrigin { fixture in
            let result = try fixture.curl(Array(repeating: "/hello", count: 10), ["-i"])
            await fixture.stop()
            #expect(result.status == 0, "\(result)")
            let ports = result.stdout.components(separatedBy: "\r\n").filter { $0.lowercased().hasPrefix("x-client-port:") }
            #expect(ports.count == 10)
            #expect(Set(ports).count == 1, "one upstream connection: \(Set(ports))")
            #expect(fixture.proxy.proxy.recordedEvents.filter { $0.type == .tunnelOpened }.count == 1)
        }
    }

    @Test func chunkedDownloadAndChunkedUpload() async throws {
        try await withForwardingOrigin { fixture in
            let download = try fixture.curl(["/chunked"])
            #expect(download.stdout == (0..<5).map { "part \($0)\n" }.joined(), "\(download)")

            let scratch = try TemporaryDirectory()
            let payload = (0..<(1 << 20)).map { UInt8(truncatingIfNeeded: $0 &* 31) }
            let file = scratch.path("upload.bin")
            try Data(payload).write(to: URL(fileURLWithPath: file))
            let digest = try run("sha256sum", [file]).stdout.split(separator: " ")[0]
            let upload = try fixture.curl(["/echo"], ["-H", "Transfer-Encoding: chunked", "--data-binary", "@\(file)"])
            #expect(upload.stdout == "1048576 \(digest)\n", "\(upload)")
            // A large Content-Length body: curl sends Expect: 100-continue and waits for the origin's 100.
            let expect = try fixture.curl(["/echo"], ["-H", "Expect: 100-continue", "--data-binary", "@\(file)"])
            #expect(expect.stdout == "1048576 \(digest)\n", "\(expect)")
        }
    }

    @Test func bodilessResponsesKeepTheConnectionUsable() async throws {
        try await withForwardingOrigin { fixture in
            let head = try fixture.curl(["/hello"], ["-I"])
            #expect(head.status == 0 && head.stdout.hasPrefix("HTTP/1.1 200") && head.stdout.contains("Content-Length: 18"), "\(head)")
            let sequence = try fixture.curl(["/status/204", "/status/304", "/hello"], ["-w", "%{http_code}\\n"])
            #expect(sequence.status == 0, "\(sequence)")
            #expect(sequence.stdout == "204\n304\nhello from origin\n200\n", "\(sequence.stdout)")
        }
    }

    @Test func pipelinedRequestsAreAnsweredInOrder() async throws {
        try await withForwardingOrigin { fixture in
            let result = try pythonThroughTunnel(proxyPort: fixture.proxy.port, rootFile: fixture.proxy.rootFile, host: MappedOrigin.host, script: """
                tls.sendall(b"GET /chunked HTTP/1.1\\r\\nHost: origin.test\\r\\n\\r\\nGET /status/204 HTTP/1.1\\r\\nHost: origin.test\\r\\n\\r\\nGET /hello HTTP/1.1\\r\\nHost: origin.test\\r\\nConnection: close\\r\\n\\r\\n")
                sys.stdout.write(read_all().decode())
                """)
            #expect(result.status == 0, "\(result)")
            let text = result.stdout
            let chunked = text.range(of: "part 4"), noContent = text.range(of: "HTTP/1.1 204"), hello = text.range(of: "hello from origin")
            #expect(chunked != nil && noContent != nil && hello != nil, "\(text)")
            if let chunked, let noContent, let hello {
                #expect(chunked.lowerBound < noContent.lowerBound && noContent.lowerBound < hello.lowerBound)
            }
        }
    }

    @Test func webSocketEchoThroughTheTunnel() async throws {
        try await withForwardingOrigin { fixture in
            let result = try pythonThroughTunnel(proxyPort: fixture.proxy.port, rootFile: fixture.proxy.rootFile, host: MappedOrigin.host, script: """
                tls.sendall(b"GET /ws HTTP/1.1\\r\\nHost: origin.test\\r\\nUpgrade: websocket\\r\\nConnection: Upgrade\\r\\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\\r\\nSec-WebSocket-Version: 13\\r\\n\\r\\n")
                head = b""
                while b"\\r\\n\\r\\n" not in head:
                    head += tls.recv(1)
                print(head.split(b"\\r\\n")[0].decode())
                print([l for l in head.decode().split("\\r\\n") if l.startswith("Sec-WebSocket-Accept")][0])
                mask = b"\\x01\\x02\\x03\\x04"
                payload = b"ping through the proxy"
                tls.sendall(bytes([0x81, 0x80 | len(payload)]) + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload)))
                frame = tls.recv(2)
                print(tls.recv(frame[1]).decode())
                """)
            #expect(result.status == 0, "\(result)")
            #expect(result.stdout == "HTTP/1.1 101 Switching Protocols\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\nping through the proxy\n", "\(result)")
        }
    }

    /// Over HTTP/1.1 and over h2 (where the stream's send queue is what must stay bounded).
    @Test(arguments: [("--http1.1", "1.1"), ("--http2", "2")])
    func largeDownloadStreamsWithFlatMemory(curlFlag: String, version: String) async throws {
        try await withForwardingOrigin { fixture in
            let before = residentMemory()
            let size = 200 << 20
            let result = try fixture.curl(["/bytes/\(size)"], [curlFlag, "-o", "/dev/null", "-w", "%{size_download} %{http_version}"])
            #expect(result.status == 0, "\(result)")
            #expect(result.stdout == "\(size) \(version)", "\(result)")
            let growth = residentMemory() - before
            #expect(growth < 64 << 20, "RSS grew by \(growth >> 20) MiB while relaying \(size >> 20) MiB over HTTP/\(version)")
        }
    }

    @Test func plainHTTPForwardingToALocalOrigin() async throws {
        let origin = try OriginServer()
        defer { origin.stop() }
        try await withProxy(offline: false, configure: {
            $0.mapRemote = [MapRemoteRule(host: "plain.test", port: nil, address: "127.0.0.1", addressPort: origin.port)]
        }) { proxy in
            let result = try proxy.curl(["http://plain.test/hello", "http://plain.test/chunked"])
            #expect(result.stdout == "hello from origin\n" + (0..<5).map { "part \($0)\n" }.joined(), "\(result)")
        }
    }
}

/// This process's resident set size in bytes, from /proc.
func residentMemory() -> Int {
    guard let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8),
          let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmRSS:") }),
          let kib = Int(line.split(separator: " ").dropFirst().first ?? "") else { return 0 }
    return kib * 1024
}

@Suite struct ShutdownTests {
    /// Over HTTP/1.1 and over h2 (where stop sends GOAWAY and the open stream finishes).
    @Test(arguments: [("--http1.1", "1.1"), ("--http2", "2")])
    func stopLetsTheResponseInFlightFinishThenClosesIdleTunnels(curlFlag: String, version: String) async throws {
        // 60 s: 64 MiB through a debug build, TLS on both legs, on a loaded machine; stop() returns
        // as soon as the connections are gone, so a longer grace costs nothing when all goes well.
        try await withForwardingOrigin(configure: { $0.shutdownGracePeriod = 60 }) { fixture in
            let events = fixture.proxy.proxy.events
            // A 64 MiB download in flight while stop() runs: it completes, then the tunnel closes.
            let download = try fixture.proxy.startCurl(["--cacert", fixture.proxy.rootFile, curlFlag, "-o", "/dev/null",
                                                        "-w", "%{http_code} %{size_download} %{http_version}", "https://origin.test/bytes/\(64 << 20)"])
            try fixture.proxy.waitForEvent(timeout: 60) { $0.type == .request }
            await fixture.proxy.proxy.stop()
            let result = try download.wait()
            #expect(result.stdout == "200 \(64 << 20) \(version)", "\(result)")
            var kinds: [FlowEvent.Kind] = []
            for await event in events { kinds.append(event.type) }  // the stream ends when the proxy stops
            #expect(kinds.contains(.response) && kinds.last == .tunnelClosed, "\(kinds)")
            let refused = try run("curl", ["-sS", "--max-time", "5", "-x", fixture.proxy.proxyURL, "https://origin.test/"])
            #expect(refused.status == 7, "no longer listening: \(refused)")
        }
    }
}
