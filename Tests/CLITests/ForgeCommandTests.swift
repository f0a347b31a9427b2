import CertForge
import Foundation
import Testing
import TestSupport

@Suite struct ForgeCommandTests {
    @Test func printsTheSentChainWithSummariesAndWritesAPrivateKey() throws {
        let scratch = try TemporaryDirectory()
        let key = scratch.path("leaf.key")
        let result = try CLI.run(["forge", "api.example", "--ca-dir", scratch.path("ca"), "--key-out", key])
        #expect(result.status == 0, "\(result)")
        let chain = try Certificate.parsePEM(result.stdout)
        #expect(chain.count == 3, "zscaler sends leaf + issuing + intermediate")
        #expect(chain[0].subjectAlternativeNames == [.dnsName("api.example")])
        #expect(result.stderr.contains("created CA for profile zscaler"))
        let summaries = result.stderr.split(separator: "\n").filter { $0.first?.isNumber == true }
        #expect(summaries.count == 3 && summaries[0].hasPrefix("0 subject: CN=api.example"), "\(result.stderr)")
        let mode = try FileManager.default.attributesOfItem(atPath: key)[.posixPermissions] as! NSNumber
        #expect(mode.intValue == 0o600)
        #expect(try PrivateKey(pem: String(contentsOfFile: key, encoding: .utf8)).matches(chain[0]))
    }

    @Test func failureModeAndBringYourOwnCA() throws {
        let scratch = try TemporaryDirectory()
        let caKey = scratch.path("my.key"), caCert = scratch.path("my.pem")
        let made = try run("openssl", ["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-noenc",
                                       "-keyout", caKey, "-out", caCert, "-days", "10", "-subj", "/CN=My Own Test CA",
                                       "-addext", "keyUsage=critical,keyCertSign,cRLSign"])
        #expect(made.status == 0, "\(made)")
        let result = try CLI.run(["forge", "old.example", "--profile", "plain", "--ca-cert", caCert, "--ca-key", caKey,
                                  "--key-algorithm", "p256", "--failure", "expired"])
        #expect(result.status == 0, "\(result)")
        let leaf = try Certificate.parsePEM(result.stdout)[0]
        #expect(leaf.issuer.commonName == "My Own Test CA")
        #expect(leaf.notAfter < Date())
        let leafFile = try scratch.write("leaf.pem", result.stdout)
        let verify = try run("openssl", ["verify", "-CAfile", caCert, leafFile])
        #expect(verify.output.contains("error 10 at 0 depth lookup: certificate has expired"), "\(verify)")
    }
}
