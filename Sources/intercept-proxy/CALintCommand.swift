import ArgumentParser
import CertForge
import EssentialsSupport
import FoundationEssentials

extension CACommand {
    /// `ca lint`: predicts, from a gateway root or a captured chain, which verifiers will refuse it.
    struct Lint: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Predict which TLS verifiers refuse a gateway root or a captured chain, why, and what to ask IT for.",
            discussion: """
                Reads a PEM root, a chain captured with `openssl s_client -showcerts`, or a directory of PEM files. \
                Exit status 0 when every verifier family accepts it, 1 when one refuses, 2 on unreadable input.
                """)

        @Argument(help: ArgumentHelp("PEM file or directory; omit with --profile to lint this project's own CA.", valueName: "path"))
        var path: String?

        @OptionGroup var ca: CAOptions

        @Flag(help: "One JSON object instead of the table.")
        var json = false

        func run() throws {
            let (certificates, source) = try load()
            let lint = ChainLint(certificates)
            let findings = lint.findings()
            let refusals = lint.refusals()
            if json {
                try printJSON(source: source, findings: findings, refusals: refusals)
            } else {
                printTable(source: source, count: certificates.count, findings: findings, refusals: refusals)
            }
            if !refusals.isEmpty { throw ExitCode(1) }
        }

        private func load() throws -> ([Certificate], String) {
            guard let path else {
                let authority = try ca.loadAuthority(createIfMissing: true)
                let forge = try LeafForge(authority: authority)
                let chain = try forge.forge(ServerName("lint.intercept-proxy.test"))
                return (chain.sentCertificates + (chain.chain.contains { $0 === chain.trustAnchor } ? [] : [chain.trustAnchor]),
                        "profile \(authority.profile.storageName) (a leaf forged for lint.intercept-proxy.test, its chain and root)")
            }
            guard let status = FileStatus(path: path) else {
                throw ValidationError("\(path): no such file or directory")
            }
            let isDirectory = status.isDirectory
            let files = isDirectory
                ? try FileManager.default.contentsOfDirectory(atPath: path).sorted().map { "\(path)/\($0)" }
                    .filter { file in [".pem", ".crt", ".cer"].contains { file.hasSuffix($0) } }
                : [path]
            var certificates: [Certificate] = []
            for file in files {
                guard let text = try? String(contentsOfFile: file, encoding: .utf8), text.contains("-----BEGIN CERTIFICATE-----") else {
                    if isDirectory { continue }
                    throw ValidationError("\(file): no PEM certificate in it (a DER file: openssl x509 -inform der -in \(file) -out root.pem)")
                }
                do {
                    certificates += try Certificate.parsePEM(text, source: file)
                } catch let error as CertForgeError {
                    throw ValidationError(error.description)
                }
            }
            guard !certificates.isEmpty else { throw ValidationError("\(path): no PEM certificate found") }
            return (certificates, path)
        }

        private func printTable(source: String, count: Int, findings: [LintFinding], refusals: [VerifierFamily: [LintFinding]]) {
            print("\(source): \(count) certificate\(count == 1 ? "" : "s")")
            print(Terminal.table(VerifierFamily.allCases.map { family in
                guard let refused = refusals[family] else { return ("  accepts  \(family.rawValue)", "") }
                let words = refused.compactMap { $0.refusals[family.key] }
                return ("  REFUSES  \(family.rawValue)", "\"\(Array(Set(words)).sorted().joined(separator: "\"; \""))\"")
            }))
            if findings.isEmpty {
                print("accepted by all: no defect a verifier family here refuses")
                return
            }
            print("\nfindings:")
            for finding in findings {
                let who = VerifierFamily.allCases.filter { finding.refusals[$0.key] != nil }.map(\.key)
                print("  - \(finding.certificate): \(finding.defect)" + (who.isEmpty ? " (no verifier refuses it)" : " (refused by \(who.joined(separator: ", ")))"))
                print("      ask IT to reissue with: \(finding.reissue)")
                print("      meanwhile: \(finding.meanwhile)")
            }
        }

        private func printJSON(source: String, findings: [LintFinding], refusals: [VerifierFamily: [LintFinding]]) throws {
            struct Report: Encodable {
                let source: String
                let acceptedByAll: Bool
                let refusedBy: [String]
                let findings: [LintFinding]
            }
            let report = Report(source: source, acceptedByAll: refusals.isEmpty,
                                refusedBy: VerifierFamily.allCases.filter { refusals[$0] != nil }.map(\.key), findings: findings)
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
            print(String(decoding: try encoder.encode(report), as: UTF8.self))
        }
    }
}
