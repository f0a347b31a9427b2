import CertForge
import Foundation
import InterceptProxy
import Testing
import TestSupport

/// Upstreams that die or stall in the middle of a response: the client sees a cut transfer (curl
/// exit 18 over HTTP/1.1, RST_STREAM and exit 92 over h2), never a complete-looking response; the
/// proxy records an error event and keeps serving.
@Suite struct FaultTests {
    /// What curl reports for a cut transfer: the exit status, and a text on stderr.
    static func expectCut(_ result: ProcessResult, clientFlag: String, sourceLocation: SourceLocation = #_sourceLocation) {
        if clientFlag == "--http2" {
            #expect(result.status == 92 && result.stderr.contains("was not closed cleanly: INTERNAL_ERROR (err 2)"), "\(result)", sourceLocation: sourceLocation)
        } else {
            #expect(result.status == 18 && result.stderr.contains("transfer closed with"), "\(result)", sourceLocation: sourceLocation)
        }
    }

    static func fileSize(_ path: String) -> Int {
        ((try? FileManager.default.attributesOfItem(atPath: path))?[.size] as? NSNumber)?.intValue ?? -1
    }

    /// Waits until curl has written `bytes` to `path`: the response had started when the fault came.
    static func waitForDownload(_ path: String, bytes: Int) throws {
        // curl's output file: nothing announces its growth, so it is polled.
        guard eventually(timeout: 20, { fileSize(path) >= bytes }) else { throw TimedOut(command: "waiting for \(bytes) bytes in \(path), got \(fileSize(path))", seconds: 20) }
    }

    static func waitUntilNoConnection(_ proxy: ProxyFixture, sourceLocation: SourceLocation = #_sourceLocation) {
        #expect(eventually { proxy.proxy.openConnections == 0 }, "connections left open", sourceLocation: sourceLocation)
    }

    /// `body` with a proxy that sends origin.test to `port` and trusts `caFile` upstream; the
    /// proxy's stop is awaited.
    static func withMappedProxy<Result>(port: Int, caFile: String, responseTimeout: TimeInterval = 60,
                                        _ body: (ProxyFixture) async throws -> Result) async throws -> Result {
        try await withProxy(offline: false, configure: {
            $0.mapRemote = [MapRemoteRule(host: FaultOrigin.host, port: 443, address: "127.0.0.1", addressPort: port)]
            $0.upstreamCAFile = caFile
            $0.responseTimeout = responseTimeout
        }, body)
    }

    @Test(arguments: [("/partial-length", "--http1.1"), ("/partial-chunked", "--http1.1"),
                      ("/partial-length", "--http2"), ("/partial-chunked", "--http2")])
    func anHTTP1OriginKilledMidBodyCutsTheTransfer(path: String, clientFlag: String) async throws {
        let origin = try FaultOrigin()
        try await Self.withMappedProxy(port: origin.port, caFile: origin.caFile) { proxy in
            let scratch = try TemporaryDirectory(), output = scratch.path("body")
            let client = try proxy.startCurl(["--cacert", proxy.rootFile, clientFlag, "--no-buffer", "-o", output, "https://origin.test\(path)"])
            try origin.waitUntilSent(path)
            try Self.waitForDownload(output, bytes: FaultOrigin.partialBytes)
            origin.kill()
            let result = try client.wait(timeout: 30)
            Self.expectCut(result, clientFlag: clientFlag)
            #expect(Self.fileSize(output) == FaultOrigin.partialBytes, "only what the origin sent")
            let error = try proxy.waitForEvent { $0.type == .error }
            #expect(error.cause == .upstreamClosed && error.status == nil && error.url == "https://origin.test\(path)", "\(error)")
            #expect(!proxy.proxy.recordedEvents.contains { $0.type == .response }, "a cut transfer is no response")
            // The origin is gone: the next request gets the proxy's own answer, promptly.
            let after = try proxy.curl(["-i", "--cacert", proxy.rootFile, "https://origin.test/after"])
            #expect(after.stdout.hasPrefix("HTTP/1.1 502 Bad Gateway") && after.stdout.contains("Connection refused"), "\(after)")
            Self.waitUntilNoConnection(proxy)
        }
    }

    /// A client that leaves mid-download (curl killed once it has the first 1000 of 1,000,000
    /// bytes): its request gets its end on record, `client_closed` with the URL, over HTTP/1.1 as
    /// over h2; no response event.
    @Test(arguments: ["--http1.1", "--http2"])
    func aClientThatLeavesMidResponseIsRecorded(clientFlag: String) async throws {
        let origin = try FaultOrigin()
        defer { origin.kill() }
        try await Self.withMappedProxy(port: origin.port, caFile: origin.caFile) { proxy in
            let scratch = try TemporaryDirectory(), output = scratch.path("body")
            let client = try proxy.startCurl(["--cacert", proxy.rootFile, clientFlag, "--no-buffer", "-o", output, "https://origin.test/partial-length"])
            // Mid-body by what curl received, not by a timer that may run out before the body starts.
            try origin.waitUntilSent("/partial-length")
            try Self.waitForDownload(output, bytes: FaultOrigin.partialBytes)
            #expect(client.isRunning, "curl still waits for the rest of the body: \(client.output)")
            #expect(client.stop() == .signalled(SIGKILL), "\(client.output)")
            let end = try proxy.waitForEvent { $0.type == .error }
            #expect(end.cause == .clientClosed && end.url == "https://origin.test/partial-length", "\(end)")
            #expect(end.detail?.contains("the client closed the connection before the response to GET https://origin.test/partial-length ended") == true, "\(end)")
            #expect(!proxy.proxy.recordedEvents.contains { $0.type == .response })
            Self.waitUntilNoConnection(proxy)
            #expect(proxy.proxy.recordedEvents.filter { $0.type == .error }.count == 1, "one end, no more: \(proxy.proxy.recordedEvents.map(\.type))")
        }
    }

