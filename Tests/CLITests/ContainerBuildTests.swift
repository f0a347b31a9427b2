import CertForge
import Foundation
import Testing
import TestSupport

/// Container builds behind the proxy, with buildah (the engine under `podman build`, which reads
/// Dockerfiles as `docker build` does): each client in a RUN step fails with its own words through
/// the zscaler profile, and builds once the image trusts the CA, all offline. The origin is local:
/// a pip index, an npm registry and an apt repository over HTTPS, reached through `--map-remote`.
/// Serialized: one engine storage, and the machine is small.
@Suite(.serialized) struct ContainerBuildTests {
    /// The local origin and the CA every proxy of the suite uses.
    final class Origin: Sendable {
        let packages: PackageOrigin
        let caDir: String
        /// `intercept-proxy ca export --format base64`, the build argument's value.
        let caBase64: String
        let rootPEM: String
        var https: StaticHTTPSServer { packages.server }

        /// The CA directory is the engine's: its public stand-in root is the one the base image trusts.
        init(engine: ContainerEngine) throws {
            packages = try PackageOrigin(host: "origin.example") { root in
                try PackageRepositories.writePipIndex(root: root)
                try PackageRepositories.writeNPMRegistry(root: root, base: "https://origin.example")
                try PackageRepositories.writeAptRepository(root: root)
                try PackageRepositories.writeGoModuleProxy(root: root)
            }
            caDir = engine.caDir
            caBase64 = try CLI.run(["ca", "export", "--ca-dir", caDir, "--format", "base64"]).stdout.trimmingCharacters(in: .whitespacesAndNewlines)
            rootPEM = try String(contentsOfFile: "\(caDir)/zscaler/root-ca.pem", encoding: .utf8)
        }

        /// `intercept-proxy verify` around a command, through the zscaler profile, origin.example mapped
        /// here; `worlds: "direct"` runs it with no gateway (the origin presents a public stand-in leaf).
        func verify(_ expect: String, _ command: [String], mapping extra: [String] = [], worlds: String = "gateway") throws -> ProcessResult {
            let maps = (["origin.example=127.0.0.1:\(https.port)"] + extra).flatMap { ["--map-remote", $0] }
            return try CLI.run(["verify", "--ca-dir", caDir, "--profile", "zscaler", "--upstream-insecure", "--worlds", worlds] + maps
                               + ["--expect", expect, "--"] + command)
        }

        /// The finished image's clients, in the world without the gateway: they must trust the origin's own certificate.
        func expectTrustedWithoutTheGateway(_ image: String, _ clients: String, _ what: String, sourceLocation: SourceLocation = #_sourceLocation) throws {
            let direct = try verify("trusted", ContainerEngine.runThroughProxy(image, clients), worlds: "direct")
            #expect(direct.status == 0, "\(what) without the gateway:\n\(direct.stdout)\n\(direct.stderr.suffix(1500))", sourceLocation: sourceLocation)
            #expect(direct.stdout.contains("origin.example  direct        trusted"), "\(direct.stdout)", sourceLocation: sourceLocation)
        }
    }

    static let origin = Result { try Origin(engine: ContainerEngine.shared.get()) }

    /// RUN steps fetching over HTTPS, and what each client prints behind the gateway (reference file, section 1).
    static let curlStep = #"RUN curl -sS -o /dev/null "$ORIGIN/apt/Release""#
    static let pipStep = #"RUN pip install --break-system-packages --root-user-action=ignore --no-cache-dir --retries 0 --disable-pip-version-check --index-url "$ORIGIN/simple/" demo==1.0"#
    static let aptStep = #"RUN echo "deb [trusted=yes] $ORIGIN/apt ./" > /etc/apt/sources.list && apt-get update --error-on=any && apt-get install -y --no-install-recommends ip-demo"#
    /// Each client's step, its words, and what explain must read in the whole build log.
    static let clientFailures: [(step: String, text: String, client: String, cause: String)] = [
        (curlStep, "curl: (60) SSL certificate problem: unable to get local issuer certificate", "curl", "root-not-sent"),
        (pipStep, "[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed: unable to get local issuer certificate", "pip", "root-not-sent"),
        (aptStep, "Certificate verification failed: The certificate is NOT trusted. The certificate issuer is unknown.", "apt", "untrusted"),
    ]
    static let bundle = "/etc/ssl/certs/ca-certificates.crt"
    /// What a built image's clients fetch, in a world of the caller's choice.
    static let imageClients = "curl -sS -o /dev/null https://origin.example/apt/Release && python3 -m pip download -q --no-deps --retries 0 "
        + "--disable-pip-version-check --no-cache-dir --index-url https://origin.example/simple/ demo==1.0 -d /tmp/downloads"
    static let anchor = "/usr/local/share/ca-certificates/intercept-proxy.crt"

