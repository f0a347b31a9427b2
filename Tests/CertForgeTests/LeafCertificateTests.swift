import CertForge
import Foundation
import Testing

/// The certificate rules of DESIGN.md, read back from the forged certificates.
@Suite struct LeafCertificateTests {
    @Test(arguments: Fixtures.presetsInBothFamilies)
    func chainHasTheProfileShape(profile: ChainProfile) throws {
        let authority = try Fixtures.authority(profile)
        let chain = try Fixtures.forge(profile).chain(for: "shape.example")
        let expectedIntermediates = profile.depth - 1
        #expect(authority.intermediates.count == expectedIntermediates)
        #expect(chain.chain.count == expectedIntermediates + (profile.sendsRoot ? 1 : 0))
        #expect(chain.chain.contains { $0 === authority.rootCertificate } == profile.sendsRoot)
        #expect(chain.trustAnchor === authority.rootCertificate)
        // Each certificate is issued by the next one in the sent order, and the last one by the root.
        let path = chain.sentCertificates + (profile.sendsRoot ? [] : [authority.rootCertificate])
        for (child, parent) in zip(path, path.dropFirst()) {
            #expect(child.issuer == parent.subject)
            #expect(child.isSigned(by: parent))
            #expect(child.authorityKeyIdentifier == parent.subjectKeyIdentifier)
            #expect(child.authorityKeyIdentifier != nil)
        }
        #expect(chain.leaf.publicKeyAlgorithm == profile.keyAlgorithm)
    }

    @Test(arguments: Fixtures.presetsInBothFamilies)
    func leafFollowsTheCertificateRules(profile: ChainProfile) throws {
        let authority = try Fixtures.authority(profile)
        let chain = try Fixtures.forge(profile).chain(for: "rules.example")
        let leaf = chain.leaf
        let now = Date()
        #expect(leaf.subjectAlternativeNames == [.dnsName("rules.example")])
        #expect(leaf.subject.commonName == "rules.example")
        #expect(!leaf.isCertificateAuthority)
        #expect(leaf.basicConstraintsCritical == true)
        #expect(leaf.keyUsage?.contains(.digitalSignature) == true)
        #expect(leaf.keyUsage?.contains(.keyCertSign) == false)
        #expect(leaf.allowsServerAuthentication)
        #expect(leaf.subjectKeyIdentifier != nil)
        #expect(leaf.subjectKeyIdentifier != authority.issuing.certificate.subjectKeyIdentifier)
        #expect(leaf.authorityKeyIdentifier == authority.issuing.certificate.subjectKeyIdentifier)
        #expect(leaf.hasPositiveSerialNumber)
        #expect(leaf.serialNumberHex.count == 32, "127-bit serial with the top bit set")
        #expect(leaf.signatureAlgorithm.lowercased().contains("sha256"))
        #expect(leaf.notBefore < now && leaf.notBefore > now - 2 * ChainProfile.day, "backdated a little")
        #expect(leaf.notAfter.timeIntervalSince(leaf.notBefore) < 398 * ChainProfile.day)
        #expect(leaf.notAfter > now + ChainProfile.day)
    }

    @Test(arguments: Fixtures.presetsInBothFamilies)
    func authoritiesAreStrictCAs(profile: ChainProfile) throws {
        let authority = try Fixtures.authority(profile)
        for identity in [authority.root] + authority.intermediates {
            let ca = identity.certificate
            #expect(ca.isCertificateAuthority)
            #expect(ca.basicConstraintsCritical == true)
            #expect(ca.keyUsageCritical == true)
            #expect(ca.keyUsage == [.keyCertSign, .cRLSign])
            #expect(ca.subjectKeyIdentifier != nil)
            #expect(ca.publicKeyAlgorithm == profile.keyAlgorithm)
        }
        #expect(authority.rootCertificate.isSelfIssued)
        #expect(authority.rootCertificate.subject.description.contains("intercept-proxy test"))
    }

    @Test func ipAddressesGoIntoAnIPSubjectAlternativeName() throws {
        let forge = try Fixtures.forge(.plain)
        #expect(try forge.chain(for: "127.0.0.1").leaf.subjectAlternativeNames == [.ipAddress("127.0.0.1")])
        #expect(try forge.chain(for: "[::1]").leaf.subjectAlternativeNames == [.ipAddress("::1")])
    }

    @Test func longNamesLiveOnlyInACriticalSubjectAlternativeName() throws {
        let host = String(repeating: "a", count: 60) + ".example"  // 68 characters
        let leaf = try Fixtures.forge(.plain).chain(for: host).leaf
        #expect(leaf.subject.commonName == nil)
        #expect(leaf.subjectAlternativeNames == [.dnsName(host)])
        let exactly64 = String(repeating: "b", count: 56) + ".example"
        #expect(try Fixtures.forge(.plain).chain(for: exactly64).leaf.subject.commonName == exactly64)
    }

    @Test func sharedLeafKeyIsDistinctFromEveryCAKey() throws {
        let authority = try Fixtures.authority(.zscaler)
        let forge = try Fixtures.forge(.zscaler)
        let a = try forge.chain(for: "a.example"), b = try forge.chain(for: "b.example")
        #expect(a.leafKey === b.leafKey)
        let caKeys = ([authority.root] + authority.intermediates).map { $0.key.publicKeyFingerprint }
        #expect(!caKeys.contains((try forge.sharedKey).publicKeyFingerprint))
    }

    @Test func perHostKeysDiffer() throws {
        let forge = try LeafForge(authority: Fixtures.authority(.plain.with(keyAlgorithm: .ecdsaP256)), keyPolicy: .perHost)
        let a = try forge.chain(for: "a.example"), b = try forge.chain(for: "b.example")
        #expect(a.leafKey.publicKeyFingerprint != b.leafKey.publicKeyFingerprint)
        #expect(a.leafKey.publicKeyFingerprint != (try forge.sharedKey).publicKeyFingerprint)
    }

    @Test(arguments: KeyAlgorithm.named.map(\.algorithm))
    func everyKeyAlgorithmGeneratesWhatItSays(algorithm: KeyAlgorithm) throws {
        let key = try PrivateKey.generate(algorithm)
        #expect(key.algorithm == algorithm)
        let reparsed = try PrivateKey(pem: key.pemString)
        #expect(reparsed.publicKeyFingerprint == key.publicKeyFingerprint)
    }
}
