import Foundation
import Testing
import TestSupport

/// `--block`: a gateway's policy answers a forbidden URL with its own HTML page and a 403 after the
/// TLS handshake; clients that expect JSON or a package index fail on it as they do at work.
@Suite struct BlockPageTests {
    private func proxy() throws -> ProxyProcess {
        try ProxyProcess(["--offline", "--block", "*.blocked.test", "--block", "registry.npmjs.org=netskope"])
    }

    @Test func blockedHostsGetTheVendorsPageWithA403AndOthersDoNot() throws {
        let proxy = try proxy()
        defer { proxy.stop() }
        let blocked = try proxy.curl(["-w", "\n%{http_code} %{content_type}", "https://pypi.blocked.test/simple/<x>?a=\"b\""])
        #expect(blocked.stdout.hasSuffix("403 text/html; charset=utf-8"), "\(blocked)")
        #expect(blocked.stdout.contains("<title>Website blocked</title>") && blocked.stdout.contains("selected Zscaler"), "\(blocked)")
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
        let npm = try run("npm", ["view", "left-pad", "--registry", "https://registry.npmjs.org/", "--cafile", proxy.root],
                          environment: cleanEnvironment(["HTTPS_PROXY": "http://127.0.0.1:\(proxy.port)", "npm_config_cache": scratch.path("npm")]),
                          timeout: 120)
        #expect(npm.stderr.contains("npm error code E403") && npm.stderr.contains("403 Forbidden - GET https://registry.npmjs.org/left-pad"), "\(npm)")
        var environment = cleanEnvironment(["HTTPS_PROXY": "http://127.0.0.1:\(proxy.port)"])
        environment["PIP_FIND_LINKS"] = nil  // this machine's local wheel directory would answer instead
        let pip = try run("python3", ["-m", "pip", "download", "--cert", proxy.root, "--no-deps", "--no-cache-dir",
                                      "--index-url", "https://pypi.blocked.test/simple/", "-d", scratch.path("dl"), "requests"],
                          environment: environment, timeout: 120)
        #expect(pip.status != 0 && pip.stderr.contains("Could not find a version that satisfies the requirement requests (from versions: none)"), "\(pip)")
        #expect(!pip.output.contains("CERTIFICATE_VERIFY_FAILED"), "\(pip)")
    }

    @Test func badRulesAreUsageErrors() throws {
        let empty = try CLI.run(["run", "--offline", "--block", "=zscaler"])
        #expect(empty.status == 2 && empty.stderr.contains("--block takes HOSTPATTERN or HOSTPATTERN=VENDOR, got '=zscaler'"), "\(empty)")
        let vendor = try CLI.run(["run", "--offline", "--block", "x.test=squid"])
        #expect(vendor.status == 2 && vendor.stderr.contains("unknown vendor 'squid'; choose one of: zscaler, netskope, fortinet, umbrella"), "\(vendor)")
    }
}
