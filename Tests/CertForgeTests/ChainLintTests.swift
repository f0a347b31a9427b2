import CertForge
import Foundation
import Testing
import TestSupport

/// `ChainLint` predicts from the certificates alone what the real verifiers do: for every quirk it
/// names exactly the families that refused it in QuirkVerifierTests (whose table is checked against
/// the verifiers themselves), and it finds nothing in the CAs the project ships.
@Suite struct ChainLintTests {
    /// The verifiers run here, by the family each belongs to.
    static let family: [ChainVerifier: String] = [
        .openssl: "openssl", .python: "openssl", .curl: "openssl", .node: "openssl",
        .opensslStrict: "python-strict", .pythonStrict: "python-strict", .go: "go", .java: "java", .uv: "rustls",
    ]
    /// Families with a verifier on this machine (Apple and schannel are predicted, not checked here).
    static let measured: Set<String> = ["openssl", "python-strict", "go", "java", "rustls"]

    @Test(arguments: Quirk.allCases)
    func predictsExactlyTheVerifiersThatRefuse(quirk: Quirk) throws {
        let authority = try CertificateAuthority.generate(profile: ChainProfile.zscaler.with(quirks: [quirk]))
        let chain = try LeafForge(authority: authority).forge(ServerName("localhost"))
        let lint = ChainLint(chain.sentCertificates + [chain.trustAnchor])
        let predicted = Set(lint.refusals().compactMap { family, findings -> String? in
            // The Go on this machine is 1.19: a refusal from a later version is not expected of it.
            if family == .go, findings.allSatisfy({ $0.refusals["go"]?.contains("(Go 1.23+)") == true }) { return nil }
            return Self.measured.contains(family.key) ? family.key : nil
        })
        let refused = Set((QuirkVerifierTests.refusals[quirk] ?? [:]).keys.compactMap { Self.family[$0] })
        #expect(predicted == refused, "\(quirk.rawValue): lint predicts \(predicted.sorted()), the verifiers refused \(refused.sorted()); findings: \(lint.findings())")
    }

    @Test func namesWhatOnlyOtherPlatformsRefuse() throws {
        for (quirk, family) in [(Quirk.longLeaf, "apple"), (.leafWithoutEKU, "apple"), (.negativeSerial, "go")] {
            let authority = try CertificateAuthority.generate(profile: ChainProfile.plain.with(quirks: [quirk]))
            let chain = try LeafForge(authority: authority).forge(ServerName("localhost"))
            let refusals = ChainLint(chain.sentCertificates + [chain.trustAnchor]).refusals()
            #expect(refusals.keys.map(\.key) == [family], "\(quirk): \(refusals)")
        }
    }

    @Test func namesAnExpiredCrossSignThatEveryFamilyStepsAround() throws {
        let authority = try CertificateAuthority.generate(profile: ChainProfile.zscaler.with(quirks: [.expiredCrossSign]))
        let chain = try LeafForge(authority: authority).forge(ServerName("localhost"))
        let lint = ChainLint(chain.sentCertificates + [chain.trustAnchor])
        let named = lint.findings().filter { $0.defect.hasPrefix("an expired cross-certificate of the root") }
        #expect(named.count == 1 && named.first?.refusals.isEmpty == true, "\(lint.findings())")
        #expect(lint.refusals().isEmpty)
        // Without the valid root beside it there is no second path to name (a captured chain alone).
        #expect(ChainLint(chain.sentCertificates).findings().isEmpty, "\(ChainLint(chain.sentCertificates).findings())")
    }

    @Test(arguments: ChainProfile.presets + [ChainProfile.publicStandIn])
    func theShippedCAsAreAcceptedByAll(profile: ChainProfile) throws {
        for algorithm in [KeyAlgorithm.rsa2048, .ecdsaP256] {
            let authority = try CertificateAuthority.generate(profile: profile.with(keyAlgorithm: algorithm))
            let chain = try LeafForge(authority: authority).forge(ServerName("shipped.example.test"))
            let findings = ChainLint(chain.sentCertificates + [chain.trustAnchor]).findings()
            #expect(findings.isEmpty, "\(profile) \(algorithm): \(findings)")
            #expect(ChainLint([authority.rootCertificate]).findings().isEmpty)
        }
    }
}
