import CertForge
import Foundation
import Testing
import TestSupport

/// `ca lint` on the roots real gateways ship (RealWorldShapes.swift): each re-created root has the
/// layout that was read, lint's per-family prediction is the one docs/certificates.md lists, and
/// every verifier on this machine does what lint predicts for its family.
@Suite struct RealWorldShapeTests {
    @Test(arguments: RealWorldShape.all)
    func theRootHasTheLayoutThatWasRead(shape: RealWorldShape) throws {
        let root = try shape.forge().trustAnchor
        let files = try TemporaryDirectory()
        let path = try files.write("root.pem", root.pemString)
        let text = try run("openssl", ["x509", "-noout", "-text", "-in", path]).stdout
            + run("openssl", ["asn1parse", "-in", path]).stdout
            + "\(Int((root.notAfter.timeIntervalSince(root.notBefore) / 86_400).rounded())) days"
        for fact in shape.layout {
            if fact.hasPrefix("!") {
                #expect(!text.contains(fact.dropFirst()), "\(shape.name): '\(fact.dropFirst())' should be absent\n\(text)")
            } else {
                #expect(text.contains(fact), "\(shape.name): '\(fact)' missing\n\(text)")
            }
        }
    }

    @Test(arguments: RealWorldShape.all)
    func lintPredictsWhatTheRealVerifiersDo(shape: RealWorldShape) throws {
        let chain = try shape.forge()
        let refusals = ChainLint(chain.sentCertificates + [chain.trustAnchor]).refusals()
        #expect(Set(refusals.keys.map(\.key)) == shape.refusedBy, "\(shape.name): \(refusals)")
        for verifier in ChainVerifier.allCases {
            let family = ChainLintTests.family[verifier]!
            let verdict = try verifier.verdict(chain)
            if let findings = refusals.first(where: { $0.key.key == family })?.value {
                #expect(verdict != nil, "\(shape.name) x \(verifier.rawValue): lint predicts \(findings.map(\.defect)), the verifier accepted")
            } else {
                #expect(verdict == nil, "\(shape.name) x \(verifier.rawValue): lint predicts acceptance, the verifier said '\(verdict ?? "")'")
            }
        }
    }
}
