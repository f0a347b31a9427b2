import Foundation
import Testing
import TestSupport

/// The image `make image` builds (make test builds it first), run the way the engines here can:
/// `buildah from` its archive, then its own entrypoint from its own filesystem as UID 65532 with
/// `buildah run --isolation chroot` (podman run does not work on these machines, see docs/containers.md).
@Suite struct ContainerImageTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    static let archive = ProcessInfo.processInfo.environment["INTERCEPT_PROXY_IMAGE_ARCHIVE"]
        ?? root.appendingPathComponent(".build/intercept-proxy-image.docker.tar").path

    /// The Containerfile's JSON-array instructions (ENTRYPOINT, CMD, VOLUME) and plain ones (USER, EXPOSE).
    private func containerfile() throws -> [String: String] {
        let text = try String(contentsOf: Self.root.appendingPathComponent("image/Containerfile"), encoding: .utf8)
        var found: [String: String] = [:]
        for line in text.split(separator: "\n") {
            let parts = line.split(separator: " ", maxSplits: 1).map(String.init)
            if parts.count == 2, ["ENTRYPOINT", "CMD", "VOLUME", "USER", "EXPOSE"].contains(parts[0]) { found[parts[0]] = parts[1] }
        }
        return found
    }

    private func strings(_ json: String) throws -> [String] {
        try JSONSerialization.jsonObject(with: Data(json.utf8)) as! [String]
    }

    @Test func theImageRunsAsNonRootHasNoShellNoKeyAndServesThroughItsCA() throws {
        #expect(FileManager.default.fileExists(atPath: Self.archive), "no image archive at \(Self.archive): `make image` builds it (make test does)")
        guard FileManager.default.fileExists(atPath: Self.archive) else { return }
        let name = "intercept-proxy-image-test-\(UUID().uuidString.prefix(8).lowercased())"
        let created = try run("buildah", ["from", "--quiet", "--name", name, "docker-archive:\(Self.archive)"], timeout: 300)
        #expect(created.status == 0, "\(created)")
        defer { _ = try? run("buildah", ["rm", name]) }

        // The configuration is the Containerfile's.
        let inspected = try run("buildah", ["inspect", "--type", "container", name])
        let info = try JSONSerialization.jsonObject(with: Data(inspected.stdout.utf8)) as! [String: Any]
        let config = try #require(((info["Docker"] as? [String: Any])?["config"]) as? [String: Any], "\(inspected.stdout.prefix(2000))")
        let file = try containerfile()
        let entrypoint = try strings(file["ENTRYPOINT"]!), command = try strings(file["CMD"]!)
        #expect(config["Entrypoint"] as? [String] == entrypoint, "\(config)")
        #expect(config["Cmd"] as? [String] == command, "\(config)")
        #expect(config["User"] as? String == "65532:65532", "\(config)")
        #expect((config["ExposedPorts"] as? [String: Any]).map { Set($0.keys) } == ["8080/tcp", "8081/tcp"], "\(config)")
        #expect((config["Volumes"] as? [String: Any]).map { Set($0.keys) } == ["/certs"], "\(config)")
        let healthcheck = (config["Healthcheck"] as? [String: Any])?["Test"] as? [String]
        #expect(healthcheck?.prefix(5) == ["CMD", "/usr/local/bin/intercept-proxy", "healthcheck", "--admin", "127.0.0.1:8081"], "\(config)")
        #expect((config["Labels"] as? [String: String])?["org.opencontainers.image.title"] == "intercept-proxy", "\(config)")

        // No shell, no package manager, no private key anywhere in the image's files.
        let mounted = try run("buildah", ["mount", name])
        let rootfs = mounted.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(mounted.status == 0 && !rootfs.isEmpty, "\(mounted)")
        defer { _ = try? run("buildah", ["umount", name]) }
        for path in ["bin/sh", "usr/bin/sh", "bin/bash", "usr/bin/dpkg", "usr/bin/apt", "usr/bin/apt-get"] {
            #expect(!FileManager.default.fileExists(atPath: "\(rootfs)/\(path)"), "/\(path) is in the image")
        }
        #expect(FileManager.default.fileExists(atPath: "\(rootfs)/usr/local/bin/intercept-proxy"))
        let files = filesAndSizes(rootfs)
        let keyFiles = files.keys.filter { FileManager.default.contents(atPath: "\(rootfs)/\($0)").map(Self.holdsPEMPrivateKey) ?? false }
        #expect(keyFiles.isEmpty, "private keys in the image: \(keyFiles)")
        #expect(files.count > 5 && files.count < 40, "\(files.count) files in the image: \(files.keys.sorted())")
        // Issue #15 aims under 40 MB unpacked: the binary links FoundationEssentials, not Foundation's ICU data.
        let megabytes = files.values.reduce(0, +) / 1_000_000
        #expect(megabytes < 40, "the image holds \(megabytes) MB: \(files.sorted { $0.value > $1.value }.prefix(5))")

        // The entrypoint and command, on ephemeral loopback ports, as UID 65532. (buildah run gives the
        // image's /certs volume a fresh anonymous volume, so the addresses come from the banner line.)
        var arguments = command
        for (flag, value) in [("--listen-host", "127.0.0.1"), ("--port", "0"), ("--admin", "127.0.0.1:0")] {
            let index = try #require(arguments.firstIndex(of: flag), "\(arguments)")
            arguments[index + 1] = value
        }
        let server = try startServer("buildah", ["run", "--isolation", "chroot", "--user", "65532:65532", name, "--"] + entrypoint + arguments)
        defer { server.stop(signal: SIGTERM) }
        let port = try #require(Int(try server.waitFor("listening on 127\\.0\\.0\\.1:([0-9]+)", timeout: 60)))
        let admin = "127.0.0.1:" + (try server.waitFor("control API on 127\\.0\\.0\\.1:([0-9]+)"))
        let readyAnswer = try run("curl", ["-sS", "http://\(admin)/v1/ready"])
        let ready = try #require(try JSONSerialization.jsonObject(with: Data(readyAnswer.stdout.utf8)) as? [String: Any], "\(readyAnswer)")
        #expect(ready["caCertificate"] as? String == "/certs/zscaler/root-ca.pem" && ready["port"] as? Int == port, "\(ready)")
        // chroot isolation shares the PID namespace: the proxy's own process is visible, with its user.
        let pid = try #require(ready["pid"] as? Int)
        let status = try String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8)
        let uid = status.split(separator: "\n").first { $0.hasPrefix("Uid:") }.map(String.init) ?? ""
        #expect(uid.split(whereSeparator: { $0 == "\t" || $0 == " " }).dropFirst().allSatisfy { $0 == "65532" } && uid.contains("65532"), "\(uid)")
        #expect(status.contains("Name:\tintercept-proxy"), "\(status.prefix(200))")

        let scratch = try TemporaryDirectory()
        let caFile = scratch.path("fetched-ca.pem")
        let fetched = try run("curl", ["-sS", "--fail", "-o", caFile, "http://\(admin)/v1/ca.pem"])
        #expect(fetched.status == 0, "\(fetched)")
        let untrusted = try run("curl", ["-sS", "-x", "http://127.0.0.1:\(port)", "https://intercept-proxy.test/health"])
        #expect(untrusted.status == 60 && untrusted.stderr.contains("SSL certificate problem: unable to get local issuer certificate"), "\(untrusted)")
        let trusted = try run("curl", ["-sS", "-x", "http://127.0.0.1:\(port)", "--cacert", caFile, "https://intercept-proxy.test/health"])
        #expect(trusted.status == 0 && trusted.stdout == "ok\n", "\(trusted)")
        let health = try run("buildah", ["run", "--isolation", "chroot", "--user", "65532:65532", name, "--"]
                             + entrypoint + ["healthcheck", "--admin", admin])
        #expect(health.status == 0 && health.stdout == "healthy: \(admin) answered 200\n", "\(health)")

        let stop = try run("curl", ["-sS", "-X", "POST", "http://\(admin)/v1/shutdown"])
        #expect(stop.stdout == "{\"status\":\"stopping\"}\n", "\(stop)")
        // The proxy exits, and buildah run with it; then nothing answers on the control API's port.
        let ended = server.waitForExit(timeout: 15)
        let stopped = try run("curl", ["-sS", "--max-time", "2", "http://\(admin)/v1/health"]).status == 7
        #expect(ended != nil && stopped, "the control API still answers 15 s after POST /v1/shutdown (\(ended.map(\.description) ?? "still running"))")
        // It wrote nothing outside its /certs volume: a read-only root filesystem is enough.
        // (buildah itself leaves empty mount points for the files every engine bind-mounts.)
        let engineMountPoints: Set<String> = ["etc/hosts", "etc/hostname", "etc/resolv.conf"]
        #expect(filesAndSizes(rootfs).filter { !engineMountPoints.contains($0.key) || $0.value != 0 } == files, "the run changed the image's files")
    }

    /// Every regular file under `root` (relative path) with its size.
    private func filesAndSizes(_ root: String) -> [String: Int] {
        var found: [String: Int] = [:]
        for case let relative as String in FileManager.default.enumerator(atPath: root)! {
            let attributes = try? FileManager.default.attributesOfItem(atPath: "\(root)/\(relative)")
            guard attributes?[.type] as? FileAttributeType == .typeRegular else { continue }
            found[relative] = (attributes?[.size] as? Int) ?? -1
        }
        return found
    }

    /// A PEM private key block: the label line followed by base64 (the binary itself contains the bare
    /// label, since `explain --ca-file` refuses files holding a key; that is not a key).
    static func holdsPEMPrivateKey(_ data: Data) -> Bool {
        let marker = Data("PRIVATE KEY-----".utf8)
        func isBase64(_ byte: UInt8) -> Bool {
            (0x41...0x5A).contains(byte) || (0x61...0x7A).contains(byte) || (0x30...0x39).contains(byte) || byte == 0x2B || byte == 0x2F
        }
        var from = data.startIndex
        while let found = data.range(of: marker, in: from..<data.endIndex) {
            let rest = data[found.upperBound...]
            if let first = rest.first, first == 0x0A || first == 0x0D {
                let body = rest.drop { $0 == 0x0A || $0 == 0x0D }.prefix(48)
                if body.count == 48 && body.allSatisfy(isBase64) { return true }
            }
            from = found.upperBound
        }
        return false
    }

    @Test func theKeySearchFindsAPEMKeyButNotTheBareLabel() throws {
        let key = try run("openssl", ["genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256"])
        #expect(key.status == 0, "\(key)")
        #expect(Self.holdsPEMPrivateKey(Data(("binary\0" + key.stdout + "\0tail").utf8)))
        #expect(!Self.holdsPEMPrivateKey(Data("if text.contains(\"PRIVATE KEY-----\") { refuse }".utf8)))
    }
}
