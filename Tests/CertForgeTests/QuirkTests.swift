import CertForge
import Foundation
import Testing
import TestSupport

/// Each quirk puts its defect where it says, and only there; quirky CAs live beside textbook ones.
@Suite struct QuirkTests {
    /// `openssl x509 -text` of each certificate the chain sends, leaf first, then the anchor's.
    private func texts(_ chain: ForgedChain) throws -> (sent: [String], anchor: String) {
        let files = try TemporaryDirectory()
        func text(_ certificate: Certificate, _ name: String) throws -> String {
            let result = try run("openssl", ["x509", "-noout", "-text", "-in", try files.write(name, certificate.pemString)])
            #expect(result.status == 0, "\(result)")
            return result.stdout
        }
        let sent = try chain.sentCertificates.enumerated().map { try text($1, "sent\($0).pem") }
        return (sent, try text(chain.trustAnchor, "anchor.pem"))
    }

    private func forge(_ quirks: [Quirk], profile: ChainProfile = .zscaler) throws -> ForgedChain {
        let authority = try CertificateAuthority.generate(profile: profile.with(quirks: quirks))
        return try LeafForge(authority: authority).forge(ServerName("quirk.example.test"))
    }

    @Test func theTextbookChainHasNoneOfTheDefects() throws {
        let (sent, anchor) = try texts(try forge([]))
        for text in sent + [anchor] {
            #expect(text.contains("Signature Algorithm: sha256"))
            #expect(!text.contains("(Negative)"))
            #expect(text.contains("Version: 3"))
        }
        #expect(sent.dropFirst().allSatisfy { $0.contains("X509v3 Basic Constraints: critical") && $0.contains("X509v3 Authority Key Identifier") })
    }

    @Test func caQuirksChangeEveryCAAndNoLeaf() throws {
        let (sent, anchor) = try texts(try forge([.basicConstraintsNotCritical, .caKeyUsageNotCritical]))
        for ca in sent.dropFirst() + [anchor] {
            #expect(ca.contains("X509v3 Basic Constraints: \n") && !ca.contains("X509v3 Basic Constraints: critical"), "\(ca)")
            #expect(ca.contains("X509v3 Key Usage: \n"))
        }
        #expect(sent[0].contains("X509v3 Basic Constraints: critical"))
        #expect(sent[0].contains("X509v3 Key Usage: critical"))
    }

