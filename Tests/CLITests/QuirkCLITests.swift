import Foundation
import Testing
import TestSupport

/// `--quirk` end to end: the quirky CA beside the textbook one, clear errors, and a proxy whose chain
/// a strict client refuses with the root trusted while curl accepts it (the failure users meet after
/// installing their gateway's root the right way).
@Suite struct QuirkCLITests {
    @Test func caInitKeepsAQuirkyCABesideTheTextbookOne() throws {
        let scratch = try TemporaryDirectory()
        let directory = scratch.path("ca")
        let plain = try CLI.run(["ca", "init", "--ca-dir", directory])
        #expect(plain.status == 0, "\(plain)")
        let quirky = try CLI.run(["ca", "init", "--ca-dir", directory, "--quirk", "leaf-no-aki", "--quirk", "bc-not-critical"])
        #expect(quirky.status == 0, "\(quirky)")
        let folder = "\(directory)/zscaler+bc-not-critical+leaf-no-aki"
        #expect(FileManager.default.fileExists(atPath: "\(folder)/root-ca.pem"), "\(quirky)")
        #expect(try String(contentsOfFile: "\(directory)/zscaler/root-ca.pem", encoding: .utf8) !=
                String(contentsOfFile: "\(folder)/root-ca.pem", encoding: .utf8))
        let text = try run("openssl", ["x509", "-noout", "-text", "-in", "\(folder)/root-ca.pem"]).stdout
        #expect(text.contains("X509v3 Basic Constraints: \n"), "\(text)")
    }

    @Test func unknownAndMisplacedQuirksAreUsageErrors() throws {
        let scratch = try TemporaryDirectory()
        let unknown = try CLI.run(["ca", "init", "--ca-dir", scratch.path("ca"), "--quirk", "no-such-quirk"])
        #expect(unknown.status == 2, "\(unknown)")
        #expect(unknown.stderr.contains("unknown quirk 'no-such-quirk'; choose one of: bc-not-critical, intermediate-no-aki"), "\(unknown)")
        let misplaced = try CLI.run(["ca", "init", "--ca-dir", scratch.path("ca"), "--profile", "plain", "--quirk", "sha1-intermediate"])
        #expect(misplaced.status == 2, "\(misplaced)")
        #expect(misplaced.stderr.contains("quirk sha1-intermediate changes the intermediates, and profile plain has none"), "\(misplaced)")
        let listed = try CLI.run(["profiles"])
        for name in ["bc-not-critical", "leaf-no-aki", "v1-root", "issuer-string-type", "cn-trailing-space", "expired-cross-sign"] {
            #expect(listed.stdout.contains("  \(name) "), "\(listed)")
        }
    }

    @Test func aStrictClientRefusesWhatCurlAcceptsWithTheRootTrusted() throws {
        let proxy = try ProxyProcess(["--offline", "--quirk", "bc-not-critical"], caDirectory: .fresh)
        defer { proxy.stop() }
        #expect(proxy.root.hasSuffix("/zscaler+bc-not-critical/root-ca.pem"), "\(proxy.root)")
        let curl = try proxy.curl(["https://pypi.org/simple/"])
        #expect(curl.status == 0 && curl.stdout.contains("so this client trusts"), "\(curl)")
        let script = """
            import ssl, sys, urllib.request
            context = ssl.create_default_context(cafile=sys.argv[2])
            context.verify_flags |= ssl.VERIFY_X509_STRICT  # Python 3.13's default
            opener = urllib.request.build_opener(urllib.request.ProxyHandler({"https": sys.argv[1]}), urllib.request.HTTPSHandler(context=context))
            try:
                opener.open("https://pypi.org/simple/", timeout=20)
                print("trusted")
            except Exception as error:
                print(error)
            """
        let python = try run("python3", ["-c", script, "http://127.0.0.1:\(proxy.port)", proxy.root], environment: cleanEnvironment())
        #expect(python.stdout.contains("[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed: Basic Constraints of CA cert not marked critical"), "\(python)")
        // explain sends the user to ca lint, which names the defect and every verifier it trips.
        let explained = try CLI.run(["explain", "--ca-file", proxy.root, "-"], input: python.stdout)
        #expect(explained.stdout.contains("intercept-proxy ca lint \(proxy.root)"), "\(explained)")
        let lint = try CLI.run(["ca", "lint", proxy.root])
        #expect(lint.status == 1 && lint.stdout.contains("REFUSES  Python 3.13+") && lint.stdout.contains("accepts  Go"), "\(lint)")
    }

    @Test func aSHA1LeafIsRefusedByCurlAtDebiansSecurityLevel() throws {
        let proxy = try ProxyProcess(["--offline", "--quirk", "sha1-leaf"], caDirectory: .fresh)
        defer { proxy.stop() }
        let curl = try proxy.curl(["https://pypi.org/simple/"])
        #expect(curl.status == 60 && curl.stderr.contains("curl: (60) SSL certificate problem: CA signature digest algorithm too weak"), "\(curl)")
    }
}

