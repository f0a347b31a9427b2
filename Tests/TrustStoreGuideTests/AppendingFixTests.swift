import Foundation
import Testing
import TestSupport
import TrustStoreGuide

/// Every fix the project prints adds the gateway root to what the client trusts: a setting that
/// replaces the client's roots never names the root alone (it would break every host the gateway
/// does not inspect, and CI without the gateway), and each one that names a bundle says why.
@Suite struct AppendingFixTests {
    static let caFile = "/gw/root.pem"

    /// The lines, each with where it came from, that set nothing to the root alone.
    private func expectAppending(_ lines: [String], _ origin: String, sourceLocation: SourceLocation = #_sourceLocation) {
        for line in lines {
            let violations = ReplacingSetting.violations(in: line, caFile: Self.caFile)
            #expect(violations.isEmpty, "\(origin): \(violations) set to the gateway root alone: \(line)", sourceLocation: sourceLocation)
        }
        for (index, line) in lines.enumerated() where line.contains(CombinedBundle.path) || line.contains(CombinedBundle.windowsPath) {
            #expect(lines[...index].contains { $0.contains("replaces the client's roots") }, "\(origin): \(line) comes without the warning", sourceLocation: sourceLocation)
        }
    }

    @Test func theCheckerCatchesEveryReplacingForm() {
        for line in ["export SSL_CERT_FILE=/gw/root.pem", "export REQUESTS_CA_BUNDLE=/gw/root.pem   # note", "$env:REQUESTS_CA_BUNDLE = \"/gw/root.pem\"",
                     "git config --global http.sslCAInfo /gw/root.pem", "conda config --set ssl_verify /gw/root.pem", "npm config set cafile /gw/root.pem",
                     "curl --cacert /gw/root.pem https://x", "ENV PIP_CERT=/gw/root.pem", "# or: pip config set global.cert /gw/root.pem",
                     "# php.ini: curl.cainfo = \"/gw/root.pem\"", "helm repo add --ca-file /gw/root.pem a b", "uv pip install --cert /gw/root.pem x",
                     "apt-get -o Acquire::https::CaInfo=/gw/root.pem update"] {
            #expect(!ReplacingSetting.violations(in: line, caFile: Self.caFile).isEmpty, "\(line)")
        }
        for line in ["export NODE_EXTRA_CA_CERTS=/gw/root.pem", "wget --ca-certificate=/gw/root.pem URL", "keytool -importcert -file /gw/root.pem -cacerts",
                     "openssl verify -x509_strict -CAfile /gw/root.pem /gw/root.pem", "export SSL_CERT_FILE=\"$HOME/.local/share/gateway-ca/ca-bundle.pem\""] {
            #expect(ReplacingSetting.violations(in: line, caFile: Self.caFile).isEmpty, "\(line)")
        }
    }

    @Test func everyClientSnippetAppends() {
        for snippet in ClientSnippet.all {
            expectAppending(snippet.render(caFile: Self.caFile).split(separator: "\n").map(String.init), "snippet --client \(snippet.client)")
        }
    }

    @Test func everyExplainFixAppendsInEveryContext() {
        let contexts: [ErrorExplanation.Context] = [.shell, .macOS, .windows, .dockerBuild(distro: nil), .dockerBuild(distro: "alpine"), .dockerDaemon]
        // Every cause in a shell, and every place for the cause that installs the root.
        let combinations = ErrorExplanation.Cause.allCases.map { ($0, ErrorExplanation.Context.shell) }
            + contexts.map { (ErrorExplanation.Cause.untrustedRootNotSent, $0) }
        for family in ClientFamily.all {
            for (cause, context) in combinations {
                let explanation = ErrorExplanation(family: family, cause: cause, context: context)
                expectAppending(explanation.fix(caFile: Self.caFile), "explain \(family.id) \(cause.rawValue) \(context.id)")
            }
        }
    }

    /// The line that builds the bundle writes nothing when its base is missing (a bundle of the
    /// gateway root alone is what it exists to avoid): the setting then names a missing file.
    @Test func theBundleIsNotBuiltWithoutItsBase() throws {
        let scratch = FileManager.default.temporaryDirectory.appendingPathComponent("bundle-\(UUID())")
        try FileManager.default.createDirectory(at: scratch, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: scratch) }
        try "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n".write(to: scratch.appendingPathComponent("root.pem"), atomically: true, encoding: .utf8)
        let snippet = try #require(ClientSnippet.named("requests")).render(caFile: scratch.appendingPathComponent("root.pem").path)
        let build = try #require(snippet.split(separator: "\n").first { $0.hasPrefix("mkdir -p") })
        for (path, built) in [("/usr/bin:/bin", false), (ProcessInfo.processInfo.environment["PATH"] ?? "", true)] {
            // /usr/bin:/bin: python3 -m certifi fails (no certifi there).
            try run("/bin/sh", ["-c", String(build)], environment: ["HOME": scratch.path, "PATH": path])
            let bundle = scratch.appendingPathComponent(".local/share/gateway-ca/ca-bundle.pem").path
            #expect(FileManager.default.fileExists(atPath: bundle) == built, "PATH \(path): \(build)")
            try? FileManager.default.removeItem(atPath: bundle)
        }
    }
}
