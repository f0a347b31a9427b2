import CertForge
import Foundation
import Testing
import TestSupport

/// The proxy binary with a flow log file the test chooses, optionally under `wrapper` (e.g. `unshare`).
private func flowLogProxy(flows: String, arguments: [String] = ["--offline"], wrapper: [String] = []) throws -> ProxyProcess {
    try ProxyProcess(arguments, flows: .file(flows), wrapper: wrapper)
}

extension ProxyProcess {
    /// How many lines of the output contain `text`.
    func lines(containing text: String) -> Int { output.split(separator: "\n").filter { $0.contains(text) }.count }

    /// A plain request the proxy answers itself (offline): the proxy serves.
    func expectServesPlainHTTP(_ host: String, sourceLocation: SourceLocation = #_sourceLocation) throws {
        let result = try run("curl", ["-sS", "--max-time", "10", "-x", "http://127.0.0.1:\(port)", "http://\(host)/"])
        #expect(result.status == 0 && result.stdout.contains("request: GET http://\(host)/"), "\(result)", sourceLocation: sourceLocation)
    }
}

/// The flow log's JSON lines (a torn line, after a full disk, is skipped and counted).
private func flowEvents(_ path: String) throws -> (events: [[String: Any]], unreadable: Int) {
    ProxyProcess.parse((try? String(contentsOfFile: path, encoding: .utf8)) ?? "")
}

/// The flow log when writing it fails or its file goes away, and SIGTERM in the middle of traffic.
@Suite struct FaultCLITests {
    static let fullDiskLine = "writing the flow log /dev/full failed: No space left on device; events are not written to it (they are still recorded in memory) until a write succeeds again"

