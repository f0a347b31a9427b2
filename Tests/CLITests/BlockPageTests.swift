import Foundation
import Testing
import TestSupport

/// `--block`: a gateway's policy answers a forbidden URL with its own HTML page after the TLS
/// handshake, with a 403 or (forcepoint) a 200; clients that expect JSON or a package index fail on
/// it as they do at work, and `explain` names the block, not a certificate, from what they printed.
@Suite struct BlockPageTests {
    private func proxy(npm vendor: String = "netskope") throws -> ProxyProcess {
        try ProxyProcess(["--offline", "--block", "*.blocked.test", "--block", "registry.npmjs.org=\(vendor)"])
    }

    /// What `explain --json` makes of a client's stderr.
    private func explained(_ text: String) throws -> [String: Any] {
        let result = try CLI.run(["explain", "--json", "-"], input: text)
        try #require(result.status == 0, "\(result)")
        return try #require(try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any])
    }

    private func npmView(through proxy: ProxyProcess, cache: String) throws -> ProcessResult {
        try run("npm", ["view", "left-pad", "--registry", "https://registry.npmjs.org/", "--cafile", proxy.root],
                environment: cleanEnvironment(["HTTPS_PROXY": "http://127.0.0.1:\(proxy.port)", "npm_config_cache": cache]), timeout: 120)
    }

    @Test func blockedHostsGetTheVendorsPageWithA403AndOthersDoNot() throws {
        let proxy = try proxy()
        defer { proxy.stop() }
        let blocked = try proxy.curl(["-w", "\n%{http_code} %{content_type}", "https://pypi.blocked.test/simple/<x>?a=\"b\""])
        #expect(blocked.stdout.hasSuffix("403 text/html; charset=utf-8"), "\(blocked)")
        #expect(blocked.stdout.contains("<title>Website blocked</title>") && blocked.stdout.contains("selected Zscaler"), "\(blocked)")
        #expect(blocked.stdout.contains("a zscaler-style block page, HTTP 403"), "\(blocked)")
        // What the client sent comes back escaped, never as markup.
        #expect(blocked.stdout.contains("/simple/&lt;x&gt;?a=&quot;b&quot;") && !blocked.stdout.contains("<x>"), "\(blocked)")
        let netskope = try proxy.curl(["-w", "\n%{http_code}", "https://registry.npmjs.org/left-pad"])
        #expect(netskope.stdout.hasSuffix("403") && netskope.stdout.contains("Netskope has blocked your access"), "\(netskope)")
        let open = try proxy.curl(["-w", "\n%{http_code}", "https://pypi.org/simple/"])
        #expect(open.stdout.hasSuffix("200"), "\(open)")
        // Plain HTTP is blocked too; over h2 the same page comes back.
        let plain = try run("curl", ["-sS", "-x", "http://127.0.0.1:\(proxy.port)", "-w", "\n%{http_code}", "http://www.blocked.test/"])
        #expect(plain.stdout.hasSuffix("403"), "\(plain)")
        let h2 = try run("curl", ["-sS", "--http2", "-x", "http://127.0.0.1:\(proxy.port)", "--cacert", proxy.root,
                                  "-w", "\n%{http_version} %{http_code}", "https://h2.blocked.test/"], environment: cleanEnvironment())
        #expect(h2.stdout.hasSuffix("2 403") && h2.stdout.contains("Website blocked"), "\(h2)")
    }

