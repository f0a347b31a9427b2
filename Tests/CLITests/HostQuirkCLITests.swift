import Foundation
import Testing
import TestSupport

/// `run --host-quirk`: a quirk on some hosts only, as a gateway whose chains differ by host (an
/// intermediate reissued for one service, a leaf profile for another). The same trusted root serves
/// every host, so a strict client fails on the quirky hosts only.
@Suite struct HostQuirkCLITests {
    static let strictClient = """
        import ssl, sys, urllib.request
        context = ssl.create_default_context(cafile=sys.argv[2])
        context.verify_flags |= ssl.VERIFY_X509_STRICT  # Python 3.13's default
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({"https": sys.argv[1]}), urllib.request.HTTPSHandler(context=context))
        for url in sys.argv[3:]:
            try:
                opener.open(url, timeout=20)
                print(url, "trusted")
            except Exception as error:
                print(url, error)
        """

    @Test func onlyTheMatchingHostsCarryTheQuirkUnderTheSameRoot() throws {
        let proxy = try ProxyProcess(["--offline", "--host-quirk", "pypi.org=bc-not-critical",
                                      "--host-quirk", "*.pythonhosted.org=leaf-no-aki"], caDirectory: .fresh)
        defer { proxy.stop() }
        let urls = ["https://pypi.org/simple/", "https://files.pythonhosted.org/x", "https://example.org/"]
        let python = try run("python3", ["-c", Self.strictClient, "http://127.0.0.1:\(proxy.port)", proxy.root] + urls,
                             environment: cleanEnvironment())
        let lines = python.stdout.split(separator: "\n").map(String.init)
        #expect(lines.count == 3, "\(python)")
        #expect(lines.first?.contains("certificate verify failed: Basic Constraints of CA cert not marked critical") == true, "\(python)")
        #expect(lines.dropFirst().first?.contains("certificate verify failed: Missing Authority Key Identifier") == true, "\(python)")
        #expect(lines.last == "https://example.org/ trusted", "\(python)")
        // curl (OpenSSL's default flags) accepts all three with the one root: the quirks are not failures.
        for url in urls {
            let curl = try proxy.curl([url])
            #expect(curl.status == 0 && curl.stdout.contains("so this client trusts"), "\(url): \(curl)")
        }
        // The re-signed intermediate keeps the name and key: the same root verifies it.
        let shown = try run("openssl", ["s_client", "-proxy", "127.0.0.1:\(proxy.port)", "-connect", "pypi.org:443",
                                        "-servername", "pypi.org", "-showcerts", "-CAfile", proxy.root], input: "")
        #expect(shown.output.contains("Verify return code: 0 (ok)"), "\(shown)")
    }

    @Test func rootQuirksAndOneCAProfilesAreRefusedWithTheReason() throws {
        let scratch = try TemporaryDirectory()
        let root = try CLI.run(["run", "--offline", "--ca-dir", scratch.path("ca"), "--host-quirk", "pypi.org=v1-root"])
        #expect(root.status != 0 && root.stderr.contains("quirk v1-root cannot be given per host: it changes the root, which every host shares"), "\(root)")
        let oneCA = try CLI.run(["run", "--offline", "--ca-dir", scratch.path("ca"), "--profile", "fortinet", "--host-quirk", "pypi.org=bc-not-critical"])
        #expect(oneCA.status != 0 && oneCA.stderr.contains("profile fortinet has only its root"), "\(oneCA)")
        // Intercepts re-signed per host would drop the name constraints the CA's intermediates carry.
        let constrained = scratch.path("constrained")
        let made = try CLI.run(["ca", "init", "--ca-dir", constrained, "--name-constraints", ".test,.org"])
        #expect(made.status == 0, "\(made)")
        let dropped = try CLI.run(["run", "--offline", "--ca-dir", constrained, "--host-quirk", "pypi.org=bc-not-critical"])
        #expect(dropped.status != 0 && dropped.stderr.contains("this CA has name constraints, which intermediates re-signed per host would not carry"), "\(dropped)")
        let unknown = try CLI.run(["run", "--offline", "--host-quirk", "pypi.org=no-such"])
        #expect(unknown.status == 2 && unknown.stderr.contains("--host-quirk pypi.org=no-such: unknown quirk 'no-such'"), "\(unknown)")
    }
}