    @Test func withoutKeyIdentifiersChildrenNameTheirIssuerOtherwise() throws {
        let (sent, anchor) = try texts(try forge([.withoutSKI]))
        for ca in sent.dropFirst() + [anchor] { #expect(!ca.contains("X509v3 Subject Key Identifier")) }
        // The AKI is there, naming issuer and serial (a key id it cannot have).
        for child in sent { #expect(child.contains("X509v3 Authority Key Identifier") && child.contains("DirName:")) }
    }

    @Test func akiQuirksRemoveItWhereTheySay() throws {
        let leafOnly = try texts(try forge([.leafWithoutAKI])).sent
        #expect(!leafOnly[0].contains("Authority Key Identifier"))
        #expect(leafOnly.dropFirst().allSatisfy { $0.contains("Authority Key Identifier") })
        let intermediates = try texts(try forge([.intermediateWithoutAKI])).sent
        #expect(intermediates[0].contains("Authority Key Identifier"))
        #expect(intermediates.dropFirst().allSatisfy { !$0.contains("Authority Key Identifier") })
    }

    @Test func signatureSerialAndValidityQuirksReachTheLeaf() throws {
        let chain = try forge([.sha1Leaf, .negativeSerial, .longLeaf, .leafWithoutEKU])
        let (sent, _) = try texts(chain)
        #expect(sent[0].contains("Signature Algorithm: sha1WithRSAEncryption"))
        #expect(sent[0].contains("(Negative)"))
        #expect(!sent[0].contains("Extended Key Usage"))
        #expect(chain.leaf.notAfter.timeIntervalSince(chain.leaf.notBefore) > 825 * ChainProfile.day)
        #expect(sent.dropFirst().allSatisfy { $0.contains("Signature Algorithm: sha256") })
        let sha1CA = try texts(try forge([.sha1Intermediate])).sent
        #expect(sha1CA[0].contains("sha256") && sha1CA.dropFirst().allSatisfy { $0.contains("Signature Algorithm: sha1WithRSAEncryption") })
    }

    @Test func rootQuirks() throws {
        let v1 = try texts(try forge([.version1Root])).anchor
        #expect(v1.contains("Version: 1 (0x0)") && !v1.contains("X509v3"))
        let pathLength = try texts(try forge([.pathLengthWithoutKeyCertSign])).anchor
        #expect(pathLength.contains("pathlen:2") && pathLength.contains("Digital Signature, CRL Sign") && !pathLength.contains("Certificate Sign"))
    }

    @Test func policiesNamesAndStringTypes() throws {
        let chain = try forge([.criticalPolicies, .trailingSpaceName, .issuerStringType])
        let (sent, _) = try texts(chain)
        #expect(sent.dropFirst().allSatisfy { $0.contains("X509v3 Certificate Policies: critical") && $0.contains("Policy: X509v3 Any Policy") })
        #expect(!sent[0].contains("Certificate Policies"))
        #expect(chain.chain[0].subject.commonName?.hasSuffix("(t) (test) ") == true)
        // The same name, as PrintableString in the leaf's issuer and UTF8String in the CA's subject.
        let files = try TemporaryDirectory()
        let leafDump = try run("openssl", ["asn1parse", "-in", try files.write("leaf.pem", chain.leaf.pemString)]).stdout
        let caDump = try run("openssl", ["asn1parse", "-in", try files.write("ca.pem", chain.chain[0].pemString)]).stdout
        #expect(leafDump.contains("PRINTABLESTRING   :Zscaler Intermediate Root CA (zscaler.test) (t) (test)"))
        #expect(caDump.contains("UTF8STRING        :Zscaler Intermediate Root CA (zscaler.test) (t) (test)"))
        #expect(!leafDump.contains("UTF8STRING        :Zscaler Intermediate Root CA (zscaler.test) (t) (test)"))
    }

    @Test func theExpiredCrossSignIsSentAfterTheIntermediatesAndNeverTrusted() throws {
        for profile in [ChainProfile.zscaler, .netskope, .plain] {
            let chain = try forge([.expiredCrossSign], profile: profile)
            let root = chain.trustAnchor
            let crosses = chain.chain.filter { !$0.isSelfIssued && $0.subject == root.subject }
            #expect(crosses.count == 1, "\(profile.name): \(chain.chain.map(\.summary))")
            guard let cross = crosses.first else { continue }
            // The root's name and key, another issuer, a validity that has ended.
            #expect(cross.subjectDER == root.subjectDER && cross.subjectKeyIdentifier == root.subjectKeyIdentifier)
            #expect(!cross.isSigned(by: root) && cross.notAfter < Date() && cross.isCertificateAuthority)
            // Right after the intermediates, before the root where the profile sends it; the root stays the anchor.
            let index = chain.chain.firstIndex { $0 === cross }!
            #expect(index == profile.depth - 1, "\(profile.name)")
            #expect(chain.chain.count == profile.depth + (profile.sendsRoot ? 1 : 0))
            #expect(root.isSelfIssued && root.notAfter > Date())
        }
        #expect(try forge([]).chain.allSatisfy { $0.notAfter > Date() })
    }

    @Test func aQuirkyCALivesBesideTheTextbookOneAndLoadsAgain() throws {
        let files = try TemporaryDirectory()
        let directory = CADirectory(path: files.path("certs"))
        try directory.create(.zscaler)
        for quirk in Quirk.allCases {
            let profile = try ChainProfile.zscaler.with(quirks: [quirk])
            #expect(profile.storageName == "zscaler+\(quirk.rawValue)")
            let created = try directory.create(profile)
            let loaded = try directory.load(profile)
            #expect(loaded.rootCertificate.pemString == created.rootCertificate.pemString, "\(quirk)")
            _ = try LeafForge(authority: loaded).forge(ServerName("reload.example.test"))
        }
        #expect(try directory.load(.zscaler).profile.quirks.isEmpty)
        let two = try ChainProfile.netskope.with(keyAlgorithm: .ecdsaP256).with(quirks: [.sha1Leaf, .basicConstraintsNotCritical, .sha1Leaf])
        #expect(two.storageName == "netskope-p256+bc-not-critical+sha1-leaf")
    }

    @Test func namesAreCheckedAndAQuirkNeedsTheCertificateItChanges() throws {
        #expect(try Quirk.parse("leaf-no-aki, SHA1-LEAF") == [.leafWithoutAKI, .sha1Leaf])
        #expect(throws: CertForgeError.unknownName(kind: "quirk", name: "no-such", known: Quirk.allCases.map(\.rawValue))) {
            try Quirk.parse("no-such")
        }
        #expect(throws: CertForgeError.quirkNeedsIntermediate(quirk: "intermediate-no-aki", profile: "plain")) {
            try ChainProfile.plain.with(quirks: [.intermediateWithoutAKI])
        }
        // One-CA shapes still take the others: the root is the issuing CA.
        let fortinet = try forge([.trailingSpaceName, .basicConstraintsNotCritical], profile: .fortinet)
        #expect(fortinet.trustAnchor.subject.commonName?.hasSuffix(" ") == true)
    }
}
