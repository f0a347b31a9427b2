import Foundation
import Testing
import TestSupport

/// The entries of a HAR file, after checking its log header.
func harEntries(_ path: String) throws -> [[String: Any]] {
    let document = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: path))) as! [String: Any]
    let log = document["log"] as! [String: Any]
    #expect(log["version"] as? String == "1.2")
    #expect((log["creator"] as? [String: String])?["name"] == "intercept-proxy")
    return log["entries"] as! [[String: Any]]
}

/// The proxy as CI runs it: a background process with a ready file, a flow log and a SIGTERM at the end.
@Suite struct RunCommandTests {
    @Test func readyFileFlowLogAndGracefulStop() throws {
        let scratch = try TemporaryDirectory()
        let flows = scratch.path("flows.jsonl"), har = scratch.path("flows.har")
        // The default subcommand (no `run`), as CI scripts often start it.
        let proxy = try ProxyProcess(["--offline", "--har", har], command: [], caDirectory: .at(scratch.path("ca")), flows: .file(flows))
        let info = proxy.info
        let port = info["port"] as! Int
        #expect(info["pid"] as? Int == Int(proxy.process.pid))
        #expect(info["host"] as? String == "127.0.0.1")
        #expect(info["profile"] as? String == "zscaler")
        let root = info["caCertificate"] as! String
        #expect(root == scratch.path("ca") + "/zscaler/root-ca.pem")

        let rejected = try run("curl", ["-sS", "-x", "http://127.0.0.1:\(port)", "https://ci.example/"])
        #expect(rejected.status == 60)
        let trusted = try run("curl", ["-sS", "-x", "http://127.0.0.1:\(port)", "--cacert", root, "https://ci.example/"])
        #expect(trusted.status == 0 && trusted.stdout.contains("ci.example"), "\(trusted)")

        // SIGUSR1 writes the HAR while running (and says nothing: the file is looked for).
        proxy.process.signal(SIGUSR1)
        eventually(timeout: 10) { FileManager.default.fileExists(atPath: har) }
        #expect(try harEntries(har).count == 1)
        let second = try run("curl", ["-sS", "--http1.1", "-x", "http://127.0.0.1:\(port)", "--cacert", root, "https://ci.example/second?x=1"])
        #expect(second.status == 0)

        let ended = proxy.terminate()
        #expect(ended == .exited(0), "\(ended.map(\.description) ?? "running")")
        let banner = proxy.process.stdout
        #expect(banner.hasPrefix("intercept-proxy listening on 127.0.0.1:\(port) (profile zscaler, offline); clients must trust \(root)"), "\(banner)")

        let lines = try String(contentsOfFile: flows, encoding: .utf8).split(separator: "\n")
        let events = try lines.map { try JSONSerialization.jsonObject(with: Data($0.utf8)) as! [String: Any] }
        let types = events.map { $0["type"] as! String }
        #expect(types.filter { $0 == "tunnel_opened" }.count == 3)
        #expect(types.filter { $0 == "tunnel_closed" }.count == 3, "\(types)")
        // Timestamps are RFC 3339 UTC with milliseconds, and they are now.
        let parser = ISO8601DateFormatter()
        parser.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        for event in events {
            let time = event["time"] as? String ?? ""
            #expect(time.wholeMatch(of: /\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z/) != nil, "\(time)")
            #expect(parser.date(from: time).map { abs($0.timeIntervalSinceNow) < 120 } == true, "\(time)")
        }

        // The HAR written at shutdown holds both exchanges in HAR 1.2 shape.
        let entries = try harEntries(har)
        #expect(entries.count == 2)
        let last = entries[1]
        let request = last["request"] as! [String: Any], response = last["response"] as! [String: Any]
        #expect(request["method"] as? String == "GET" && request["url"] as? String == "https://ci.example/second?x=1")
        #expect((request["queryString"] as? [[String: String]])?.first?["name"] == "x")
        #expect((request["headers"] as? [[String: String]])?.contains { $0["name"] == "Host" } == true)
        #expect(response["status"] as? Int == 200 && response["statusText"] as? String == "OK")
        #expect(((response["content"] as? [String: Any])?["mimeType"] as? String)?.hasPrefix("text/plain") == true)
        #expect((last["startedDateTime"] as? String).flatMap(parser.date(from:)) != nil, "\(last)")
        #expect(last["startedDateTime"] is String && last["time"] is Double && last["timings"] is [String: Any])
        #expect(last["cache"] is [String: Any])
        #expect(events.contains { $0["type"] as? String == "tls_failed" && $0["cause"] as? String == "unknown_ca" && $0["host"] as? String == "ci.example" })
        #expect(events.contains { $0["type"] as? String == "response" && $0["status"] as? Int == 200 })
    }
}

/// Upstream name resolution failing, inside a private network namespace: only loopback exists
/// there, so the lookup fails at once and nothing leaves the machine.
@Suite struct DNSFailureTests {
    @Test func unresolvableHostGets502NamingTheLookup() throws {
        let scratch = try TemporaryDirectory()
        _ = try requireTool("unshare")
        _ = try requireTool("ip")
        // A copy of the run's shared CA: no key generation before the proxy is ready.
        try FileManager.default.copyItem(atPath: try ProxyProcess.sharedCA(), toPath: scratch.path("ca"))
        // Ready within 30 s, as ProxyProcess allows, or the script says so and fails.
        let script = """
            set -e
            ip link set lo up
            "$1" --port 0 --ca-dir "$2/ca" --ready-file "$2/ready.json" >"$2/proxy.log" 2>&1 &
            pid=$!
            for i in $(seq 600); do [ -f "$2/ready.json" ] && break; sleep 0.05; done
            [ -f "$2/ready.json" ] || { echo "the proxy was not ready within 30 s:" >&2; cat "$2/proxy.log" >&2; kill $pid; exit 97; }
            port=$(python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["port"])' "$2/ready.json")
            curl -sS -i --suppress-connect-headers --max-time 20 -x "http://127.0.0.1:$port" --cacert "$2/ca/zscaler/root-ca.pem" https://nowhere.test/ || true
            kill $pid
            """
        let result = try run("unshare", ["-rn", "sh", "-c", script, "sh", CLI.binary, scratch.url.path])
        #expect(result.status != 97, "\(result)")
        // curl speaks h2 to the proxy by default: the 502 arrives on the stream.
        #expect(result.stdout.hasPrefix("HTTP/2 502"), "\(result)")
        #expect(result.stdout.contains("DNS lookup for nowhere.test failed: "), "\(result)")
    }
}
