@testable import CertForge
import Foundation
import Testing
import TestSupport

/// `ca init --name-constraints`: CAs that may sign only some names, as OpenSSL and Python see them.
@Suite struct NameConstraintsTests {
    @Test func parsingNormalisesAndEncodes() throws {
        let constraints = try NameConstraints(parsing: ".test,Example,corp.internal,.test,10.0.0.0/8,fd00::/8")
        #expect(constraints.dnsNames == ["test", "example", "corp.internal"])
        #expect(constraints.ipRanges == ["10.0.0.0/8", "fd00::/8"])
        #expect(constraints.configValue == "critical,permitted;DNS:test,permitted;DNS:example,permitted;DNS:corp.internal,"
            + "permitted;IP:10.0.0.0/255.0.0.0,permitted;IP:fd00::/ff00::")
        // Without an IP range, no address may be signed for.
        #expect(try NameConstraints(parsing: "corp.internal").configValue
            == "critical,permitted;DNS:corp.internal,excluded;IP:0.0.0.0/0.0.0.0,excluded;IP:::/::")
        let refused = [
            ("10.1.0.0/8", "invalid name constraint '10.1.0.0/8': the address has bits set beyond the /8 prefix"),
            ("10.0.0.0/33", "invalid name constraint '10.0.0.0/33': an IP range is ADDRESS/PREFIX, e.g. 10.0.0.0/8 or fd00::/8"),
            ("a b.test", "invalid name constraint 'a b.test': not a DNS name (a single address is written as a range: 192.0.2.7/32)"),
            ("10.0.0.1", "invalid name constraint '10.0.0.1': not a DNS name (a single address is written as a range: 192.0.2.7/32)"),
            ("..test", "invalid name constraint '..test': not a DNS name (a single address is written as a range: 192.0.2.7/32)"),
            ("10.0.0.0/8", "invalid name constraint '10.0.0.0/8': at least one DNS name is needed (DNS names are left unconstrained otherwise)"),
        ]
        for (list, message) in refused {
            do {
                _ = try NameConstraints(parsing: list)
                Issue.record("'\(list)' was accepted")
            } catch {
                #expect("\(error)" == message)
            }
        }
    }

    /// The root and both intermediates of the zscaler shape carry the same critical extension.
    @Test func everyCACarriesTheConstraints() throws {
        let constraints = try NameConstraints(parsing: ".test,corp.internal")
        let authority = try CertificateAuthority.generate(profile: .zscaler.with(keyAlgorithm: .ecdsaP256), nameConstraints: constraints)
        for identity in [authority.root] + authority.intermediates {
            let text = try run("openssl", ["x509", "-noout", "-ext", "nameConstraints"], input: identity.certificate.pemString)
            #expect(text.stdout.contains("X509v3 Name Constraints: critical") && text.stdout.contains("DNS:corp.internal"), "\(text)")
            #expect(identity.certificate.nameConstraintsText == "permitted DNS:test, DNS:corp.internal; excluded IP:0.0.0.0/0.0.0.0, IP:0:0:0:0:0:0:0:0/0:0:0:0:0:0:0:0")
        }
        #expect(try CertificateAuthority.generate(profile: .plain.with(keyAlgorithm: .ecdsaP256)).rootCertificate.nameConstraintsText == nil)
    }

    /// Under RFC 5280 a dNSName constraint covers the name and everything below it; nothing else.
    @Test(arguments: NameConstrainedShape.all)
    func opensslAndPythonAcceptInsideAndRejectOutside(_ shape: NameConstrainedShape) throws {
        let authority = try CertificateAuthority.generate(profile: shape.profile, nameConstraints: try NameConstraints(parsing: ".test,.example,corp.internal,10.0.0.0/8"))
        let forge = try LeafForge(authority: authority)
        for host in ["a.test", "deep.sub.example", "corp.internal", "x.corp.internal", "test"] {
            let chain = try forge.chain(for: host)
            let outcome = try opensslVerify(chain, policy: .client(for: host, strict: true))
            #expect(outcome.isOK, "\(shape) \(host): \(outcome)")
            #expect(authority.nameConstraintViolation(of: chain.leaf) == nil, "\(host)")
        }
        for host in ["evil.com", "test.evil", "notcorp.internal", "example.com", "192.168.1.1"] {
            let chain = try forge.chain(for: host)
            let outcome = try opensslVerify(chain, policy: .client(for: host, strict: true))
            #expect(outcome.code == 47 && outcome.output.contains("permitted subtree violation"), "\(shape) \(host): \(outcome)")
            #expect(authority.nameConstraintViolation(of: chain.leaf) == "permitted subtree violation", "\(host)")
            let python = try pythonHandshake(chain, strict: true)
            #expect(python.status == 1 && python.stdout.contains("certificate verify failed: permitted subtree violation"), "\(shape) \(host): \(python)")
        }
        let inside = try pythonHandshake(try forge.chain(for: "api.corp.internal"), strict: true)
        #expect(inside.status == 0 && inside.stdout.hasPrefix("OK"), "\(inside)")
    }

    /// Without an IP range every address is excluded (an IP leaf's own subtree check, not its CN).
    @Test func withoutIPRangesNoAddressIsSigned() throws {
        let authority = try CertificateAuthority.generate(profile: .plain.with(keyAlgorithm: .ecdsaP256), nameConstraints: try NameConstraints(parsing: "corp.internal"))
        let chain = try LeafForge(authority: authority).chain(for: "10.1.2.3")
        let outcome = try opensslVerify(chain, policy: VerifyPolicy(strict: true))
        #expect(outcome.code == 48 && outcome.output.contains("excluded subtree violation"), "\(outcome)")
        #expect(authority.nameConstraintViolation(of: chain.leaf) == "excluded subtree violation")
    }
}

/// The profiles' shapes: constraints on a lone root, and on a root with intermediates.
struct NameConstrainedShape: CustomTestStringConvertible, Sendable {
    let profile: ChainProfile
    var testDescription: String { profile.name }
    static let all = [NameConstrainedShape(profile: .plain.with(keyAlgorithm: .ecdsaP256)), NameConstrainedShape(profile: .zscaler.with(keyAlgorithm: .ecdsaP256))]
}
