import CertForge
import Foundation
import Testing
import TestSupport

@Suite struct CACommandTests {
    @Test func initShowAndExportEveryFormat() throws {
        let scratch = try TemporaryDirectory()
        let dir = scratch.path("ca")
        let initialised = try CLI.run(["ca", "init", "--ca-dir", dir])
        #expect(initialised.status == 0, "\(initialised)")
        #expect(initialised.stdout.contains("Zscaler Root CA (intercept-proxy test)"))

        let again = try CLI.run(["ca", "init", "--ca-dir", dir])
        #expect(again.status == 0 && again.stderr.contains("already exists"), "\(again)")

        let shown = try CLI.run(["ca", "show", "--json"], environment: ["INTERCEPT_PROXY_CA_DIR": dir])
        #expect(shown.status == 0, "\(shown)")
        let json = try JSONSerialization.jsonObject(with: Data(shown.stdout.utf8)) as! [String: Any]
        let files = json["files"] as! [String: String]
        let opensslFingerprint = try run("openssl", ["x509", "-fingerprint", "-sha256", "-noout", "-in", files["pem"]!]).stdout
        #expect(opensslFingerprint.contains(json["sha256"] as! String))
        #expect(json["profile"] as? String == "zscaler")
        #expect((json["intermediates"] as? [String])?.count == 2)

        let pem = try String(contentsOfFile: files["pem"]!, encoding: .utf8)
        let exportedPEM = try CLI.run(["ca", "export", "--ca-dir", dir, "--format", "pem"])
        #expect(exportedPEM.stdout == pem)
        let exportedBase64 = try CLI.run(["ca", "export", "--ca-dir", dir, "--format", "base64"])
        #expect(Data(base64Encoded: exportedBase64.stdout.trimmingCharacters(in: .newlines)) == Data(pem.utf8))

        let der = scratch.path("root.cer")
        #expect(try CLI.run(["ca", "export", "--ca-dir", dir, "--format", "der", "--out", der]).status == 0)
        let derText = try run("openssl", ["x509", "-inform", "DER", "-in", der])
        #expect(derText.stdout == pem)

        let hashedDir = scratch.path("hashed")
        let hashed = try CLI.run(["ca", "export", "--ca-dir", dir, "--format", "hashed", "--out", hashedDir])
        #expect(hashed.status == 0, "\(hashed)")
        let hash = try run("openssl", ["x509", "-hash", "-noout", "-in", files["pem"]!]).stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(FileManager.default.fileExists(atPath: "\(hashedDir)/\(hash).0"))

        let p12 = scratch.path("root.p12")
        #expect(try CLI.run(["ca", "export", "--ca-dir", dir, "--format", "p12", "--out", p12]).status == 0)
        #expect(try run("openssl", ["pkcs12", "-in", p12, "-nokeys", "-passin", "pass:changeit"]).stdout.contains("BEGIN CERTIFICATE"))
    }

    @Test func keyAlgorithmAndProfileSelectTheHierarchy() throws {
        let scratch = try TemporaryDirectory()
        let dir = scratch.path("ca")
        let result = try CLI.run(["ca", "init", "--ca-dir", dir, "--profile", "fortinet", "--key-algorithm", "p256"])
        #expect(result.status == 0, "\(result)")
        #expect(result.stdout.contains("ECDSA P-256"))
        #expect(FileManager.default.fileExists(atPath: "\(dir)/fortinet-p256/root-ca.pem"))
        let key = try run("openssl", ["pkey", "-in", "\(dir)/fortinet-p256/root-ca.key", "-noout", "-text"])
        #expect(key.stdout.contains("NIST CURVE: P-256") || key.stdout.contains("prime256v1"), "\(key)")
    }

    @Test func usageErrorsExitTwoWithOneLine() throws {
        let scratch = try TemporaryDirectory()
        let cases: [([String], String)] = [
            (["ca", "init", "--ca-dir", scratch.path("x"), "--profile", "bluecoat"], "unknown profile 'bluecoat'"),
            (["ca", "init", "--ca-dir", scratch.path("x"), "--key-algorithm", "dsa"], "unknown key algorithm 'dsa'"),
            (["ca", "export", "--ca-dir", scratch.path("x"), "--format", "jks"], "unknown format 'jks'"),
            (["forge", "bad_host!", "--ca-dir", scratch.path("x")], "invalid host name 'bad_host!'"),
            (["forge", "ok.example", "--failure", "broken", "--ca-dir", scratch.path("x")], "unknown failure mode 'broken'"),
            (["forge", "ok.example", "--ca-cert", "a.pem"], "--ca-cert and --ca-key go together"),
            (["no-such-command"], "Unexpected argument"),
        ]
        for (arguments, message) in cases {
            let result = try CLI.run(arguments)
            #expect(result.status == 2, "\(arguments): \(result)")
            #expect(result.stderr.contains(message), "\(arguments): \(result.stderr)")
            #expect(result.stderr.hasPrefix("intercept-proxy: error: "), "\(arguments): \(result.stderr)")
            #expect(result.stderr.split(separator: "\n").count == 1, "one line: \(result.stderr)")
        }
        #expect(!FileManager.default.fileExists(atPath: scratch.path("x")), "a usage error creates nothing")
    }

    @Test func otherFailuresExitOneAndNameTheFix() throws {
        let scratch = try TemporaryDirectory()
        let missing = try CLI.run(["ca", "show", "--ca-dir", scratch.path("empty")])
        #expect(missing.status == 1, "\(missing)")
        #expect(missing.stderr == "intercept-proxy: error: \(scratch.path("empty"))/zscaler: no root-ca.pem; run `intercept-proxy ca init` to create the CA\n")
    }

    @Test func profilesListsEveryPresetAndFailureMode() throws {
        let result = try CLI.run(["profiles"])
        #expect(result.status == 0)
        for profile in ChainProfile.presets { #expect(result.stdout.contains("  \(profile.name) "), "\(profile.name)") }
        for mode in FailureMode.allCases { #expect(result.stdout.contains("  \(mode.rawValue) "), "\(mode.rawValue)") }
        #expect(result.stdout.contains("[default]"))
    }

    @Test func helpAndVersionExitZero() throws {
        let help = try CLI.run(["--help"])
        #expect(help.status == 0 && help.stdout.contains("SUBCOMMANDS"), "\(help)")
        #expect(try CLI.run(["--version"]).stdout.trimmingCharacters(in: .newlines) == "0.1.0")
    }
}
