import CertForge
import Foundation
import Testing
import TestSupport

/// Every quirk against every real verifier on this machine, with the gateway root trusted the right
/// way: each cell is what that verifier really does (accepts, or refuses in its own words). The
/// README's table is made from these verdicts (INTERCEPT_PROXY_WRITE_QUIRK_TABLE=1 rewrites it), and
/// the test fails when the two differ, so the table cannot drift from the verifiers.
@Suite struct QuirkVerifierTests {
    /// What each verifier says, where it refuses; every other cell is an acceptance.
    static let refusals: [Quirk: [ChainVerifier: String]] = {
        let strict = { (text: String) -> [ChainVerifier: String] in
            [.opensslStrict: text, .pythonStrict: "certificate verify failed: \(text)"]
        }
        let sha1: [ChainVerifier: String] = [
            .openssl: "CA signature digest algorithm too weak", .opensslStrict: "CA signature digest algorithm too weak",
            .python: "certificate verify failed: CA signature digest algorithm too weak",
            .pythonStrict: "certificate verify failed: CA signature digest algorithm too weak",
            .curl: "SSL certificate problem: CA signature digest algorithm too weak",
            .node: "CA signature digest algorithm too weak",
            .go: "x509: cannot verify signature: insecure algorithm SHA1-RSA",
            .uv: "invalid peer certificate: UnsupportedSignatureAlgorithmContext",
        ]
        return [
            .basicConstraintsNotCritical: strict("Basic Constraints of CA cert not marked critical"),
            .intermediateWithoutAKI: strict("Missing Authority Key Identifier"),
            .leafWithoutAKI: strict("Missing Authority Key Identifier"),
            .withoutSKI: strict("Missing Authority Key Identifier"),
            .caWithoutKeyUsage: strict("Path length given without key usage keyCertSign"),
            .pathLengthWithoutKeyCertSign: [
                .openssl: "invalid CA certificate", .opensslStrict: "invalid CA certificate",
                .python: "certificate verify failed: invalid CA certificate",
                .pythonStrict: "certificate verify failed: invalid CA certificate",
                .curl: "SSL certificate problem: invalid CA certificate",
                .node: "key usage does not include certificate signing",
                .go: "x509: invalid signature: parent certificate cannot sign this kind of certificate",
                .java: "does not have keyCertSign bit set in KeyUsage extension",
            ],
            .criticalPolicies: [.uv: "invalid peer certificate: Other(OtherError(UnsupportedCriticalExtension))"],
            .sha1Intermediate: sha1,
            .sha1Leaf: sha1,
            .version1Root: strict("Missing Authority Key Identifier"),
            .issuerStringType: [.go: "x509: certificate signed by unknown authority", .uv: "invalid peer certificate: UnknownIssuer"],
        ]
    }()

    static let readme = "README.md"
    static let start = "<!-- quirk-table:start (made by QuirkVerifierTests; INTERCEPT_PROXY_WRITE_QUIRK_TABLE=1 make test rewrites it) -->"
    static let end = "<!-- quirk-table:end -->"

    @Test func everyQuirkAgainstEveryVerifier() async throws {
        // Four chains at a time: each cell starts a process, a few start servers.
        let verdicts = try await withThrowingTaskGroup(of: (Quirk, [ChainVerifier: String?]).self) { group in
            var pending = Quirk.allCases[...]
            var result: [Quirk: [ChainVerifier: String?]] = [:]
            func next() {
                guard let quirk = pending.popFirst() else { return }
                group.addTask {
                    let authority = try CertificateAuthority.generate(profile: ChainProfile.zscaler.with(quirks: [quirk]))
                    let chain = try LeafForge(authority: authority).forge(ServerName("localhost"))
                    var row: [ChainVerifier: String?] = [:]
                    for verifier in ChainVerifier.allCases { row[verifier] = try verifier.verdict(chain) }
                    return (quirk, row)
                }
            }
            for _ in 0..<4 { next() }
            while let (quirk, row) = try await group.next() {
                result[quirk] = row
                next()
            }
            return result
        }
        for quirk in Quirk.allCases {
            for verifier in ChainVerifier.allCases {
                let verdict = verdicts[quirk]?[verifier] ?? "no verdict"
                if let expected = Self.refusals[quirk]?[verifier] {
                    #expect(verdict?.contains(expected) == true, "\(quirk.rawValue) x \(verifier.rawValue): expected a refusal with '\(expected)', got \(verdict ?? "acceptance")")
                } else {
                    #expect(verdict == nil, "\(quirk.rawValue) x \(verifier.rawValue): expected acceptance, got '\(verdict ?? "")'")
                }
            }
        }
        let table = Self.table(verdicts)
        let readme = try String(contentsOfFile: Self.readme, encoding: .utf8)
        guard let startRange = readme.range(of: Self.start), let endRange = readme.range(of: Self.end) else {
            Issue.record("\(Self.readme) has no quirk table markers")
            return
        }
        let current = String(readme[startRange.upperBound..<endRange.lowerBound])
        if ProcessInfo.processInfo.environment["INTERCEPT_PROXY_WRITE_QUIRK_TABLE"] == "1" {
            try (readme[..<startRange.upperBound] + table + readme[endRange.lowerBound...]).write(toFile: Self.readme, atomically: true, encoding: .utf8)
        } else {
            #expect(current == table, "the README's quirk table differs from what the verifiers did; rewrite it with INTERCEPT_PROXY_WRITE_QUIRK_TABLE=1")
        }
    }

    /// Markdown: ✓ accepted, ✗ with a numbered note quoting the verifier.
    static func table(_ verdicts: [Quirk: [ChainVerifier: String?]]) -> String {
        var notes: [String] = []
        var lines = ["", "| quirk (`--quirk`) | " + ChainVerifier.allCases.map(\.rawValue).joined(separator: " | ") + " |",
                     "|---|" + ChainVerifier.allCases.map { _ in ":-:|" }.joined()]
        for quirk in Quirk.allCases {
            let cells = ChainVerifier.allCases.map { verifier -> String in
                guard let text = verdicts[quirk]?[verifier] ?? "no verdict" else { return "✓" }
                let quoted = "`" + text.replacingOccurrences(of: "`", with: "'").replacingOccurrences(of: "|", with: "/") + "`"
                if let index = notes.firstIndex(of: quoted) { return "✗ \(index + 1)" }
                notes.append(quoted)
                return "✗ \(notes.count)"
            }
            lines.append("| `\(quirk.rawValue)` | " + cells.joined(separator: " | ") + " |")
        }
        lines.append("")
        lines += notes.enumerated().map { "\($0 + 1). \($1)" }
        lines.append("")
        return lines.joined(separator: "\n") + "\n"
    }
}