/// `ca lint` on what users have: a chain captured with `openssl s_client -showcerts`, a root file, a directory.
@Suite struct CALintCLITests {
    @Test func aCapturedChainNamesTheVerifiersThatRefuseIt() throws {
        let proxy = try ProxyProcess(["--offline", "--quirk", "issuer-string-type"], caDirectory: .fresh)
        defer { proxy.stop() }
        let captured = try run("openssl", ["s_client", "-showcerts", "-proxy", "127.0.0.1:\(proxy.port)", "-connect", "pypi.org:443",
                                           "-servername", "pypi.org"], input: "")
        #expect(captured.stdout.contains("-----BEGIN CERTIFICATE-----"), "\(captured)")
        let files = try TemporaryDirectory()
        let file = try files.write("captured.txt", captured.stdout)
        let lint = try CLI.run(["ca", "lint", file])
        #expect(lint.status == 1, "\(lint)")
        #expect(lint.stdout.contains("REFUSES  Go "), "\(lint)")
        #expect(lint.stdout.contains("REFUSES  rustls/webpki"), "\(lint)")
        #expect(lint.stdout.contains("accepts  OpenSSL 3"), "\(lint)")
        #expect(lint.stdout.contains("the issuer name is encoded differently from its CA's subject"), "\(lint)")
        #expect(lint.stdout.contains("ask IT to reissue with: issuer names copied byte for byte"), "\(lint)")
    }

    @Test func theProjectsOwnCAIsAcceptedByAllAndJSONSaysWhy() throws {
        let scratch = try TemporaryDirectory()
        let own = try CLI.run(["ca", "lint", "--ca-dir", scratch.path("ca"), "--profile", "netskope"])
        #expect(own.status == 0 && own.stdout.contains("accepted by all"), "\(own)")
        let quirky = try CLI.run(["ca", "lint", "--ca-dir", scratch.path("ca"), "--quirk", "bc-not-critical", "--json"])
        #expect(quirky.status == 1, "\(quirky)")
        let report = try JSONSerialization.jsonObject(with: Data(quirky.stdout.utf8)) as? [String: Any]
        #expect(report?["refusedBy"] as? [String] == ["python-strict"], "\(quirky)")
        let root = try CLI.run(["ca", "lint", "\(scratch.path("ca"))/zscaler+bc-not-critical/root-ca.pem"])
        #expect(root.status == 1 && root.stdout.contains("basicConstraints is not marked critical"), "\(root)")
        let directory = try CLI.run(["ca", "lint", "\(scratch.path("ca"))/netskope"])
        #expect(directory.status == 0 && directory.stdout.contains("accepted by all"), "\(directory)")
        let missing = try CLI.run(["ca", "lint", scratch.path("nothing.pem")])
        #expect(missing.status == 2 && missing.stderr.contains("no such file or directory"), "\(missing)")
    }
}

/// explain on what the real verifiers said about the quirks (the README table's notes, written by
/// QuirkVerifierTests from their output): each is a defect of the gateway's CA, not a missing root.
@Suite struct QuirkExplainTests {
    @Test func everyQuirkRefusalIsExplainedAsACADefect() throws {
        let readme = try String(contentsOfFile: "README.md", encoding: .utf8)
        guard let start = readme.range(of: "<!-- quirk-table:start"), let end = readme.range(of: "<!-- quirk-table:end -->") else {
            Issue.record("README.md has no quirk table")
            return
        }
        let notes = readme[start.upperBound..<end.lowerBound].split(separator: "\n").compactMap { line -> String? in
            guard let tick = line.firstIndex(of: "`"), line.first?.isNumber == true, line.hasSuffix("`") else { return nil }
            return String(line[line.index(after: tick)..<line.index(before: line.endIndex)])
        }
        #expect(notes.count >= 15, "\(notes)")
        // A byte-different issuer name reads as an unknown issuer to Go and rustls: their words are
        // those of a missing root, and only `ca lint` on the chain can tell the two apart.
        let indistinguishable = ["x509: certificate signed by unknown authority", "invalid peer certificate: UnknownIssuer"]
        for note in notes where !indistinguishable.contains(note) {
            let explained = try CLI.run(["explain", "--json", note])
            let report = try JSONSerialization.jsonObject(with: Data(explained.stdout.utf8)) as? [String: Any]
            #expect(report?["cause"] as? String == "non-strict-ca", "\(note): \(explained)")
            #expect((report?["fix"] as? [String])?.first?.hasPrefix("intercept-proxy ca lint") == true, "\(note): \(explained)")
        }
    }
}
