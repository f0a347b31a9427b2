@testable import CertForge
import Testing

/// Quirks for one host's chain (`--host-quirk`): the leaf's, or the intermediates' re-signed under
/// the same root with the same names and keys, so the one trusted root still anchors the chain.
@Suite struct HostQuirkTests {
    @Test func aHostsCAQuirkReSignsTheIntermediatesWithTheirKeys() throws {
        let authority = try CertificateAuthority.generate(profile: .zscaler)
        let forge = try LeafForge(authority: authority)
        let quirky = try forge.chain(for: ServerName("pypi.org"), quirks: [.basicConstraintsNotCritical])
        let plain = try forge.chain(for: ServerName("pypi.org"))
        #expect(plain.chain.allSatisfy { $0.basicConstraintsCritical == true })
        #expect(quirky.chain.count == plain.chain.count && quirky.chain.allSatisfy { $0.basicConstraintsCritical == false })
        for (resigned, original) in zip(quirky.chain, authority.intermediates.reversed().map(\.certificate)) {
            #expect(resigned.subjectDER == original.subjectDER)
            #expect(resigned.subjectKeyIdentifier == original.subjectKeyIdentifier)  // the same key
            #expect(resigned.derBytes != original.derBytes)
        }
        #expect(quirky.leaf.issuerDER == quirky.chain[0].subjectDER)
        #expect(quirky.trustAnchor === authority.root.certificate)
        // Cached apart from the textbook chain for the same name, and made once per set.
        #expect(try forge.chain(for: ServerName("pypi.org"), quirks: [.basicConstraintsNotCritical]).leaf === quirky.leaf)
        #expect(plain.leaf !== quirky.leaf)
    }

    @Test func aHostsLeafQuirkLeavesTheCAsAlone() throws {
        let authority = try CertificateAuthority.generate(profile: .zscaler)
        let chain = try LeafForge(authority: authority).forge(ServerName("pypi.org"), quirks: [.leafWithoutAKI, .sha1Leaf])
        #expect(chain.leaf.authorityKeyIdentifier == nil && chain.leaf.isSignedWithSHA1)
        #expect(chain.chain.map(\.derBytes) == authority.intermediates.reversed().map(\.certificate.derBytes))
    }

    @Test func aHostsExpiredCrossSignIsSentOnlyInItsChain() throws {
        let authority = try CertificateAuthority.generate(profile: .zscaler)
        let forge = try LeafForge(authority: authority)
        let crossed = try forge.chain(for: ServerName("pypi.org"), quirks: [.expiredCrossSign])
        #expect(crossed.chain.count == authority.intermediates.count + 1)
        let cross = try #require(crossed.chain.last)
        #expect(cross.subjectDER == authority.root.certificate.subjectDER && cross.notAfter < .now)
        #expect(try forge.chain(for: ServerName("example.org")).chain.count == authority.intermediates.count)
    }

    @Test func onlyQuirksSomeHostsCanCarryAreAccepted() throws {
        try Quirk.checkPerHost([.leafWithoutAKI, .criticalPolicies, .trailingSpaceName], profile: .zscaler)
        try Quirk.checkPerHost([.leafWithoutAKI, .negativeSerial, .expiredCrossSign], profile: .fortinet)
        #expect(throws: CertForgeError.quirkNotPerHost(quirk: "v1-root", reason: "it changes the root, which every host shares; give it to the whole CA with --quirk v1-root")) {
            try Quirk.checkPerHost([.version1Root], profile: .zscaler)
        }
        #expect(throws: CertForgeError.self) { try Quirk.checkPerHost([.basicConstraintsNotCritical], profile: .plain) }
    }
}
