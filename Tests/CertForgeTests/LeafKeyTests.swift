import CertForge
import Foundation
import Testing
import TestSupport

/// The key leaves share: kept beside the CA (a proxy start then generates no key, which cost
/// ~0.2 s of CPU per start), or one per process and algorithm when there is no CA directory.
@Suite struct LeafKeyTests {
    private func mode(_ path: String) throws -> Int {
        (try FileManager.default.attributesOfItem(atPath: path)[.posixPermissions] as! NSNumber).intValue
    }

    @Test func theCADirectoryKeepsOneLeafKeyPrivateAndMakesANewOneForAnotherAlgorithm() throws {
        let scratch = try TemporaryDirectory()
        let directory = CADirectory(path: scratch.path("certs"))
        try directory.create(.zscaler)
        let file = directory.folder(for: .zscaler).appendingPathComponent("leaf.key").path
        #expect(!FileManager.default.fileExists(atPath: file))
        let first = try directory.leafKey(for: .zscaler)
        #expect(try mode(file) == 0o600)
        #expect(try directory.leafKey(for: .zscaler).publicKeyFingerprint == first.publicKeyFingerprint, "kept, not made again")
        let authority = try directory.load(.zscaler)
        for identity in [authority.root] + authority.intermediates {
            #expect(!first.matches(identity.certificate), "the leaf key is none of the CA keys")
        }
        let p256 = ChainProfile.zscaler.with(keyAlgorithm: .ecdsaP256)
        try directory.create(p256, force: true)
        let other = try directory.leafKey(for: p256)
        #expect(other.algorithm == .ecdsaP256)
        #expect(other.publicKeyFingerprint != first.publicKeyFingerprint)
    }

    @Test func aLeafKeyFileThatIsNotAKeyIsAnErrorNamingIt() throws {
        let scratch = try TemporaryDirectory()
        let directory = CADirectory(path: scratch.path("certs"))
        try directory.create(.plain)
        let file = directory.folder(for: .plain).appendingPathComponent("leaf.key").path
        try Data("not a key\n".utf8).write(to: URL(fileURLWithPath: file))
        let error = #expect(throws: (any Error).self) { try directory.leafKey(for: .plain) }
        #expect("\(error!)".contains("leaf.key"), "\(error!)")
    }

    @Test func forgesShareTheKeyTheyAreGivenOrOnePerProcess() throws {
        let authority = try CertificateAuthority.generate(profile: .plain.with(keyAlgorithm: .ecdsaP256))
        let other = try CertificateAuthority.generate(profile: .plain.with(keyAlgorithm: .ecdsaP256))
        let a = try LeafForge(authority: authority), b = try LeafForge(authority: other)
        #expect(try a.sharedKey.publicKeyFingerprint == b.sharedKey.publicKeyFingerprint, "one key per process and algorithm")
        let given = try PrivateKey.generate(.ecdsaP256)
        let c = try LeafForge(authority: authority, sharedKey: given)
        let leaf = try c.chain(for: "given.test").leaf
        #expect(given.matches(leaf))
        #expect(try !a.sharedKey.matches(leaf))
    }
}