    /// (An h2 client: curl --http1.1 offers no h2, which this origin requires.)
    @Test(arguments: ["--http2"])
    func anH2OriginKilledMidStreamCutsTheTransfer(clientFlag: String) async throws {
        try await withH2Origin { h2 in
            let proxy = h2.proxy
            let scratch = try TemporaryDirectory(), output = scratch.path("body")
            let client = try proxy.startCurl(["--cacert", proxy.rootFile, clientFlag, "--no-buffer", "-o", output, "https://origin.test/hold/3000"])
            try Self.waitForDownload(output, bytes: 3000)
            h2.server.stop()  // SIGKILL
            let result = try client.wait(timeout: 30)
            Self.expectCut(result, clientFlag: clientFlag)
            #expect(Self.fileSize(output) == 3000)
            let error = try proxy.waitForEvent { $0.type == .error }
            #expect(error.cause == .upstreamClosed && error.status == nil && error.url == "https://origin.test/hold/3000", "\(error)")
            #expect(!proxy.proxy.recordedEvents.contains { $0.type == .response })
            let after = try proxy.curl(["-i", "--cacert", proxy.rootFile, clientFlag, "https://origin.test/after"])
            #expect(after.stdout.contains("502") && after.stdout.contains("Connection refused"), "\(after)")
            Self.waitUntilNoConnection(proxy)
        }
    }

    /// An origin that answers nothing gets a 504 once the response timeout is over; one that stops
    /// after the head and part of the body gets its transfer cut when it has been silent that long.
    /// 3 s: the follow-up request must be answered within it by a Python origin on a loaded machine.
    @Test(arguments: [("/silent", "--http1.1"), ("/silent", "--http2"), ("/partial-length", "--http1.1"),
                      ("/partial-chunked", "--http2")])
    func aStalledHTTP1OriginTimesOut(path: String, clientFlag: String) async throws {
        let origin = try FaultOrigin()
        defer { origin.kill() }
        try await Self.withMappedProxy(port: origin.port, caFile: origin.caFile, responseTimeout: 3) { proxy in
            let started = Date()
            let result = try proxy.curl(["-i", "--cacert", proxy.rootFile, clientFlag, "https://origin.test\(path)"])
            let elapsed = Date().timeIntervalSince(started)
            #expect(elapsed >= 3 && elapsed < 30, "cut by the 3 s response timeout, not by curl (60 s): \(elapsed) s")
            let error = try proxy.waitForEvent { $0.type == .error }
            #expect(error.cause == .upstreamTimeout && error.url == "https://origin.test\(path)", "\(error)")
            if path == "/silent" {
                #expect(result.status == 0 && result.stdout.contains(" 504") && result.stdout.hasSuffix("intercept-proxy: timed out waiting 3 s for a response from origin.test\n"), "\(result)")
                #expect(error.status == 504)
            } else {
                Self.expectCut(result, clientFlag: clientFlag)
                #expect(error.status == nil && error.detail?.hasSuffix("timed out waiting 3 s for a response from origin.test") == true, "\(error)")
            }
            let after = try proxy.curl(["--cacert", proxy.rootFile, clientFlag, "https://origin.test/after"])
            #expect(after.stdout == "origin saw /after\n", "the proxy keeps serving: \(after)")
            Self.waitUntilNoConnection(proxy)
        }
    }

    @Test(arguments: ["--http2"])
    func aStalledH2OriginTimesOutMidStream(clientFlag: String) async throws {
        let origin = try MappedOrigin()
        let server = try H2OriginServer(chain: origin.chain)
        defer { server.stop() }
        // 3 s, as above: the follow-up download must not run into it.
        try await Self.withMappedProxy(port: server.port, caFile: origin.caFile, responseTimeout: 3) { proxy in
            let scratch = try TemporaryDirectory(), output = scratch.path("body")
            let result = try proxy.curl(["--cacert", proxy.rootFile, clientFlag, "--no-buffer", "-o", output, "https://origin.test/hold/3000"])
            Self.expectCut(result, clientFlag: clientFlag)
            #expect(Self.fileSize(output) == 3000)
            let error = try proxy.waitForEvent { $0.type == .error }
            #expect(error.cause == .upstreamTimeout && error.status == nil && error.url == "https://origin.test/hold/3000", "\(error)")
            let after = try proxy.curl(["--cacert", proxy.rootFile, clientFlag, "-o", "/dev/null", "-w", "%{http_code} %{size_download}", "https://origin.test/bytes/5000"])
            #expect(after.stdout == "200 5000", "the proxy keeps serving: \(after)")
            Self.waitUntilNoConnection(proxy)
        }
    }
}
