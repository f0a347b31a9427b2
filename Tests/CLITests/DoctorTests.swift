import Foundation
import Testing
import TestSupport

/// `doctor`: a root filesystem laid out like an image (the OS bundle, curl, Python with certifi,
/// node, a JDK's cacerts, pip.conf), red before the fix and green after, one runtime red again when
/// its part of the fix is taken away; a replacing bundle with the root alone flagged; and this
/// machine's curl and Python proved in both worlds.
@Suite(.serialized) struct DoctorTests {
    /// The fixture's files: the machine's own public bundle plays the image's.
    final class Fixture {
        let scratch: TemporaryDirectory
        let rootfs: String
        let ca: String
        let root: String
        static let systemBundle = "/etc/ssl/certs/ca-certificates.crt"

        init() throws {
            scratch = try TemporaryDirectory()
            rootfs = scratch.path("rootfs")
            ca = scratch.path("ca")
            #expect(try CLI.run(["ca", "init", "--ca-dir", ca]).status == 0)
            root = "\(ca)/zscaler/root-ca.pem"
            let bundle = try String(contentsOfFile: Self.systemBundle, encoding: .utf8)
            for (path, text) in [("etc/ssl/certs/ca-certificates.crt", bundle),
                                 ("opt/venv/lib/python3.11/site-packages/certifi/cacert.pem", bundle),
                                 ("etc/pip.conf", "[global]\ncert = /etc/ssl/certs/ca-certificates.crt\n")] {
                try write(path, text)
            }
            // Debian's python3-certifi links its bundle to the OS one: followed inside the root, not on this machine.
            try FileManager.default.createDirectory(atPath: "\(rootfs)/usr/lib/python3/dist-packages/certifi", withIntermediateDirectories: true)
            try FileManager.default.createSymbolicLink(atPath: "\(rootfs)/usr/lib/python3/dist-packages/certifi/cacert.pem",
                                                       withDestinationPath: "/etc/ssl/certs/ca-certificates.crt")
            for tool in ["usr/bin/curl", "usr/bin/python3", "usr/bin/node", "usr/sbin/update-ca-certificates"] { try write(tool, "#!/bin/sh\n") }
            // A JDK's cacerts with one public root in it, as keytool keeps it.
            let jdk = "\(rootfs)/usr/lib/jvm/java-17/lib/security"
            try FileManager.default.createDirectory(atPath: jdk, withIntermediateDirectories: true)
            let first = try write("tmp/public.pem", String(bundle.prefix(through: bundle.range(of: "-----END CERTIFICATE-----\n")!.upperBound).dropLast()) + "\n")
            let imported = try run("keytool", ["-importcert", "-noprompt", "-alias", "public", "-file", first, "-keystore", "\(jdk)/cacerts",
                                               "-storepass", "changeit", "-storetype", "JKS"], environment: cleanEnvironment())
            #expect(imported.status == 0, "\(imported)")
        }

        @discardableResult
        func write(_ path: String, _ text: String) throws -> String {
            let full = "\(rootfs)/\(path)"
            try FileManager.default.createDirectory(atPath: (full as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
            try text.write(toFile: full, atomically: true, encoding: .utf8)
            return full
        }

        func append(root to: String) throws {
            let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: "\(rootfs)/\(to)"))
            try handle.seekToEnd()
            try handle.write(contentsOf: Data(try String(contentsOfFile: root, encoding: .utf8).utf8))
            try handle.close()
        }

