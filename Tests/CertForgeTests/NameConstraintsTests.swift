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

    /// Go's crypto/x509 (Go's own verifier, not OpenSSL) reads the constraints the same way.
    @Test func goAcceptsInsideAndRejectsOutside() throws {
        let verifier = try GoVerifier.shared()
        let authority = try CertificateAuthority.generate(profile: .zscaler.with(keyAlgorithm: .ecdsaP256),
                                                          nameConstraints: try NameConstraints(parsing: ".test,corp.internal"))
        let forge = try LeafForge(authority: authority)
        for host in ["a.test", "corp.internal", "api.corp.internal"] {
            let result = try verifier.verify(try forge.chain(for: host), root: authority.rootCertificate)
            #expect(result.stdout == "OK\n", "\(host): \(result)")
        }
        let outside = try verifier.verify(try forge.chain(for: "evil.com"), root: authority.rootCertificate)
        #expect(outside.stdout == "x509: a root or intermediate certificate is not authorized to sign for this name: DNS name \"evil.com\" is not permitted by any constraint\n", "\(outside)")
        let address = try verifier.verify(try forge.chain(for: "10.1.2.3"), root: authority.rootCertificate)
        #expect(address.stdout == "x509: a root or intermediate certificate is not authorized to sign for this name: IP address \"10.1.2.3\" is excluded by constraint \"0.0.0.0/0\"\n", "\(address)")
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

/// A tiny Go program verifying a chain with crypto/x509 for a host name, built once per test run.
final class GoVerifier: @unchecked Sendable {
    let binary: String
    private let directory: TemporaryDirectory

    private static let lock = NSLock()
    nonisolated(unsafe) private static var built: GoVerifier?

    static func shared() throws -> GoVerifier {
        try lock.withLock {
            if let built { return built }
            let made = try GoVerifier()
            built = made
            return made
        }
    }

    private init() throws {
        directory = try TemporaryDirectory()
        let source = try directory.write("verify.go", """
            package main

            import (
            	"crypto/x509"
            	"encoding/pem"
            	"fmt"
            	"os"
            )

            func certificates(path string) []*x509.Certificate {
            	data, _ := os.ReadFile(path)
            	var result []*x509.Certificate
            	for block, rest := pem.Decode(data); block != nil; block, rest = pem.Decode(rest) {
            		certificate, err := x509.ParseCertificate(block.Bytes)
            		if err != nil {
            			fmt.Println("parse:", err)
            			os.Exit(2)
            		}
            		result = append(result, certificate)
            	}
            	return result
            }

            func main() {
            	roots, intermediates := x509.NewCertPool(), x509.NewCertPool()
            	for _, c := range certificates(os.Args[1]) {
            		roots.AddCert(c)
            	}
            	chain := certificates(os.Args[2])
            	for _, c := range chain[1:] {
            		intermediates.AddCert(c)
            	}
            	_, err := chain[0].Verify(x509.VerifyOptions{DNSName: os.Args[3], Roots: roots, Intermediates: intermediates})
            	if err != nil {
            		fmt.Println(err)
            		os.Exit(1)
            	}
            	fmt.Println("OK")
            }
            """)
        binary = directory.path("verify")
        // A cache that outlives the run: the standard library compiles once per machine, not per test run.
        let cache = FileManager.default.temporaryDirectory.appendingPathComponent("intercept-proxy-go-cache").path
        let built = try run(try requireTool("go"), ["build", "-o", binary, source],
                            environment: cleanEnvironment(["GOCACHE": cache, "GO111MODULE": "off", "HOME": directory.path("home")]), timeout: 300)
        guard built.status == 0 else { throw GoBuildFailed(output: built.output) }
    }

    /// The root as the only trust anchor, the leaf and what the proxy sends as the chain.
    func verify(_ chain: ForgedChain, root: Certificate) throws -> ProcessResult {
        let files = try TemporaryDirectory()
        return try run(binary, [try files.write("root.pem", root.pemString), try files.write("chain.pem", chain.pem), chain.serverName.text])
    }
}

struct GoBuildFailed: Error, CustomStringConvertible {
    let output: String
    var description: String { "go build of the verifier failed:\n\(output)" }
}
