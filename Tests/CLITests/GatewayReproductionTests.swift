import CertForge
import Foundation
import Testing
import TestSupport

/// `openssl s_server` presents what `intercept-proxy forge` prints; s_client and curl, with their
/// default trust store, fail exactly as behind the gateway, and pass once given the root.
@Suite struct GatewayReproductionTests {
    struct Expectation: Sendable, CustomStringConvertible {
        let profile: String
        let sClientErrors: [String]
        let sClientReturnCode: String
        let curlError: String
        var description: String { profile }
    }

    static let expectations: [Expectation] = [
        Expectation(profile: "zscaler",
                    sClientErrors: ["verify error:num=20:unable to get local issuer certificate"],
                    sClientReturnCode: "Verify return code: 20 (unable to get local issuer certificate)",
                    curlError: "curl: (60) SSL certificate problem: unable to get local issuer certificate"),
        Expectation(profile: "netskope",
                    sClientErrors: ["verify error:num=19:self-signed certificate in certificate chain"],
                    sClientReturnCode: "Verify return code: 19 (self-signed certificate in certificate chain)",
                    curlError: "curl: (60) SSL certificate problem: self-signed certificate in certificate chain"),
        Expectation(profile: "fortinet",
                    sClientErrors: ["verify error:num=19:self-signed certificate in certificate chain"],
                    sClientReturnCode: "Verify return code: 19 (self-signed certificate in certificate chain)",
                    curlError: "curl: (60) SSL certificate problem: self-signed certificate in certificate chain"),
        Expectation(profile: "plain",
                    sClientErrors: ["verify error:num=20:unable to get local issuer certificate",
                                    "verify error:num=21:unable to verify the first certificate"],
                    sClientReturnCode: "Verify return code: 21 (unable to verify the first certificate)",
                    curlError: "curl: (60) SSL certificate problem: unable to get local issuer certificate"),
    ]

    /// Forges through the CLI and serves the result with s_server.
    private func serve(_ profile: String, host: String, in scratch: TemporaryDirectory) throws -> (TLSTestServer, root: String) {
        let caDir = scratch.path("ca")
        let key = scratch.path("leaf.key")
        let forged = try CLI.run(["forge", host, "--profile", profile, "--ca-dir", caDir, "--key-out", key])
        #expect(forged.status == 0, "\(forged)")
        let certificates = try Certificate.parsePEM(forged.stdout)
        let server = try TLSTestServer(
            leafPEM: certificates[0].pemString, keyPEM: try String(contentsOfFile: key, encoding: .utf8),
            chainPEM: certificates.dropFirst().map(\.pemString).joined())
        return (server, "\(caDir)/\(profile)/root-ca.pem")
    }

    @Test(arguments: expectations)
    func opensslClientReportsTheGatewayError(expected: Expectation) throws {
        let scratch = try TemporaryDirectory()
        let host = "registry.example"
        let (server, root) = try serve(expected.profile, host: host, in: scratch)
        defer { server.stop() }
        let connect = ["s_client", "-connect", "127.0.0.1:\(server.port)", "-servername", host, "-verify_hostname", host]

        let rejected = try run("openssl", connect)
        for error in expected.sClientErrors { #expect(rejected.output.contains(error), "\(rejected)") }
        #expect(rejected.output.contains(expected.sClientReturnCode), "\(rejected)")

        let trusted = try run("openssl", connect + ["-CAfile", root])
        #expect(trusted.output.contains("Verify return code: 0 (ok)"), "\(trusted)")
    }

    @Test(arguments: expectations)
    func curlReportsTheGatewayErrorAndPassesWithTheRoot(expected: Expectation) throws {
        let scratch = try TemporaryDirectory()
        let host = "pypi.example"
        let (server, root) = try serve(expected.profile, host: host, in: scratch)
        defer { server.stop() }
        let request = ["-sS", "--resolve", "\(host):\(server.port):127.0.0.1", "https://\(host):\(server.port)/"]

        let rejected = try run("curl", request)
        #expect(rejected.status == 60, "\(rejected)")
        #expect(rejected.stderr.contains(expected.curlError), "\(rejected)")

        let trusted = try run("curl", request + ["--cacert", root])
        #expect(trusted.status == 0, "\(trusted)")
        #expect(trusted.stdout.contains("s_server"), "the origin's own page: \(trusted.stdout.prefix(200))")
    }
}