    /// A build context holding a Dockerfile (and any other files).
    private func context(_ dockerfile: String, files: [String: String] = [:]) throws -> TemporaryDirectory {
        let directory = try TemporaryDirectory()
        try directory.write("Dockerfile", dockerfile)
        for (name, text) in files { try directory.write(name, text) }
        return directory
    }

    /// Pattern 1: the gated build argument. Each client fails at its step; with the block from
    /// `snippet --distro debian` and the argument the build passes; without the argument the same
    /// Dockerfile builds against a direct origin and its image holds no proxy CA.
    @Test func gatedBuildArgumentTurnsEachClientsFailureIntoABuild() throws {
        let engine = try ContainerEngine.shared.get(), origin = try Self.origin.get()
        let image = engine.name("pattern1"), clean = engine.name("pattern1-clean")
        defer { engine.remove(image, clean) }
        for (step, text, client, cause) in Self.clientFailures {
            let build = try context("FROM \(engine.debian)\nARG ORIGIN=https://origin.example\n\(step)\n")
            let rejected = try origin.verify("rejected", ContainerEngine.bud(build.url.path, tag: engine.name("pattern1-fails")))
            #expect(rejected.status == 0, "\(step): \(rejected)")
            #expect(rejected.stderr.contains(text), "\(step) should fail with: \(text)\n\(rejected.stderr.suffix(1500))")
            #expect(rejected.stderr.contains("Error: building at STEP \"\(step)\""), "\(rejected.stderr.suffix(600))")
            // The build engine as a client of explain (issue 30): buildah's whole log, as a user pastes it.
            let explained = try CLI.run(["explain", "--json", "-"], input: rejected.stderr)
            let reading = try JSONSerialization.jsonObject(with: Data(explained.stdout.utf8)) as? [String: Any]
            #expect(reading?["client"] as? String == client && reading?["cause"] as? String == cause && reading?["context"] as? String == "docker-build",
                    "\(step): explain read \(explained.stdout)\n--- the log:\n\(rejected.stderr.suffix(1500))")
        }

        let snippet = try CLI.run(["snippet", "--distro", "debian"]).stdout
        let dockerfile = "FROM \(engine.debian)\n\(snippet)ARG ORIGIN=https://origin.example\n" + Self.clientFailures.map(\.step).joined(separator: "\n") + "\n"
        let build = try context(dockerfile)
        let trusted = try origin.verify("trusted", ContainerEngine.bud(build.url.path, tag: image, arguments: ["PROXY_CA_B64=\(origin.caBase64)"]))
        #expect(trusted.status == 0, "\(trusted.stdout)\n\(trusted.stderr.suffix(2000))")
        #expect(trusted.stdout.contains("origin.example  trusted"), "\(trusted.stdout)")
        #expect(try engine.file(Self.anchor, in: image) == Data(origin.rootPEM.utf8), "the proxy's root is in the image's anchors")
        #expect(try engine.file("/usr/share/ip-demo/hello", in: image) != nil, "apt installed the package")
        // The image ships where there is no gateway: its clients still trust the public roots.
        try origin.expectTrustedWithoutTheGateway(image, Self.imageClients, "pattern 1's image")

        // The same Dockerfile in the world without the gateway: no argument, the block does nothing, it builds.
        let directWorld = engine.name("pattern1-direct")
        defer { engine.remove(directWorld) }
        let withoutGateway = try origin.verify("trusted", ContainerEngine.bud(build.url.path, tag: directWorld), worlds: "direct")
        #expect(withoutGateway.status == 0, "\(withoutGateway.stdout)\n\(withoutGateway.stderr.suffix(2000))")
        #expect(try engine.file(Self.anchor, in: directWorld) == nil, "no proxy CA without the argument")