    /// Before: FileHandle.write trapped on ENOSPC and the first request killed the proxy.
    @Test func aFullDiskIsReportedOnceAndTheProxyGoesOn() throws {
        let scratch = try TemporaryDirectory(), har = scratch.path("flows.har")
        let proxy = try flowLogProxy(flows: "/dev/full", arguments: ["--offline", "--har", har])
        for index in 0..<20 { try proxy.expectServesPlainHTTP("host\(index).example") }
        #expect(proxy.process.isRunning)
        #expect(eventually { proxy.lines(containing: Self.fullDiskLine) >= 1 }, "the line reaches the test through a pipe")
        #expect(proxy.lines(containing: Self.fullDiskLine) == 1, "one line, not one per event:\n\(proxy.output)")
        #expect(proxy.lines(containing: "flow log") == 1, "\(proxy.output)")
        // The events in memory are whole: the HAR (SIGUSR1) has every exchange.
        proxy.process.signal(SIGUSR1)
        #expect(eventually { FileManager.default.fileExists(atPath: har) })
        let document = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: har))) as? [String: Any]
        let entries = (document?["log"] as? [String: Any])?["entries"] as? [[String: Any]] ?? []
        #expect(entries.count == 20, "\(entries.count) HAR entries")
        #expect(proxy.terminate() == .exited(0), "\(proxy.output)")
    }

    /// A tmpfs of 64 KiB in a mount namespace of the proxy's own (`unshare`), filled by the test
    /// through /proc/PID/root, then emptied: the log says once that writing failed, once that it
    /// resumed (with how many events were lost), and events after that are in the file.
    @Test func aFlowLogOnAFullFileSystemResumesWhenSpaceComesBack() throws {
        let mountPoint = try TemporaryDirectory()
        let flows = mountPoint.path("flows.jsonl")
        let unshare = getuid() == 0 ? ["unshare", "--mount", "--propagation", "private"] : ["unshare", "--map-root-user", "--mount", "--propagation", "private"]
        let script = "mount -t tmpfs -o size=64k tmpfs \"$0\" && exec \"$@\""
        let proxy = try flowLogProxy(flows: flows, wrapper: unshare + ["sh", "-c", script, mountPoint.url.path])
        let inside = "/proc/\(proxy.pid)/root\(flows)"
        let filler = "/proc/\(proxy.pid)/root\(mountPoint.path("filler"))"
        try proxy.expectServesPlainHTTP("before.example")
        #expect(eventually { (try? flowEvents(inside).events.count) ?? 0 >= 2 }, "the flow log is on the tmpfs")

        let fill = try run("sh", ["-c", "dd if=/dev/zero of=\"$0\" bs=4k 2>&1; test -s \"$0\"", filler])
        #expect(fill.output.contains("No space left on device"), "\(fill)")
        for index in 0..<10 { try proxy.expectServesPlainHTTP("full\(index).example") }
        #expect(eventually { proxy.lines(containing: "failed: No space left on device") >= 1 }, "the line reaches the test through a pipe")
        #expect(proxy.lines(containing: "failed: No space left on device") == 1, "\(proxy.output)")

        try FileManager.default.removeItem(atPath: filler)
        try proxy.expectServesPlainHTTP("after.example")
        // The log says so as it happens: waited for on the proxy's output.
        #expect((try? proxy.process.waitForOutput(timeout: 10, "the resumed line") { stdout, stderr in
            (stdout + stderr).split(separator: "\n").filter { $0.contains("is written again") }.count == 1
        }) != nil, "\(proxy.output)")
        #expect(proxy.output.contains("the flow log \(flows) is written again (it had failed: No space left on device); "), "\(proxy.output)")
        // The notice follows the first batch written again, which may hold the request line alone.
        #expect(eventually { (try? flowEvents(inside).events.contains { ($0["url"] as? String) == "http://after.example/" && $0["type"] as? String == "response" }) == true })
        let (events, unreadable) = try flowEvents(inside)
        #expect(unreadable <= 1, "at most the one line torn by the full disk")
        #expect(proxy.terminate() == .exited(0), "\(proxy.output)")
    }

    /// `--flows -` into a pipe nobody reads any more: EPIPE is reported once, and the SIGPIPE it
    /// raises does not kill the proxy (before: exit by SIGPIPE on the first event).
    @Test func flowsToAClosedStdoutPipeAreReportedOnceAndTheProxyGoesOn() throws {
        // stdout is a pipe whose reader is gone before the proxy starts; the banner and log go to stderr.
        let proxy = try ProxyProcess(["--offline"], flows: .stdout, stdout: .closedPipe)
        for index in 0..<5 {
            let result = try run("curl", ["-sS", "--max-time", "10", "-x", "http://127.0.0.1:\(proxy.port)", "http://pipe\(index).example/"])
            #expect(result.status == 0 && result.stdout.contains("request: GET http://pipe\(index).example/"), "\(result)")
        }
        #expect(proxy.process.isRunning, "not killed by SIGPIPE")
        #expect(eventually { proxy.process.stderr.contains("writing the flow log (stdout) failed: Broken pipe") }, "the line reaches the test through a pipe")
        let log = proxy.process.stderr
        #expect(log.split(separator: "\n").filter { $0.contains("writing the flow log (stdout) failed: Broken pipe") }.count == 1, "\(log)")
        let ended = proxy.terminate()
        #expect(ended == .exited(0), "\(ended.map(\.description) ?? "running")")
    }

    @Test func aRemovedFlowFileIsCreatedAgain() throws {
        let scratch = try TemporaryDirectory(), flows = scratch.path("flows.jsonl")
        let proxy = try flowLogProxy(flows: flows)
        try proxy.expectServesPlainHTTP("first.example")
        #expect(eventually { (try? flowEvents(flows).events.count) ?? 0 >= 2 })
        try FileManager.default.removeItem(atPath: flows)
        try proxy.expectServesPlainHTTP("second.example")
        #expect(eventually { FileManager.default.fileExists(atPath: flows) }, "created again")
        #expect(eventually { (try? flowEvents(flows).events.contains { $0["type"] as? String == "response" }) == true })
        let urls = try flowEvents(flows).events.compactMap { $0["url"] as? String }
        #expect(urls.allSatisfy { $0 == "http://second.example/" } && !urls.isEmpty, "only what came after the removal: \(urls)")
        // The warning reaches the test through the proxy's stderr pipe, possibly after the events reach the file.
        #expect(eventually { proxy.lines(containing: "the flow log \(flows) was removed while the proxy ran; it is created again and events go on there") == 1 }, "\(proxy.output)")
        try proxy.expectServesPlainHTTP("third.example")
        #expect(eventually { (try? flowEvents(flows).events.compactMap { $0["url"] as? String }.contains("http://third.example/")) == true })
        #expect(proxy.lines(containing: "was removed") == 1, "one line for one removal")
        #expect(proxy.terminate() == .exited(0))
    }
}

/// SIGTERM in the middle of mixed traffic (keep-alive HTTP/1.1, h2 streams, slow downloads that
/// outlast the 5 s grace period): exit 0, every `request` in the flow log has its end (`response`
/// or `error`, cause `shutdown` for those cut), and every HAR entry has its response.
@Suite struct ShutdownUnderLoadTests {
    /// A curl config fetching `url` `count` times into /dev/null.
    static func curlConfig(_ scratch: TemporaryDirectory, _ name: String, url: String, count: Int) throws -> String {
        try scratch.write(name, String(repeating: "url = \"\(url)\"\noutput = \"/dev/null\"\n", count: count))
    }

