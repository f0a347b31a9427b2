import Foundation
import Testing
import TestSupport

/// The Debian snippet, run verbatim by /bin/sh inside a minimal Debian (debootstrap, entered with
/// chroot), turns curl's failure through the proxy into success. The chroot shares loopback.
@Suite struct DebianSnippetTests {
    @Test func snippetFixesCurlInsideAMinimalDebian() throws {
        let cached = ProcessInfo.processInfo.environment["INTERCEPT_PROXY_TEST_ROOTFS"] ?? "/var/cache/intercept-proxy/rootfs-bookworm"
        guard FileManager.default.fileExists(atPath: cached + "/usr/bin/curl") else {
            Issue.record("no Debian rootfs at \(cached); `make test` builds it with debootstrap")
            return
        }
        guard getuid() == 0 else {
            Issue.record("chroot needs root; run `make test` as root (as CI does)")
            return
        }
        let scratch = try TemporaryDirectory()
        let root = scratch.path("rootfs")
        let copied = try run("cp", ["-a", cached, root])  // the snippet changes the trust store: work on a copy
        #expect(copied.status == 0, "\(copied)")

        let caDir = scratch.path("ca")
        let proxy = try ProxyProcess(["--offline"], command: [], caDirectory: .at(caDir))
        let port = proxy.port

        let snippet = try CLI.run(["snippet", "--distro", "debian", "--format", "shell"]).stdout
        try Data(snippet.utf8).write(to: URL(fileURLWithPath: root + "/tmp/trust-proxy.sh"))
        let base64 = try CLI.run(["ca", "export", "--ca-dir", caDir, "--format", "base64"]).stdout.trimmingCharacters(in: .whitespacesAndNewlines)

        let path = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
        func curl() throws -> ProcessResult {
            try run("chroot", [root, "/usr/bin/env", "-i", path, "HTTPS_PROXY=http://127.0.0.1:\(port)",
                               "curl", "-sS", "--max-time", "20", "https://deb.example/"])
        }
        let before = try curl()
        #expect(before.status == 60, "\(before)")
        #expect(before.stderr.contains("curl: (60) SSL certificate problem: unable to get local issuer certificate"), "\(before)")

        // Without the build argument the snippet does nothing.
        let skipped = try run("chroot", [root, "/usr/bin/env", "-i", path, "PROXY_CA_B64=", "/bin/sh", "/tmp/trust-proxy.sh"])
        #expect(skipped.status == 0, "\(skipped)")
        #expect(!FileManager.default.fileExists(atPath: root + "/usr/local/share/ca-certificates/intercept-proxy.crt"))

        let fixed = try run("chroot", [root, "/usr/bin/env", "-i", path, "PROXY_CA_B64=\(base64)", "/bin/sh", "/tmp/trust-proxy.sh"])
        #expect(fixed.status == 0, "\(fixed)")
        #expect(fixed.stdout.contains("1 added"), "update-ca-certificates took the .crt: \(fixed)")

        let after = try curl()
        #expect(after.status == 0, "\(after)")
        #expect(after.stdout.contains("the TLS handshake for deb.example succeeded"), "\(after)")
    }

    /// explain on what a command run under chroot printed (the command line with it): the chroot
    /// is the place, and the printed fix, run as printed (without sudo: we are root), makes the
    /// same curl in the same chroot pass.
    @Test func explainPlacesAChrootAndItsFixWorksThere() throws {
        let cached = ProcessInfo.processInfo.environment["INTERCEPT_PROXY_TEST_ROOTFS"] ?? "/var/cache/intercept-proxy/rootfs-bookworm"
        try #require(FileManager.default.fileExists(atPath: cached + "/usr/bin/curl"), "no Debian rootfs at \(cached); `make test` builds it with debootstrap")
        try #require(getuid() == 0, "chroot needs root; run `make test` as root (as CI does)")
        let scratch = try TemporaryDirectory()
        let root = scratch.path("rootfs")
        let copied = try run("cp", ["-a", cached, root])
        #expect(copied.status == 0, "\(copied)")
        let proxy = try ProxyProcess(["--offline"], command: [], caDirectory: .at(scratch.path("ca")))
        let command = ["chroot", root, "/usr/bin/env", "-i", "PATH=/usr/sbin:/usr/bin:/sbin:/bin", "HTTPS_PROXY=http://127.0.0.1:\(proxy.port)",
                       "curl", "-sS", "--max-time", "20", "https://deb.example/"]
        let before = try run(command[0], Array(command.dropFirst()))
        #expect(before.status == 60, "\(before)")

        let pasted = "# " + command.joined(separator: " ") + "\n" + before.output
        let explained = try CLI.run(["explain", "--json", "--ca-file", proxy.root, "-"], input: pasted)
        let object = try #require(try JSONSerialization.jsonObject(with: Data(explained.stdout.utf8)) as? [String: Any], "\(explained)")
        #expect(object["client"] as? String == "curl" && object["context"] as? String == "chroot", "\(explained.stdout)")
        #expect((object["contextSummary"] as? String)?.hasPrefix("a chroot (\(root))") == true, "\(explained.stdout)")
        let fix = try #require(object["fix"] as? [String])
        #expect(fix.contains("intercept-proxy doctor --rootfs \(root) --ca-file \(proxy.root)   # every runtime under \(root), and whether each trusts the root"), "\(fix)")
        let install = try #require(fix.first { $0.hasPrefix("sudo cp ") }, "\(fix)")
        let applied = try run("sh", ["-c", install.replacingOccurrences(of: "sudo ", with: "")])
        #expect(applied.status == 0, "\(install)\n\(applied)")

        let after = try run(command[0], Array(command.dropFirst()))
        #expect(after.status == 0, "\(after)")
    }
}

