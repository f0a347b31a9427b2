import CertForge
import Foundation
import Testing
import TestSupport

/// Image pulls and apt behind the proxy, in the same serialized suite as the builds (one engine storage).
extension ContainerBuildTests {
    /// `docker pull`'s x509 error, with skopeo (containers/image, as podman and buildah pull): Debian's
    /// docker-registry serves an image over TLS on loopback; pulled through the proxy it fails, and
    /// after the line `snippet --client podman` prints (certs.d) it pulls the pushed digest.
    @Test func imagePullFailsWithX509ThenPullsWithThePodmanSnippet() throws {
        let engine = try ContainerEngine.shared.get(), origin = try Self.origin.get()
        let host = "registry-\(UInt32.random(in: 0...UInt32.max)).example"  // a certs.d entry of its own
        let scratch = try TemporaryDirectory()
        let authority = try CertificateAuthority.generate(profile: .plain.with(keyAlgorithm: .ecdsaP256))
        let files = try scratch.writeChain(LeafForge(authority: authority).chain(for: host))
        let config = try scratch.write("config.yml", """
            version: 0.1
            storage: {filesystem: {rootdirectory: \(scratch.path("data"))}}
            http: {addr: "127.0.0.1:0", tls: {certificate: \(files[0]), key: \(files[1])}}
            """)
        let registry = try startServer("docker-registry", ["serve", config])
        defer { registry.stop() }
        let port = try registry.waitFor(#"listening on 127\.0\.0\.1:(\d+)"#)

        // Pushed straight to the registry in OCI form, so that a pull into an OCI layout keeps the digest.
        let pushed = try run("skopeo", ["copy", "--quiet", "--format", "oci", "--dest-tls-verify=false", "--digestfile", scratch.path("digest"),
                                        "containers-storage:\(engine.distroless)", "docker://127.0.0.1:\(port)/app:1"])
        #expect(pushed.status == 0, "\(pushed)")
        let digest = try String(contentsOfFile: scratch.path("digest"), encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)

        let pull = ["skopeo", "copy", "docker://\(host)/app:1", "oci:\(scratch.path("pulled")):app"]
        let rejected = try origin.verify("rejected", pull, mapping: ["\(host)=127.0.0.1:\(port)"])
        #expect(rejected.status == 0, "\(rejected)")
        #expect(rejected.stderr.contains("x509: certificate signed by unknown authority"), "\(rejected.stderr.suffix(800))")

        let snippet = try CLI.run(["snippet", "--client", "podman", "--ca-dir", origin.caDir, "--profile", "zscaler"]).stdout
        let install = try #require(snippet.split(separator: "\n").first { $0.hasPrefix("sudo mkdir -p /etc/containers/certs.d/") })
        #expect(install == "sudo mkdir -p /etc/containers/certs.d/REGISTRY && sudo cp \(origin.caDir)/zscaler/root-ca.pem /etc/containers/certs.d/REGISTRY/ca.crt")
        defer { try? FileManager.default.removeItem(atPath: "/etc/containers/certs.d/\(host)") }
        // As printed, for this registry; we are root, so without sudo (which CI images may lack).
        let applied = try run("sh", ["-c", install.replacingOccurrences(of: "REGISTRY", with: host).replacingOccurrences(of: "sudo ", with: "")])
        #expect(applied.status == 0, "\(applied)")

        let trusted = try origin.verify("trusted", pull, mapping: ["\(host)=127.0.0.1:\(port)"])
        #expect(trusted.status == 0, "\(trusted)")
        #expect(trusted.stdout.contains("\(host)  trusted"), "\(trusted.stdout)")
        let index = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: scratch.path("pulled/index.json")))) as? [String: Any]
        let manifests = index?["manifests"] as? [[String: Any]]
        #expect(manifests?.first?["digest"] as? String == digest, "pulled \(String(describing: manifests)), pushed \(digest)")

        // docker keeps its daemon advice (the daemon, not the CLI, pulls).
        let docker = try CLI.run(["snippet", "--client", "docker", "--ca-dir", origin.caDir]).stdout
        #expect(docker.contains("/etc/docker/certs.d/REGISTRY:443/ca.crt"), "\(docker)")
        #expect(docker.contains("sudo systemctl daemon-reload && sudo systemctl restart docker"), "\(docker)")
    }

    /// apt told about the proxy the apt way (Acquire::https::Proxy, as users behind gateways do):
    /// GnuTLS's text, then the `snippet --distro debian --format shell` fix, then the install.
    @Test func aptThroughAnAcquireProxyFailsThenTrustsTheSnippet() throws {
        let engine = try ContainerEngine.shared.get(), origin = try Self.origin.get()
        let scratch = try TemporaryDirectory()
        let proxy = try ProxyProcess(["--profile", "zscaler", "--upstream-insecure", "--map-remote", "origin.example=127.0.0.1:\(origin.https.port)"],
                                     caDirectory: .at(origin.caDir))
        let port = proxy.port

        let container = try ContainerEngine.check(engine.buildah(["from", "--pull-never", "--quiet", engine.debian]), "buildah from")
            .stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        defer { _ = try? run("buildah", ["rm", container]) }
        func shell(_ script: String, environment: [String] = []) throws -> ProcessResult {
            try engine.buildah(["run", "--isolation", "chroot", "--network", "host"] + environment.flatMap { ["--env", $0] } + [container, "--", "sh", "-c", script])
        }
        let configure = """
            echo 'Acquire::https::Proxy "http://127.0.0.1:\(port)";' > /etc/apt/apt.conf.d/99proxy && \
            echo 'deb [trusted=yes] https://origin.example/apt ./' > /etc/apt/ip-demo.list
            """
        // Only the local repository, named on the command line too: should the configure step not
        // have run, apt finds no list and stops, and never reaches the image's deb.debian.org.
        let sources = "-o Dir::Etc::SourceList=/etc/apt/ip-demo.list -o Dir::Etc::SourceParts=/nonexistent"
        let install = "apt-get \(sources) update --error-on=any && apt-get \(sources) install -y --no-install-recommends ip-demo"
        var configured = try shell(configure)
        if configured.status != 0 {
            // Seen once in CI, with no output kept; printed so the next one says why, then tried again.
            print("apt test: configuring the container failed, once more: \(configured)")
            configured = try shell(configure)
        }
        try #require(configured.status == 0, "\(configured)")
        let before = try shell(install)
        #expect(before.status != 0, "\(before)")
        #expect(before.output.contains("Certificate verification failed: The certificate is NOT trusted. The certificate issuer is unknown."), "\(before)")

        let snippet = try scratch.write("trust-proxy.sh", try CLI.run(["snippet", "--distro", "debian", "--format", "shell"]).stdout)
        try ContainerEngine.check(engine.buildah(["copy", container, snippet, "/tmp/trust-proxy.sh"]), "buildah copy")
        let fixed = try shell("sh /tmp/trust-proxy.sh", environment: ["PROXY_CA_B64=\(origin.caBase64)"])
        #expect(fixed.status == 0, "\(fixed)")
        #expect(fixed.stdout.contains("1 added"), "\(fixed)")

        let after = try shell(install)
        #expect(after.status == 0, "\(after)")
        #expect(try shell("cat /usr/share/ip-demo/hello").stdout == "hello from the local apt repository\n")
    }
}
