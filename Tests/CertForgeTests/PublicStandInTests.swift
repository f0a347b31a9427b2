import CertForge
import Foundation
import Testing
import TestSupport

/// The test world's stand-in for the public web PKI: a labelled test root with an issuing CA, leaves
/// sent with the intermediate (as public CAs send them), strictly valid, and never a gateway profile.
@Suite struct PublicStandInTests {
    @Test func itIsShapedLikeAPublicCAAndLabelledAsATestRoot() throws {
        let authority = try Fixtures.authority(.publicStandIn)
        let root = authority.rootCertificate
        #expect(root.subject.commonName == "intercept-proxy Public Test Root (intercept-proxy test)")
        #expect(root.subject.description.contains("not a real CA"), "\(root.subject)")
        #expect(authority.intermediates.count == 1, "an issuing CA under the root")
        let chain = try Fixtures.forge(.publicStandIn).chain(for: "bank.example")
        #expect(chain.chain.map(\.subject) == [authority.issuing.certificate.subject], "the leaf travels with the intermediate, not the root")
        #expect(chain.trustAnchor.subject == root.subject)
        #expect(chain.leaf.issuer == authority.issuing.certificate.subject)
    }

    @Test func strictVerifiersAcceptIt() throws {
        let chain = try Fixtures.forge(.publicStandIn).chain(for: "bank.example")
        let outcome = try opensslVerify(chain, policy: .client(for: "bank.example", strict: true))
        #expect(outcome.isOK, "\(outcome)")
        let python = try pythonHandshake(chain, strict: true)
        #expect(python.status == 0 && python.stdout.hasPrefix("OK"), "\(python)")
    }

    @Test func aClientTrustingOnlyTheGatewayRootRejectsIt() throws {
        // What a fix that replaces the store does on a host the gateway does not inspect.
        let chain = try Fixtures.forge(.publicStandIn).chain(for: "bank.example")
        let result = try pythonHandshake(chain, anchor: Fixtures.authority(.zscaler).rootCertificate, strict: false)
        #expect(result.status == 1)
        #expect(result.stdout.contains("certificate verify failed: unable to get local issuer certificate"), "\(result)")
    }

    @Test func itIsNotAGatewayProfile() {
        #expect(throws: CertForgeError.publicStandInIsNotAGateway) { try ChainProfile.preset(named: "public") }
        #expect(!ChainProfile.presets.contains { $0.name == "public" })
        #expect(CertForgeError.publicStandInIsNotAGateway.description.contains("--bypass"))
    }

    @Test func theCADirectoryKeepsItInAFolderOfItsOwn() throws {
        let scratch = try TemporaryDirectory()
        let directory = CADirectory(path: scratch.url.path)
        let (created, isNew) = try directory.loadOrCreate(.publicStandIn)
        #expect(isNew)
        #expect(directory.folder(for: .publicStandIn).lastPathComponent == "public")
        let loaded = try directory.load(.publicStandIn)
        #expect(loaded.rootCertificate.sha256Fingerprint == created.rootCertificate.sha256Fingerprint)
        let key = try FileManager.default.attributesOfItem(atPath: directory.folder(for: .publicStandIn).appendingPathComponent("root-ca.key").path)
        #expect((key[.posixPermissions] as? Int) == 0o600)
        let gateway = try directory.loadOrCreate(.zscaler).authority
        #expect(gateway.rootCertificate.sha256Fingerprint != loaded.rootCertificate.sha256Fingerprint)
    }
}
