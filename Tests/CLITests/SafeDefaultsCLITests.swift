import Foundation
import Testing
import TestSupport

/// The binary with a ready file and a flow log, its output (stdout and stderr) kept.
final class RunningProxy: @unchecked Sendable {
    let scratch: TemporaryDirectory
    let server: BackgroundProcess
    let port: Int
    let pid: Int
    let rootFile: String
    var flowsPath: String { scratch.path("flows.jsonl") }
    var readyPath: String { scratch.path("ready.json") }

    init(_ arguments: [String], environment: [String: String] = [:], caDirectory: String? = nil) throws {
        scratch = try TemporaryDirectory()
        server = try BackgroundProcess(CLI.binary, ["run", "--port", "0", "--offline", "--ready-file", scratch.path("ready.json"),
                                                    "--ca-dir", caDirectory ?? scratch.path("ca"), "--flows", scratch.path("flows.jsonl")] + arguments,
                                       environment: cleanEnvironment(environment))
        _ = try server.waitFor("intercept-proxy listening on")
        let info = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: scratch.path("ready.json")))) as! [String: Any]
        port = info["port"] as! Int
        pid = info["pid"] as! Int
        rootFile = info["caCertificate"] as! String
    }

    func curl(_ arguments: [String]) throws -> ProcessResult {
        try run("curl", ["-sS", "--http1.1", "--max-time", "20", "-x", "http://127.0.0.1:\(port)", "--cacert", rootFile] + arguments)
    }

    var flows: String { (try? String(contentsOfFile: flowsPath, encoding: .utf8)) ?? "" }

    func events(cause: String) throws -> [[String: Any]] {
        try flows.split(separator: "\n").map { try JSONSerialization.jsonObject(with: Data($0.utf8)) as! [String: Any] }
            .filter { $0["cause"] as? String == cause }
    }

    func stop() { server.stop(signal: SIGTERM) }
}

/// `--allow-clients`, `--proxy-auth` (and its variable) and `ca init --name-constraints`, end to end.
@Suite struct SafeDefaultsCLITests {
    @Test func allowClientsRefusesLoopbackWhenOnlyAnotherNetworkIsAllowed() throws {
        let proxy = try RunningProxy(["--listen-host", "0.0.0.0", "--allow-clients", "10.0.0.0/8", "--allow-clients", "fd00::/8"])
        defer { proxy.stop() }
        let refused = try proxy.curl(["https://refused.example/"])
        #expect(refused.status == 56 && refused.stderr.contains("CONNECT tunnel failed, response 403"), "\(refused)")
        // The event and the log line are written by different threads: wait for both.
        let line = "refused 1 connection with 403 from 127.0.0.1, outside --allow-clients"
        let deadline = Date() + 5
        while try (proxy.events(cause: "client_not_allowed").isEmpty || !proxy.server.output.contains(line)) && Date() < deadline { usleep(50_000) }
        let events = try proxy.events(cause: "client_not_allowed")
        #expect(events.count == 1 && events.first?["status"] as? Int == 403, "\(events)")
        #expect(proxy.server.output.contains(line), "\(proxy.server.output)")

        let usage = try CLI.run(["run", "--allow-clients", "10.0.0.1/8"])
        #expect(usage.status == 64 || usage.status == 2, "\(usage)")
        #expect(usage.stderr.contains("--allow-clients '10.0.0.1/8' has host bits set; did you mean 10.0.0.0/8?"), "\(usage)")
    }