        // CI without the proxy: no argument, a direct local origin, and the image stays clean.
        let direct = try StaticHTTPSServer(directory: origin.packages.root, chain: nil)
        defer { direct.stop() }
        let built = try engine.execute(ContainerEngine.bud(build.url.path, tag: clean, arguments: ["ORIGIN=http://127.0.0.1:\(direct.port)"]))
        #expect(built.status == 0, "\(built.stderr.suffix(2000))")
        #expect(try engine.file(Self.anchor, in: clean) == nil, "no proxy CA without the argument")
        let baseBundle = try #require(try engine.file(Self.bundle, in: engine.debian))
        #expect(try engine.file(Self.bundle, in: clean) == baseBundle, "the bundle is the base image's")
        #expect(try engine.file("/usr/share/ip-demo/hello", in: clean) != nil)
    }

    /// A build step that ignores the proxy variables (`curl --noproxy '*'`) passes in explicit mode
    /// offline only by going around the proxy; `verify --transparent` runs the build in the namespace
    /// whose only way out is the proxy, as a laptop agent intercepts it, and the step fails until the
    /// image trusts the root (the snippet's block with its build argument).
    @Test func aBuildStepIgnoringTheProxyIsInterceptedTransparently() throws {
        let engine = try ContainerEngine.shared.get(), origin = try Self.origin.get()
        let image = engine.name("transparent")
        defer { engine.remove(image, engine.name("transparent-fails")) }
        let step = #"RUN curl -sS --noproxy '*' -o /dev/null https://pypi.org/simple/"#
        let transparent = { (expect: String, build: TemporaryDirectory, tag: String, arguments: [String]) in
            try CLI.run(["verify", "--ca-dir", origin.caDir, "--profile", "zscaler", "--offline", "--transparent", "--expect", expect, "--"]
                        + ContainerEngine.bud(build.url.path, tag: tag, arguments: arguments))
        }
        let bare = try context("FROM \(engine.debian)\n\(step)\n")
        let rejected = try transparent("rejected", bare, engine.name("transparent-fails"), [])
        #expect(rejected.status == 0, "\(rejected.stdout)\n\(rejected.stderr.suffix(1500))")
        #expect(rejected.stderr.contains("curl: (60) SSL certificate problem: unable to get local issuer certificate"), "\(rejected.stderr.suffix(1500))")
        #expect(rejected.stdout.contains("pypi.org"), "\(rejected.stdout)")

        let snippet = try CLI.run(["snippet", "--distro", "debian"]).stdout
        let fixed = try context("FROM \(engine.debian)\n\(snippet)\(step)\n")
        let trusted = try transparent("trusted", fixed, image, ["PROXY_CA_B64=\(origin.caBase64)"])
        #expect(trusted.status == 0, "\(trusted.stdout)\n\(trusted.stderr.suffix(2000))")
        #expect(trusted.stdout.contains("OK: every host was trusted"), "\(trusted.stdout)")
    }

    /// `doctor --image`: the test image (Python with pip and a venv, node, a Java runtime, curl, Go)
    /// before the fix, after `snippet --dockerfile --write` and a rebuild, and with one line of the
    /// fix taken out.
    @Test func doctorSeesEveryRuntimeOfAnImageTurnGreenWithTheFix() throws {
        let engine = try ContainerEngine.shared.get(), origin = try Self.origin.get()
        let fixedImage = engine.name("doctor-fixed"), partial = engine.name("doctor-partial")
        defer { engine.remove(fixedImage, partial) }
        func doctor(_ image: String, prove: Bool = false) throws -> (status: Int32, red: [String], all: [String], proofs: [String: String], output: String) {
            let result = try CLI.run(["doctor", "--ca-dir", origin.caDir, "--image", image, "--json"] + (prove ? ["--prove"] : []))
            let report = try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any]
            let findings = report?["findings"] as? [[String: Any]] ?? []
            let proofs = (report?["proofs"] as? [[String: Any]] ?? []).reduce(into: [String: String]()) {
                $0[$1["runtime"] as? String ?? "?"] = $1["gateway"] as? String ?? "no handshake"
            }
            return (result.status, findings.filter { $0["ok"] as? Bool == false }.compactMap { $0["runtime"] as? String },
                    findings.compactMap { $0["runtime"] as? String }, proofs, result.stdout + result.stderr)
        }
        // Before: red, and the probes (curl and Python under chroot in the mounted image) are rejected behind the gateway.
        let before = try doctor(engine.debian, prove: true)
        #expect(before.status == 1, "\(before.output)")
        for runtime in ["OS (debian)", "curl", "python3 (ssl)", "pip", "node", "java", "go"] {
            #expect(before.all.contains(runtime), "\(runtime) should be found: \(before.output)")
        }
        #expect(before.red == before.all, "every cell red before the fix: \(before.output)")
        #expect(before.proofs == ["curl": "rejected", "python3 (ssl)": "rejected"], "\(before.output)")

        let build = try context("FROM \(engine.debian)\nRUN python3 -m venv /opt/venv && pip --version && npm --version && curl --version && java -version\n")
        let written = try CLI.run(["snippet", "--dockerfile", build.path("Dockerfile"), "--write"])
        #expect(written.status == 0, "\(written)")
        let built = try engine.execute(ContainerEngine.bud(build.url.path, tag: fixedImage, arguments: ["PROXY_CA_B64=\(origin.caBase64)"]))
        try #require(built.status == 0, "\(built.stderr.suffix(2000))")
        let after = try doctor(fixedImage, prove: true)
        #expect(after.status == 0 && after.red.isEmpty, "\(after.output)")
        #expect(after.proofs == ["curl": "trusted", "python3 (ssl)": "trusted"], "\(after.output)")

        // Without the line that gives node the bundle, exactly node turns red.
        let dockerfile = try String(contentsOfFile: build.path("Dockerfile"), encoding: .utf8)
        let withoutNode = dockerfile.split(separator: "\n", omittingEmptySubsequences: false).filter { !$0.hasPrefix("ENV NODE_EXTRA_CA_CERTS") }
        #expect(withoutNode.count < dockerfile.split(separator: "\n", omittingEmptySubsequences: false).count, "\(dockerfile)")
        try withoutNode.joined(separator: "\n").write(toFile: build.path("Dockerfile"), atomically: true, encoding: .utf8)
        let rebuilt = try engine.execute(ContainerEngine.bud(build.url.path, tag: partial, arguments: ["PROXY_CA_B64=\(origin.caBase64)"]))
        try #require(rebuilt.status == 0, "\(rebuilt.stderr.suffix(2000))")
        let oneRed = try doctor(partial)
        #expect(oneRed.status == 1 && oneRed.red == ["node"], "\(oneRed.output)")
    }

    /// Pattern 2: a corp-base image with the CA installed; an application FROM it builds through the
    /// proxy with its Dockerfile untouched and no build argument.
    @Test func applicationFromABundlingBaseImageBuildsUntouched() throws {
        let engine = try ContainerEngine.shared.get(), origin = try Self.origin.get()
        let corpBase = engine.name("corp-base"), app = engine.name("corp-app")
        defer { engine.remove(app, corpBase) }
        let snippet = try CLI.run(["snippet", "--distro", "debian"]).stdout
        let base = try context("FROM \(engine.debian)\n\(snippet)")
        try ContainerEngine.check(engine.execute(ContainerEngine.bud(base.url.path, tag: corpBase, arguments: ["PROXY_CA_B64=\(origin.caBase64)"])), "corp-base")

        let application = try context("FROM \(corpBase)\nARG ORIGIN=https://origin.example\n\(Self.curlStep)\n\(Self.pipStep)\n")
        let built = try origin.verify("trusted", ContainerEngine.bud(application.url.path, tag: app))
        #expect(built.status == 0, "\(built.stdout)\n\(built.stderr.suffix(2000))")
        #expect(built.stdout.contains("OK: every host was trusted"), "\(built.stdout)")
        try origin.expectTrustedWithoutTheGateway(app, Self.imageClients, "the application on corp-base")
    }

    /// `snippet --dockerfile` on the shapes users have: before, the build fails with the client's
    /// text; the rewrite is written, a second run changes nothing, and the build passes with the argument.
    struct App: Sendable, CustomStringConvertible {
        let description: String
        let dockerfile: @Sendable (ContainerEngine) -> String
        let files: [String: String]
        let failure: String
        /// Stage notes the rewrite must print.
        let notes: @Sendable (ContainerEngine) -> [String]
        let builtFile: String
        /// A client of the finished image, run in the world without the gateway; nil when the image
        /// has none (the Go app's final stage only copies): the Dockerfile then builds in that world.
        var imageClient: String?
    }

    static let apps: [App] = [
        App(description: "python app (pip)",
            dockerfile: { "FROM \($0.python)\nWORKDIR /app\nRUN pip install --break-system-packages --root-user-action=ignore --no-cache-dir --retries 0 --disable-pip-version-check --index-url https://origin.example/simple/ demo==1.0\nCMD [\"python3\", \"-c\", \"import demo\"]\n" },
            files: [:], failure: "[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed: unable to get local issuer certificate",
            notes: { _ in ["debian family, block inserted after line 1 and the variables for python"] },
            builtFile: "/usr/local/lib/python3.11/dist-packages/demo/__init__.py",
            imageClient: "python3 -m pip download -q --no-deps --retries 0 --disable-pip-version-check --no-cache-dir --index-url https://origin.example/simple/ demo==1.0 -d /tmp/d"),
        // Tried as a new user would: uv copied from its image reads neither certifi nor PIP_CERT.
        App(description: "python app (uv copied from its image, uv sync)",
            dockerfile: { """
                FROM \($0.python)
                COPY --from=\($0.uv) /uv /uvx /bin/
                WORKDIR /app
                COPY pyproject.toml .
                ENV UV_PYTHON_DOWNLOADS=never UV_NO_CACHE=1 UV_LINK_MODE=copy
                RUN uv sync --index-url https://origin.example/simple/

                """ },
            files: ["pyproject.toml": "[project]\nname = \"app\"\nversion = \"1.0\"\nrequires-python = \">=3.11\"\ndependencies = [\"demo==1.0\"]\n\n[tool.uv]\npackage = false\n"],
            failure: "invalid peer certificate: UnknownIssuer",
            notes: { _ in ["debian family, block inserted after line 1 and the variables for python, uv"] },
            builtFile: "/app/.venv/lib/python3.11/site-packages/demo/__init__.py",
            imageClient: "cd /app && uv pip install -q --python /app/.venv/bin/python --reinstall --index-url https://origin.example/simple/ demo==1.0"),
        App(description: "node app (npm)",
            dockerfile: { "FROM \($0.node)\nWORKDIR /app\nCOPY package.json .\nRUN npm install --no-audit --no-fund --fetch-retries=0 --registry https://origin.example/npm/\n" },
            files: ["package.json": #"{"name": "app", "version": "1.0.0", "dependencies": {"ip-demo": "1.0.0"}}"#],
            failure: "npm ERR! code UNABLE_TO_GET_ISSUER_CERT_LOCALLY",
            notes: { _ in ["debian family, block inserted after line 1 and the variables for node"] },
            builtFile: "/app/node_modules/ip-demo/index.js",
            imageClient: "npm view ip-demo version --registry https://origin.example/npm/ --fetch-retries=0"),
        App(description: "multi-stage Go build, distroless-style final stage",
            dockerfile: { """
                FROM \($0.golang) AS build
                WORKDIR /src
                COPY go.mod main.go ./
                ENV GOPROXY=https://origin.example/goproxy GOSUMDB=off GOFLAGS=-mod=mod CGO_ENABLED=0
                RUN go build -o /app .

                FROM \($0.distroless)
                COPY --from=build /app /app
                ENTRYPOINT ["/app"]

                """ },
            files: ["go.mod": "module example.com/app\n\ngo 1.19\n\nrequire example.com/greet v1.0.0\n",
                    "main.go": "package main\n\nimport (\n\t\"fmt\"\n\n\t\"example.com/greet\"\n)\n\nfunc main() { fmt.Println(greet.Hello()) }\n"],
            failure: "x509: certificate signed by unknown authority",
            notes: { ["stage 0 (build) FROM \($0.golang): debian family, block inserted after line 1\n",
                      "stage 1 FROM \($0.distroless): only copies (no RUN), left alone: no proxy CA is shipped in it"] },
            builtFile: "/app"),
    ]

    @Test(arguments: apps)
    func rewrittenDockerfileBuildsThroughTheProxy(app: App) throws {
        let engine = try ContainerEngine.shared.get(), origin = try Self.origin.get()
        let image = engine.name("rewritten")
        defer { engine.remove(image) }
        let original = app.dockerfile(engine)
        let build = try context(original, files: app.files)
        let dockerfile = build.path("Dockerfile")

        let before = try origin.verify("rejected", ContainerEngine.bud(build.url.path, tag: image))
        #expect(before.status == 0, "\(before)")
        #expect(before.stderr.contains(app.failure), "\(app) should fail with: \(app.failure)\n\(before.stderr.suffix(1500))")

        let diff = try CLI.run(["snippet", "--dockerfile", dockerfile])
        #expect(diff.status == 0, "\(diff)")
        #expect(diff.stdout.hasPrefix("--- a/\(dockerfile)\n+++ b/\(dockerfile)\n@@ -1,"), "\(diff.stdout)")
        let written = try CLI.run(["snippet", "--dockerfile", dockerfile, "--write"])
        #expect(written.status == 0, "\(written)")
        for note in app.notes(engine) {
            #expect(written.stderr.contains(note), "\(app): \(note)\n\(written.stderr)")
        }
        let rewritten = try String(contentsOfFile: dockerfile, encoding: .utf8)
        let added = diff.stdout.split(separator: "\n").filter { $0.hasPrefix("+") && !$0.hasPrefix("+++") }.map { String($0.dropFirst()) }
        #expect(rewritten.split(separator: "\n", omittingEmptySubsequences: false).count
                == original.split(separator: "\n", omittingEmptySubsequences: false).count + added.count)
        let again = try CLI.run(["snippet", "--dockerfile", dockerfile])
        #expect(again.status == 0 && again.stdout.isEmpty, "a second run changes nothing: \(again)")
        #expect(again.stderr.contains("\(dockerfile): nothing to change"), "\(again.stderr)")

        let after = try origin.verify("trusted", ContainerEngine.bud(build.url.path, tag: image, arguments: ["PROXY_CA_B64=\(origin.caBase64)"]))
        #expect(after.status == 0, "\(app): \(after.stdout)\n\(after.stderr.suffix(2000))")
        #expect(try engine.file(app.builtFile, in: image) != nil, "\(app) built \(app.builtFile)")
        if let client = app.imageClient {
            try origin.expectTrustedWithoutTheGateway(image, client, "\(app)'s image")
        } else {
            let directWorld = engine.name("rewritten-direct")
            defer { engine.remove(directWorld) }
            let built = try origin.verify("trusted", ContainerEngine.bud(build.url.path, tag: directWorld), worlds: "direct")
            #expect(built.status == 0, "\(app) without the gateway and the argument: \(built.stdout)\n\(built.stderr.suffix(2000))")
        }

        if app.description.hasPrefix("multi-stage") {
            // Hardening: the final stage only copies, so it ships the base's trust store and no trace of the argument.
            #expect(rewritten.hasSuffix("FROM \(engine.distroless)\nCOPY --from=build /app /app\nENTRYPOINT [\"/app\"]\n"), "\(rewritten)")
            #expect(try engine.runInside(image, ["/app"]).stdout == "hello from the local Go module proxy\n", "the binary built from the module")
            let baseBundle = try #require(try engine.file(Self.bundle, in: engine.distroless))
            #expect(try engine.file(Self.bundle, in: image) == baseBundle, "the final image trusts what its base trusts, no more")
            let bytes = try engine.contents(of: image)
            let pemBody = origin.rootPEM.split(separator: "\n")[1]
            #expect(bytes.range(of: Data("hello from the local Go module proxy".utf8)) != nil, "the search reads the layers uncompressed")
            #expect(bytes.range(of: Data(origin.caBase64.utf8)) == nil, "the PROXY_CA_B64 value is in the final image")
            #expect(bytes.range(of: Data(pemBody.utf8)) == nil, "the proxy CA is in the final image")
        }
    }
}