    @Test func npmAndPipFailOnThePageAsTheyDoAtWork() throws {
        let proxy = try proxy()
        defer { proxy.stop() }
        let scratch = try TemporaryDirectory()
        let npm = try npmView(through: proxy, cache: scratch.path("npm"))
        #expect(npm.stderr.contains("npm error code E403") && npm.stderr.contains("403 Forbidden - GET https://registry.npmjs.org/left-pad"), "\(npm)")
        var environment = cleanEnvironment(["HTTPS_PROXY": "http://127.0.0.1:\(proxy.port)"])
        environment["PIP_FIND_LINKS"] = nil  // this machine's local wheel directory would answer instead
        let pip = try run("python3", ["-m", "pip", "download", "--cert", proxy.root, "--no-deps", "--no-cache-dir",
                                      "--index-url", "https://pypi.blocked.test/simple/", "-d", scratch.path("dl"), "requests"],
                          environment: environment, timeout: 120)
        #expect(pip.status != 0 && pip.stderr.contains("Could not find a version that satisfies the requirement requests (from versions: none)"), "\(pip)")
        #expect(!pip.output.contains("CERTIFICATE_VERIFY_FAILED"), "\(pip)")
        // What they printed, pasted into explain: the block, not a certificate.
        let npmExplained = try explained(npm.stderr)
        #expect(npmExplained["cause"] as? String == "blocked-by-policy" && npmExplained["client"] as? String == "npm", "\(npmExplained)")
        #expect(((npmExplained["keyedLine"] as? [String: Any])?["text"] as? String)?.contains("403 Forbidden - GET") == true, "\(npmExplained)")
        let pipExplained = try explained(pip.stderr)
        #expect(pipExplained["cause"] as? String == "blocked-by-policy" && pipExplained["client"] as? String == "pip", "\(pipExplained)")
        let pipFix = try #require(pipExplained["fix"] as? [String])
        #expect(pipFix.contains { $0.contains("/simple/requests/") && $0.contains("no such package") }, "\(pipFix)")
    }

    /// Forcepoint's page comes with a 200, as Websense's reached npm (npm/npm#14619): npm parses
    /// the HTML as the registry's JSON, the "invalid json" people meet at work.
    @Test func aPageSentAs200IsInvalidJSONToNpm() throws {
        let proxy = try proxy(npm: "forcepoint")
        defer { proxy.stop() }
        let page = try proxy.curl(["-w", "\n%{http_code}", "https://registry.npmjs.org/left-pad"])
        #expect(page.stdout.hasSuffix("200") && page.stdout.contains("Forcepoint") && page.stdout.contains("block page, HTTP 200"), "\(page)")
        let scratch = try TemporaryDirectory()
        let npm = try npmView(through: proxy, cache: scratch.path("npm"))
        #expect(npm.status != 0 && npm.stderr.contains("invalid json response body at https://registry.npmjs.org/left-pad reason: Unexpected token '<'"),
                "\(npm)")
        let explanation = try explained(npm.stderr)
        #expect(explanation["cause"] as? String == "blocked-by-policy" && explanation["client"] as? String == "npm", "\(explanation)")
        #expect(((explanation["keyedLine"] as? [String: Any])?["text"] as? String)?.contains("invalid json response body") == true, "\(explanation)")
        let fix = try #require(explanation["fix"] as? [String])
        #expect(fix.contains { $0.hasPrefix("curl -sS https://registry.npmjs.org/ | head") }, "\(fix)")
        // The people's report names no store or root: no certificate change helps.
        let report = try CLI.run(["explain", "-"], input: npm.stderr)
        #expect(report.status == 0 && report.stdout.contains("not a certificate problem") && !report.stdout.contains("how to get your gateway's root"), "\(report)")
    }

    @Test func badRulesAreUsageErrors() throws {
        let empty = try CLI.run(["run", "--offline", "--block", "=zscaler"])
        #expect(empty.status == 2 && empty.stderr.contains("--block takes HOSTPATTERN or HOSTPATTERN=VENDOR, got '=zscaler'"), "\(empty)")
        let vendor = try CLI.run(["run", "--offline", "--block", "x.test=squid"])
        #expect(vendor.status == 2 && vendor.stderr.contains("unknown vendor 'squid'; choose one of: zscaler, netskope, fortinet, umbrella, forcepoint"), "\(vendor)")
    }
}