    @Test func sigtermMidLoadExitsZeroAndEveryFlowHasItsEnd() throws {
        let authority = try CertificateAuthority.generate(profile: .plain.with(keyAlgorithm: .ecdsaP256))
        let scratch = try TemporaryDirectory()
        let caFile = try scratch.write("origin-ca.pem", authority.rootCertificate.pemString)
        let origin = try NginxOrigin(chain: try LeafForge(authority: authority).chain(for: "origin.test"),
                                     files: ["small": Array("small response\n".utf8)], sparse: ["big": 64 << 20, "mid": 512 << 10])
        defer { origin.stop() }
        let flows = scratch.path("flows.jsonl"), har = scratch.path("flows.har")
        let proxy = try flowLogProxy(flows: flows, arguments: ["--har", har, "--map-remote", "origin.test:443=127.0.0.1:\(origin.port)", "--upstream-ca", caFile])
        let common = ["-sS", "--max-time", "60", "--suppress-connect-headers", "-x", "http://127.0.0.1:\(proxy.port)", "--cacert", proxy.root]
        let keepAlive = try start("curl", common + ["--http1.1", "--parallel", "--parallel-max", "4",
                                                    "--config", try Self.curlConfig(scratch, "ka.curlrc", url: "https://origin.test/small", count: 4000)])
        let streams = try start("curl", common + ["--http2", "--parallel", "--parallel-max", "50",
                                                  "--config", try Self.curlConfig(scratch, "h2.curlrc", url: "https://origin.test/small", count: 4000)])
        let slow = try ["--http1.1", "--http2"].map { flag in
            try start("curl", common + [flag, "--limit-rate", "1M", "-o", "/dev/null", "-w", "%{size_download}", "https://origin.test/big"])
        }
        let finishing = try start("curl", common + ["--http2", "--limit-rate", "1M", "-o", "/dev/null", "-w", "%{http_code} %{size_download}", "https://origin.test/mid"])
        let busy = try eventually(timeout: 30) {
            let events = try flowEvents(flows).events.filter { $0["type"] as? String == "request" }
            return events.count >= 300 && events.filter { ($0["url"] as? String)?.hasSuffix("/big") == true }.count == 2
                && events.contains { ($0["url"] as? String)?.hasSuffix("/mid") == true }
        }
        #expect(busy, "load under way before the SIGTERM")
        #expect(proxy.terminate() == .exited(0), "\(proxy.output.suffix(2000))")
        for client in [keepAlive, streams] { _ = try client.wait(timeout: 60) }

        // What the clients saw: the 64 MiB downloads (more than the socket buffers hold) cut at the grace period; the one
        // that fits in the grace period complete.
        for client in slow {
            let result = try client.wait(timeout: 60)
            #expect(result.status != 0 && Int(result.stdout).map { $0 < 64 << 20 } == true, "\(result)")
        }
        let finished = try finishing.wait(timeout: 60)
        #expect(finished.status == 0 && finished.stdout == "200 \(512 << 10)", "\(finished)")

        let (events, unreadable) = try flowEvents(flows)
        #expect(unreadable == 0)
        func key(_ event: [String: Any]) -> String { "\(event["connection"] as? Int ?? -1)/\(event["streamId"] as? Int ?? 0)" }
        var open: [String: Int] = [:]
        for event in events {
            switch event["type"] as? String {
            case "request": open[key(event), default: 0] += 1
            case "response": open[key(event), default: 0] -= 1
            case "error" where event["url"] != nil: open[key(event), default: 0] -= 1
            default: break
            }
        }
        let requests = events.filter { $0["type"] as? String == "request" }.count
        let responses = events.filter { $0["type"] as? String == "response" }.count
        #expect(requests >= 300)
        #expect(open.filter { $0.value != 0 }.isEmpty, "flows without exactly one end (connection/stream: requests - ends): \(open.filter { $0.value != 0 })")
        let shutdowns = events.filter { $0["cause"] as? String == "shutdown" }
        #expect(shutdowns.filter { ($0["url"] as? String)?.hasSuffix("/big") == true }.count == 2, "\(shutdowns)")

        let document = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: har))) as? [String: Any]
        let entries = (document?["log"] as? [String: Any])?["entries"] as? [[String: Any]] ?? []
        #expect(entries.count == responses, "a HAR entry for every response: \(entries.count) of \(responses)")
        #expect(entries.allSatisfy { (($0["response"] as? [String: Any])?["status"] as? Int ?? 0) >= 200 })
    }
}
