import Foundation
import Testing
import TrustStoreGuide

/// Real error texts from public issue threads (Resources/explain-corpus.json, source per entry):
/// each must be explained with the right client, cause and context, keyed on the right line,
/// with a fix that holds the expected commands. Every mismatch is reported, not just the first.
@Suite struct ExplainCorpusTests {
    struct Entry: Decodable {
        struct Source: Decodable {
            let repository: String
            let url: String
        }
        let id: String
        let source: Source
        let client: String
        let cause: String
        let context: String
        let fix: [String]
        let keyed: String
        let text: String
    }

    static let caFile = "/etc/gw/root.pem"

    static let entries: [Entry] = {
        let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Resources/explain-corpus.json")
        struct Corpus: Decodable { let entries: [Entry] }
        do {
            return try JSONDecoder().decode(Corpus.self, from: Data(contentsOf: url)).entries
        } catch {
            Issue.record("cannot read \(url.path): \(error)")
            return []
        }
    }()

    @Test func corpusIsLargeSourcedAndCoversEveryFamily() {
        #expect(Self.entries.count >= 60)
        for entry in Self.entries {
            #expect(entry.source.url.hasPrefix("https://github.com/\(entry.source.repository)/"), "\(entry.id): \(entry.source.url)")
            #expect(entry.source.url.contains("/issues/") || entry.source.url.contains("/pull/"), "\(entry.id)")
        }
        let families: Set<String> = [
            "pip", "poetry", "conda", "requests", "httpx", "aiohttp", "python", "npm", "yarn", "pnpm", "node", "node-fetch", "bun", "deno",
            "uv", "cargo", "rustup", "dnf", "r", "php", "curl", "wget", "apt", "apk", "go", "docker", "podman", "kubectl", "helm",
            "terraform", "maven", "gradle", "java", "dotnet", "git", "gem", "bundler", "openssl",
        ]
        #expect(families.subtracting(Self.entries.map(\.client)).isEmpty, "no entry for \(families.subtracting(Self.entries.map(\.client)).sorted())")
        let contexts: Set<String> = ["shell", "macos", "windows", "docker-build", "daemon", "vm:colima", "vm:podman-machine", "vm:docker-desktop-windows",
                                     "container", "pinned"]
        #expect(contexts.subtracting(Self.entries.map(\.context)).isEmpty)
        let causes = Set(ErrorExplanation.Cause.allCases.map(\.rawValue)).subtracting(["ca-as-leaf"])
        #expect(causes.subtracting(Self.entries.map(\.cause)).isEmpty, "no entry for \(causes.subtracting(Self.entries.map(\.cause)).sorted())")
    }

    @Test func everyEntryGetsItsClientCauseContextKeyedLineAndFix() {
        var mismatches: [String] = []
        for entry in Self.entries {
            guard let explanation = ErrorExplanation.explain(entry.text) else {
                mismatches.append("\(entry.id): not recognised")
                continue
            }
            var problems: [String] = []
            if explanation.client != entry.client { problems.append("client \(explanation.client), want \(entry.client)") }
            if explanation.cause.rawValue != entry.cause { problems.append("cause \(explanation.cause.rawValue), want \(entry.cause)") }
            if explanation.context.id != entry.context { problems.append("context \(explanation.context.id), want \(entry.context)") }
            if !explanation.errorLine.text.contains(entry.keyed) {
                problems.append("keyed on line \(explanation.errorLine.number) \"\(explanation.errorLine.text)\", want a line with \"\(entry.keyed)\"")
            }
            let fix = explanation.fix(caFile: Self.caFile).joined(separator: "\n")
            for wanted in entry.fix where !fix.contains(wanted) { problems.append("fix lacks \"\(wanted)\"") }
            if !problems.isEmpty { mismatches.append("\(entry.id) (\(entry.source.url)): " + problems.joined(separator: "; ")) }
        }
        #expect(mismatches.isEmpty, Comment(rawValue: "\(mismatches.count) of \(Self.entries.count) entries differ:\n" + mismatches.joined(separator: "\n")))
    }

    /// No fix sets a store-replacing setting to the gateway root alone (AppendingFixTests walks
    /// every family; this walks what real texts get, hosts and CA files from the text included).
    @Test func everyFixAppendsTheRoot() {
        for entry in Self.entries {
            guard let explanation = ErrorExplanation.explain(entry.text) else { continue }
            for line in explanation.fix(caFile: Self.caFile) {
                #expect(ReplacingSetting.violations(in: line, caFile: Self.caFile).isEmpty, "\(entry.id): \(line)")
            }
        }
    }

    /// No printed fix may point at this project's generated CA, with or without --ca-file.
    @Test func reportsNeverNameThisProjectsCA() {
        for entry in Self.entries {
            guard let explanation = ErrorExplanation.explain(entry.text) else { continue }
            for report in [ExplainReport.render(explanation, caFile: nil), ExplainReport.render(explanation, caFile: Self.caFile)] {
                #expect(!report.contains("root-ca.pem") && !report.contains("zscaler/"), "\(entry.id)")
            }
            // Without --ca-file the placeholder shows where a root is part of the fix, and only there.
            #expect(ExplainReport.render(explanation, caFile: nil).contains(GatewayRoot.placeholder) == explanation.cause.involvesTheRoot, "\(entry.id)")
        }
    }
}
