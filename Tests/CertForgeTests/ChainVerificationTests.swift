import CertForge
import Foundation
import Testing
import TestSupport

/// Real verifiers judge the forged chains: `openssl verify -x509_strict` and Python's ssl with VERIFY_X509_STRICT.
@Suite struct ChainVerificationTests {
    @Test(arguments: Fixtures.presetsInBothFamilies)
    func opensslAcceptsEveryPresetStrictly(profile: ChainProfile) throws {
        let chain = try Fixtures.forge(profile).chain(for: "strict.example")
        let outcome = try opensslVerify(chain, policy: .client(for: "strict.example", strict: true))
        #expect(outcome.isOK, "\(outcome)")
    }

    @Test(arguments: Fixtures.presetsInBothFamilies)
    func pythonAcceptsEveryPresetStrictly(profile: ChainProfile) throws {
        let chain = try Fixtures.forge(profile).chain(for: "python.example")
        let result = try pythonHandshake(chain, strict: true)
        #expect(result.status == 0 && result.stdout.hasPrefix("OK"), "\(result)")
    }

    @Test func pythonRejectsTheChainWithoutTheRoot() throws {
        // The client trusts an unrelated root: Python reports the missing issuer like it does at work.
        let chain = try Fixtures.forge(.zscaler).chain(for: "python.example")
        let result = try pythonHandshake(chain, anchor: Fixtures.authority(.plain).rootCertificate, strict: false)
        #expect(result.status == 1)
        #expect(result.stdout.contains("[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed: unable to get local issuer certificate"), "\(result)")
    }

    @Test func higherDepthKeyAlgorithmsVerifyToo() throws {
        for algorithm in [KeyAlgorithm.rsa(bits: 3072), .ecdsaP384] {
            let profile = ChainProfile.netskope.with(keyAlgorithm: algorithm)
            let chain = try LeafForge(authority: CertificateAuthority.generate(profile: profile)).chain(for: "big.example")
            #expect(chain.leaf.publicKeyAlgorithm == algorithm)
            let outcome = try opensslVerify(chain, policy: .client(for: "big.example", strict: true))
            #expect(outcome.isOK, "\(algorithm): \(outcome)")
        }
    }
}

/// Each failure mode makes OpenSSL fail with the error it exists to reproduce, for a client that trusts the root.
@Suite struct FailureModeTests {
    static let expectedCodes: [(FailureMode, Int)] = [
        (.expired, 10),           // X509_V_ERR_CERT_HAS_EXPIRED
        (.notYetValid, 9),        // X509_V_ERR_CERT_NOT_YET_VALID
        (.wrongHost, 62),         // X509_V_ERR_HOSTNAME_MISMATCH
        (.selfSigned, 18),        // X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT
        (.incompleteChain, 20),   // X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY
        (.sha1, 68),              // X509_V_ERR_CA_MD_TOO_WEAK
        (.rsa1024, 66),           // X509_V_ERR_EE_KEY_TOO_SMALL
        (.caAsLeaf, 26),          // X509_V_ERR_INVALID_PURPOSE
    ]

    static let cases: [(ChainProfile, FailureMode, Int)] = ChainProfile.presets.flatMap { profile in
        expectedCodes.map { (profile, $0.0, $0.1) }
    }

    @Test(arguments: cases)
    func failsWithItsIntendedError(profile: ChainProfile, mode: FailureMode, code: Int) throws {
        let root = try Fixtures.authority(profile).rootCertificate
        let chain = try Fixtures.forge(profile).chain(for: "broken.example", failure: mode)
        #expect(chain.failure == mode)
        let outcome = try opensslVerify(chain, anchor: root, policy: .client(for: "broken.example"))
        #expect(outcome.code == code, "\(profile) \(mode.rawValue): \(outcome)")
    }

    @Test(arguments: ChainProfile.presets)
    func nonStrictPassesPlainVerificationButFailsStrict(profile: ChainProfile) throws {
        let chain = try Fixtures.forge(profile).chain(for: "sloppy.example", failure: .nonStrict)
        #expect(chain.leaf.authorityKeyIdentifier == nil)
        #expect(try opensslVerify(chain, policy: .client(for: "sloppy.example")).isOK)
        let strict = try opensslVerify(chain, policy: .client(for: "sloppy.example", strict: true))
        #expect(strict.code == 85, "Missing Authority Key Identifier: \(strict)")
        if profile.depth > 1 {
            #expect(strict.output.contains("Basic Constraints of CA cert not marked critical"), "\(strict)")
        }
        let python = try pythonHandshake(chain, strict: true)
        #expect(python.status == 1 && python.stdout.contains("Missing Authority Key Identifier"), "\(python)")
        #expect(try pythonHandshake(chain, strict: false).status == 0)
    }

    @Test(arguments: ChainProfile.presets)
    func expiredRootEndsTheChainInAnExpiredAnchor(profile: ChainProfile) throws {
        let root = try Fixtures.authority(profile).rootCertificate
        let chain = try Fixtures.forge(profile).chain(for: "old.example", failure: .expiredRoot)
        #expect(chain.trustAnchor.subject == root.subject)
        #expect(chain.trustAnchor.notAfter < Date())
        #expect(chain.chain.contains { $0 === chain.trustAnchor } == profile.sendsRoot)
        let outcome = try opensslVerify(chain, policy: .client(for: "old.example"))
        #expect(outcome.code == 10, "\(outcome)")
        #expect(outcome.output.contains("at \(profile.depth) depth"), "the root is the expired one: \(outcome)")
    }

    @Test func incompleteChainDropsTheIntermediateNextToTheRoot() throws {
        let authority = try Fixtures.authority(.zscaler)
        let chain = try Fixtures.forge(.zscaler).chain(for: "gap.example", failure: .incompleteChain)
        #expect(chain.chain.map(\.subject) == [authority.issuing.certificate.subject])
    }

    @Test func selfSignedLeafTravelsAloneAndVerifiesWhenTrustedItself() throws {
        let chain = try Fixtures.forge(.zscaler).chain(for: "self.example", failure: .selfSigned)
        #expect(chain.chain.isEmpty)
        #expect(chain.leaf.isSelfIssued && chain.leaf.isSigned(by: chain.leaf))
        #expect(try opensslVerify(chain, policy: .client(for: "self.example")).isOK)
    }
}