        func doctor(_ extra: [String] = []) throws -> (status: Int32, findings: [[String: Any]], output: String) {
            let result = try CLI.run(["doctor", "--ca-dir", ca, "--rootfs", rootfs, "--json"] + extra)
            let report = try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any]
            return (result.status, report?["findings"] as? [[String: Any]] ?? [], result.stdout + result.stderr)
        }
    }

    static func red(_ findings: [[String: Any]]) -> [String] {
        findings.filter { $0["ok"] as? Bool == false }.map { $0["runtime"] as? String ?? "?" }
    }

    @Test func everyRuntimeIsRedBeforeTheFixGreenAfterAndRedAgainWithoutItsPart() throws {
        let fixture = try Fixture()
        let before = try fixture.doctor()
        #expect(before.status == 1, "\(before.output)")
        #expect(Set(Self.red(before.findings)) == ["OS (debian)", "curl", "python3 (ssl)", "python certifi", "node", "java", "pip (pip.conf)"],
                "\(before.output)")
        #expect(before.findings.first { $0["runtime"] as? String == "node" }?["fix"] as? String == "intercept-proxy snippet --client node")

        // The fix: the root appended to the OS bundle (what update-ca-certificates makes of it), certifi
        // pointed at the OS bundle by the snippet's variable, node given it, and the JDK's cacerts importing it.
        try fixture.append(root: "etc/ssl/certs/ca-certificates.crt")
        let imported = try run("keytool", ["-importcert", "-noprompt", "-alias", "gateway", "-file", fixture.root, "-keystore",
                                           "\(fixture.rootfs)/usr/lib/jvm/java-17/lib/security/cacerts", "-storepass", "changeit"],
                               environment: cleanEnvironment())
        #expect(imported.status == 0, "\(imported)")
        let fixed = ["--env", "REQUESTS_CA_BUNDLE=/etc/ssl/certs/ca-certificates.crt", "--env", "NODE_EXTRA_CA_CERTS=/etc/ssl/certs/ca-certificates.crt"]
        let after = try fixture.doctor(fixed)
        #expect(after.status == 0 && Self.red(after.findings).isEmpty, "\(after.output)")

        // Take one part away: exactly that runtime turns red, with its snippet.
        let withoutNode = try fixture.doctor(Array(fixed.prefix(2)))
        #expect(Self.red(withoutNode.findings) == ["node"], "\(withoutNode.output)")
        let withoutRequests = try fixture.doctor(Array(fixed.suffix(2)))
        #expect(Self.red(withoutRequests.findings) == ["python certifi"], "\(withoutRequests.output)")  // the venv's copy; Debian's links to the fixed OS bundle
        #expect(withoutRequests.findings.contains { $0["store"] as? String == "/usr/lib/python3/dist-packages/certifi/cacert.pem" && $0["ok"] as? Bool == true },
                "\(withoutRequests.output)")
        #expect(withoutRequests.findings.first { $0["runtime"] as? String == "python certifi" && $0["ok"] as? Bool == false }?["fix"] as? String
                == "intercept-proxy snippet --client requests")
    }

    @Test func aBundleHoldingTheRootAloneIsFlaggedAsReplacingTheStore() throws {
        let fixture = try Fixture()
        try fixture.append(root: "etc/ssl/certs/ca-certificates.crt")
        try fixture.write("etc/gateway-only.pem", try String(contentsOfFile: fixture.root, encoding: .utf8))
        let result = try fixture.doctor(["--env", "SSL_CERT_FILE=/etc/gateway-only.pem"])
        let row = result.findings.first { $0["runtime"] as? String == "$SSL_CERT_FILE" }
        #expect(row?["rootPresent"] as? Bool == true && row?["ok"] as? Bool == false, "\(result.output)")
        #expect((row?["note"] as? String)?.contains("replaces the store with too few roots (1): hosts the gateway does not inspect") == true, "\(result.output)")
        let text = try CLI.run(["doctor", "--ca-dir", fixture.ca, "--rootfs", fixture.rootfs, "--env", "SSL_CERT_FILE=/etc/gateway-only.pem"])
        #expect(text.status == 1 && text.stdout.contains("$SSL_CERT_FILE") && text.stdout.contains("yes, but"), "\(text)")
    }

    @Test func thisMachineListsItsRuntimesAndProvesCurlAndPython() throws {
        let scratch = try TemporaryDirectory()
        let ca = scratch.path("ca")
        #expect(try CLI.run(["ca", "init", "--ca-dir", ca]).status == 0)
        // The machine's own bundle (its presets point there) does not hold this CA: behind the gateway both fail.
        let plain = try CLI.run(["doctor", "--ca-dir", ca, "--prove", "--json"], environment: [:])
        let report = try JSONSerialization.jsonObject(with: Data(plain.stdout.utf8)) as? [String: Any]
        let proofs = report?["proofs"] as? [[String: Any]] ?? []
        #expect(plain.status == 1, "\(plain)")
        #expect(Set(proofs.compactMap { $0["runtime"] as? String }) == ["curl", "python3 (ssl)"], "\(plain.stdout)")
        #expect(proofs.allSatisfy { $0["gateway"] as? String == "rejected" && $0["direct"] as? String == "trusted" }, "\(plain.stdout)")
        #expect((report?["findings"] as? [[String: Any]])?.contains { $0["runtime"] as? String == "OS (debian)" } == true)

        // A combined bundle (the public roots and this root) named by the variables curl and Python read: both proved in both worlds.
        let combined = try scratch.write("combined.pem", try String(contentsOfFile: Fixture.systemBundle, encoding: .utf8)
                                         + String(contentsOfFile: "\(ca)/zscaler/root-ca.pem", encoding: .utf8))
        let proved = try CLI.run(["doctor", "--ca-dir", ca, "--prove", "--json"], environment: ["SSL_CERT_FILE": combined, "CURL_CA_BUNDLE": combined])
        let provedReport = try JSONSerialization.jsonObject(with: Data(proved.stdout.utf8)) as? [String: Any]
        let provedProofs = provedReport?["proofs"] as? [[String: Any]] ?? []
        #expect(provedProofs.count == 2 && provedProofs.allSatisfy { $0["gateway"] as? String == "trusted" && $0["direct"] as? String == "trusted" },
                "\(proved.stdout)\n\(proved.stderr.suffix(1500))")
    }

    @Test func condaAndYarnSettingsAreRead() throws {
        let fixture = try Fixture()
        try fixture.append(root: "etc/ssl/certs/ca-certificates.crt")
        try fixture.write("etc/gateway-only.pem", try String(contentsOfFile: fixture.root, encoding: .utf8))
        try fixture.write("root/.condarc", "channels:\n  - defaults\nssl_verify: /etc/ssl/certs/ca-certificates.crt\n")
        try fixture.write("root/.yarnrc", "cafile \"/etc/gateway-only.pem\"\n")
        let result = try fixture.doctor()
        let conda = result.findings.first { $0["runtime"] as? String == "conda (condarc)" }
        let yarn = result.findings.first { $0["runtime"] as? String == "yarn (yarnrc)" }
        #expect(conda?["ok"] as? Bool == true && conda?["rootPresent"] as? Bool == true, "\(result.output)")
        #expect(yarn?["ok"] as? Bool == false && (yarn?["note"] as? String)?.contains("replaces the store with too few roots") == true, "\(result.output)")
        #expect(yarn?["fix"] as? String == "intercept-proxy snippet --client yarn", "\(result.output)")
    }

    @Test func usageErrorsSayWhatToDo() throws {
        let both = try CLI.run(["doctor", "--image", "x", "--rootfs", "/"])
        #expect(both.status == 2 && both.stderr.contains("give --image or --rootfs, not both"), "\(both)")
        let missing = try CLI.run(["doctor", "--rootfs", "/nonexistent-rootfs"])
        #expect(missing.status == 2 && missing.stderr.contains("--rootfs /nonexistent-rootfs is not a directory"), "\(missing)")
    }
}
