import Foundation
import Testing
import TestSupport

/// The binary, offline, with a ready file and its flow log on stdout; the log (stderr) kept.
private func runningProxy(_ arguments: [String], environment: [String: String] = [:], caDirectory: String? = nil) throws -> ProxyProcess {
    try ProxyProcess(["--offline"] + arguments, caDirectory: caDirectory.map { .at($0) } ?? .fresh, flows: .stdout, environment: environment)
}

extension ProxyProcess {
    /// The flow log's text so far.
    var flowLog: String { process.stdout }

    /// What the proxy logged so far (its stderr).
    var log: String { process.stderr }

    func events(cause: String) throws -> [[String: Any]] {
        try events().filter { $0["cause"] as? String == cause }
    }
}

/// `--allow-clients`, `--proxy-auth` (and its variable) and `ca init --name-constraints`, end to end.
@Suite struct SafeDefaultsCLITests {
    @Test func allowClientsRefusesLoopbackWhenOnlyAnotherNetworkIsAllowed() throws {
        let proxy = try runningProxy(["--listen-host", "0.0.0.0", "--allow-clients", "10.0.0.0/8", "--allow-clients", "fd00::/8"])
        let refused = try proxy.curl(["https://refused.example/"])
        #expect(refused.status == 56 && refused.stderr.contains("CONNECT tunnel failed, response 403"), "\(refused)")
        // The event and the log line are written by different threads: wait for both.
        let line = "refused 1 connection with 403 from 127.0.0.1, outside --allow-clients"
        _ = try? proxy.process.waitForOutput(timeout: 5, "the event and the log line") { flows, log in
            ProxyProcess.parse(flows).events.contains { $0["cause"] as? String == "client_not_allowed" } && log.contains(line)
        }
        let events = try proxy.events(cause: "client_not_allowed")
        #expect(events.count == 1 && events.first?["status"] as? Int == 403, "\(events)")
        #expect(proxy.log.contains(line), "\(proxy.log)")

        let usage = try CLI.run(["run", "--allow-clients", "10.0.0.1/8"])
        #expect(usage.status == 64 || usage.status == 2, "\(usage)")
        #expect(usage.stderr.contains("--allow-clients '10.0.0.1/8' has host bits set; did you mean 10.0.0.0/8?"), "\(usage)")
    }

    @Test func proxyAuthFromTheEnvironmentIsRequiredAndNeverPrinted() throws {
        let password = "env-Secret-93kd"
        let proxy = try runningProxy(["--listen-host", "0.0.0.0"], environment: ["INTERCEPT_PROXY_PROXY_AUTH": "ci:\(password)"])
        let missing = try proxy.curl(["https://auth.example/"])
        #expect(missing.status == 56 && missing.stderr.contains("CONNECT tunnel failed, response 407"), "\(missing)")
        let wrong = try proxy.curl(["--proxy-user", "ci:wrong", "https://auth.example/"])
        #expect(wrong.status == 56 && wrong.stderr.contains("CONNECT tunnel failed, response 407"), "\(wrong)")
        // Listening on 0.0.0.0 without --allow-clients: loopback is among the default ranges.
        let good = try proxy.curl(["--proxy-user", "ci:\(password)", "https://auth.example/", "http://auth.example/plain"])
        #expect(good.status == 0 && good.stdout.contains("request: GET https://auth.example/") && good.stdout.contains("request: GET http://auth.example/plain"), "\(good)")
        proxy.terminate()  // the flow log is complete once it has exited

        #expect(try proxy.events(cause: "proxy_auth_required").count == 1)
        #expect(try proxy.events(cause: "proxy_auth_failed").count == 1)
        let encoded = Data("ci:\(password)".utf8).base64EncodedString()
        let ready = try String(contentsOfFile: proxy.readyPath, encoding: .utf8)
        for (what, text) in [("flow log", proxy.flowLog), ("output", proxy.log), ("ready file", ready)] {
            #expect(!text.contains(password) && !text.contains(encoded), "\(what): \(text)")
        }
        #expect(!proxy.flowLog.lowercased().contains("\"proxy-authorization\""), "\(proxy.flowLog)")

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

        let proxy = try runningProxy([], caDirectory: directory)
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
        // Logged when the proxy reads each client's alert, and read by the test through a pipe.
        #expect(eventually { proxy.log.contains("rejected the certificate for outside.com") }, "\(proxy.log)")
        #expect(proxy.log.components(separatedBy: warning).count == 2, "\(proxy.log)")
        #expect(!proxy.log.contains("forged for api.test"))
        #expect(proxy.log.contains("rejected the certificate for outside.com: certificate_unknown; the certificate is outside the CA's name constraints (permitted subtree violation), see ca init --name-constraints"), "\(proxy.log)")
    }
}