    @Test func proxyAuthFromTheEnvironmentIsRequiredAndNeverPrinted() throws {
        let password = "env-Secret-93kd"
        let proxy = try RunningProxy(["--listen-host", "0.0.0.0"], environment: ["INTERCEPT_PROXY_PROXY_AUTH": "ci:\(password)"])
        defer { proxy.stop() }
        let missing = try proxy.curl(["https://auth.example/"])
        #expect(missing.status == 56 && missing.stderr.contains("CONNECT tunnel failed, response 407"), "\(missing)")
        let wrong = try proxy.curl(["--proxy-user", "ci:wrong", "https://auth.example/"])
        #expect(wrong.status == 56 && wrong.stderr.contains("CONNECT tunnel failed, response 407"), "\(wrong)")
        // Listening on 0.0.0.0 without --allow-clients: loopback is among the default ranges.
        let good = try proxy.curl(["--proxy-user", "ci:\(password)", "https://auth.example/", "http://auth.example/plain"])
        #expect(good.status == 0 && good.stdout.contains("request: GET https://auth.example/") && good.stdout.contains("request: GET http://auth.example/plain"), "\(good)")
        proxy.stop()

        #expect(try proxy.events(cause: "proxy_auth_required").count == 1)
        #expect(try proxy.events(cause: "proxy_auth_failed").count == 1)
        let encoded = Data("ci:\(password)".utf8).base64EncodedString()
        let ready = try String(contentsOfFile: proxy.readyPath, encoding: .utf8)
        for (what, text) in [("flow log", proxy.flows), ("output", proxy.server.output), ("ready file", ready)] {
            #expect(!text.contains(password) && !text.contains(encoded), "\(what): \(text)")
        }
        #expect(!proxy.flows.lowercased().contains("\"proxy-authorization\""), "\(proxy.flows)")

        let usage = try CLI.run(["run", "--proxy-auth", "nocolon"])
        #expect(usage.stderr.contains("--proxy-auth takes USER:PASS, got a value without a colon") && !usage.stderr.contains("nocolon"), "\(usage)")
    }

    @Test func nameConstrainedCAThroughTheProxy() throws {
        let scratch = try TemporaryDirectory()
        let directory = scratch.path("ca")
        let created = try CLI.run(["ca", "init", "--ca-dir", directory, "--name-constraints", ".test,.example,corp.internal"])
        #expect(created.status == 0 && created.stdout.contains("names         permitted DNS:test, DNS:example, DNS:corp.internal; excluded IP:0.0.0.0/0.0.0.0"), "\(created)")
        let shown = try CLI.run(["ca", "show", "--json", "--ca-dir", directory])
        let json = try JSONSerialization.jsonObject(with: Data(shown.stdout.utf8)) as! [String: Any]
        #expect((json["nameConstraints"] as? String)?.hasPrefix("permitted DNS:test, DNS:example, DNS:corp.internal;") == true, "\(shown)")
        let kept = try CLI.run(["ca", "init", "--ca-dir", directory, "--name-constraints", "other.test"])
        #expect(kept.stderr.contains("--name-constraints applies to a new CA only; the existing root has permitted DNS:test"), "\(kept)")
        let bad = try CLI.run(["ca", "init", "--ca-dir", scratch.path("other"), "--name-constraints", "10.0.0.0/8"])
        #expect(bad.status != 0 && bad.stderr.contains("at least one DNS name is needed"), "\(bad)")

        let proxy = try RunningProxy([], caDirectory: directory)
        defer { proxy.stop() }
        for host in ["api.test", "corp.internal", "www.example"] {
            let result = try proxy.curl(["https://\(host)/"])
            #expect(result.status == 0 && result.stdout.contains("request: GET https://\(host)/"), "\(result)")
        }
        // Outside: still forged (as a real gateway would), but curl's OpenSSL refuses it, and the proxy says why once.
        for _ in 0..<2 {
            let outside = try proxy.curl(["https://outside.com/"])
            #expect(outside.status == 60 && outside.stderr.hasPrefix("curl: (60) SSL certificate problem: permitted subtree violation\n"), "\(outside)")
        }
        let warning = "the certificate forged for outside.com is outside the CA's name constraints (permitted subtree violation): clients that enforce them will reject it"
        #expect(proxy.server.output.components(separatedBy: warning).count == 2, "\(proxy.server.output)")
        #expect(!proxy.server.output.contains("forged for api.test"))
        #expect(proxy.server.output.contains("rejected the certificate for outside.com: certificate_unknown; the certificate is outside the CA's name constraints (permitted subtree violation), see ca init --name-constraints"), "\(proxy.server.output)")
    }
}
