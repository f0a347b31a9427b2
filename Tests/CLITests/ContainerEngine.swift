import Foundation
import Testing
import TestSupport

/// buildah, podman and skopeo as the container tests drive them, as root with chroot isolation and
/// the host's network (no daemon here; `podman run` does not work, `buildah run` does). One base
/// image per test process, imported from the apps rootfs the Makefile builds (debootstrap, then apt),
/// and tagged under the names users' Dockerfiles start from (debian, python, node, golang). Every image is
/// named `localhost/ip-test-<pid>-<random>/...`: tests remove theirs, the base goes at exit, and
/// leftovers of a process that died are removed by the next run.
final class ContainerEngine: Sendable {
    static let shared = Result { try ContainerEngine() }

    /// Where every name of this process starts.
    let prefix: String
    /// The base image under the names Dockerfiles use. Its OS store holds the public stand-in root
    /// of `caDir`, as a real base image's holds the real public roots: the test world's PKI.
    let debian: String, python: String, node: String, golang: String
    /// A `FROM scratch` image holding only the base's CA bundle, named like Google's distroless.
    let distroless: String
    /// uv's binaries alone, as `ghcr.io/astral-sh/uv` ships them (from the tools venv's uv).
    let uv: String
    /// The CA directory every container test uses: the gateway's CA (zscaler) and the public stand-in.
    let caDir: String
    private let scratch: TemporaryDirectory

    /// `buildah bud` as docs/containers.md shows it: chroot isolation and the host's network (the proxy is
    /// on 127.0.0.1), the build arguments, the tag, the context. A failed build leaves no container.
    static func bud(_ context: String, tag: String, arguments: [String] = []) -> [String] {
        ["buildah", "bud", "--isolation", "chroot", "--network", "host"] + arguments.flatMap { ["--build-arg", $0] } + ["-t", tag, context]
    }

    private init() throws {
        guard getuid() == 0 else { throw EngineError("buildah needs root here; run `make test` as root (as CI does)") }
        for tool in ["buildah", "podman", "skopeo", "docker-registry", "dpkg-deb"] { _ = try requireTool(tool) }
        let rootfs = ProcessInfo.processInfo.environment["INTERCEPT_PROXY_TEST_APPS_ROOTFS"] ?? "/var/cache/intercept-proxy/rootfs-bookworm-apps"
        guard FileManager.default.fileExists(atPath: rootfs + "/usr/bin/java") else {
            throw EngineError("no Debian rootfs with pip, venv, npm, go and java at \(rootfs); `make test` builds it (make container-prerequisites)")
        }
        Self.removeLeftovers()
        prefix = "localhost/ip-test-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        debian = "\(prefix)/debian:bookworm"
        python = "\(prefix)/python:3.11"
        node = "\(prefix)/node:18"
        golang = "\(prefix)/golang:1.19"
        distroless = "\(prefix)/distroless/static-debian12:nonroot"
        uv = "\(prefix)/astral-sh/uv:0.13.9"
        atexit { ContainerEngine.removeAll(of: getpid()) }

        scratch = try TemporaryDirectory()
        caDir = scratch.path("ca")
        for kind in [["--profile", "zscaler"], ["--public"]] {
            try Self.check(CLI.run(["ca", "init", "--ca-dir", caDir] + kind), "ca init \(kind)")
        }
        let imported = "\(prefix)/debian-import:bookworm"
        try Self.check(run("sh", ["-c", "tar -C \"$1\" -c . | podman import - \"$2\"", "import", rootfs, imported], timeout: 300), "importing \(rootfs)")
        let base = try TemporaryDirectory()
        try FileManager.default.copyItem(atPath: "\(caDir)/public/root-ca.pem", toPath: base.path("public-test-root.crt"))
        try base.write("Dockerfile", """
            FROM \(imported)
            COPY public-test-root.crt /usr/local/share/ca-certificates/intercept-proxy-public-test-root.crt
            RUN update-ca-certificates
            # No test may reach the internet: apt in these images knows only the repositories a test names.
            RUN : > /etc/apt/sources.list

            """)
        try Self.check(execute(Self.bud(base.url.path, tag: debian)), "giving the base the public stand-in root")
        try Self.check(run("buildah", ["tag", debian, python, node, golang]), "tagging the base")
        let context = try TemporaryDirectory()
        guard let bundle = try file("/etc/ssl/certs/ca-certificates.crt", in: debian) else { throw EngineError("the base image has no CA bundle") }
        try bundle.write(to: URL(fileURLWithPath: context.path("ca-certificates.crt")))
        try context.write("Dockerfile", "FROM scratch\nCOPY ca-certificates.crt /etc/ssl/certs/ca-certificates.crt\n")
        try Self.check(execute(Self.bud(context.url.path, tag: distroless)), "building the distroless-style base")
        let tools = try toolsVenv()
        let uvContext = try TemporaryDirectory()
        for binary in ["uv", "uvx"] { try FileManager.default.copyItem(atPath: "\(tools)/bin/\(binary)", toPath: uvContext.path(binary)) }
        try uvContext.write("Dockerfile", "FROM scratch\nCOPY uv uvx /\n")
        try Self.check(execute(Self.bud(uvContext.url.path, tag: uv)), "building the uv image")
    }

    /// Runs `command` in a container of `image` through the proxy `verify` gives it (HTTPS_PROXY), for
    /// `verify -- sh -c ...`: the finished image's clients, in a world of the caller's choice.
    static func runThroughProxy(_ image: String, _ command: String) -> [String] {
        let script = #"""
            container=$(buildah from --pull-never --quiet "$1") || exit 1
            shift
            buildah run --isolation chroot --network host --env HTTPS_PROXY="$HTTPS_PROXY" --env https_proxy="$HTTPS_PROXY" "$container" -- sh -c "$1"
            status=$?
            buildah rm "$container" >/dev/null
            exit $status
            """#
        return ["sh", "-c", script, "run-in-image", image, command]
    }

    /// `buildah ARGS` with the given environment on top of a clean one (no proxy, no CA variables).
    func buildah(_ arguments: [String], environment: [String: String] = [:], timeout: TimeInterval = 300) throws -> ProcessResult {
        try run("buildah", arguments, environment: cleanEnvironment(environment), timeout: timeout)
    }

    /// A whole command line (from `bud`), in a clean environment.
    func execute(_ command: [String]) throws -> ProcessResult {
        try TestSupport.run(command[0], Array(command.dropFirst()), environment: cleanEnvironment(), timeout: 300)
    }

    /// The name for an image a test builds.
    func name(_ repository: String) -> String { "\(prefix)/\(repository):test" }

    func remove(_ images: String...) {
        _ = try? run("buildah", ["rmi", "-f"] + images)
    }

    /// The bytes of a file in an image, or nil when the image has no such file.
    func file(_ path: String, in image: String) throws -> Data? {
        let container = try Self.check(buildah(["from", "--pull-never", "--quiet", image]), "buildah from \(image)")
            .stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        defer { _ = try? run("buildah", ["rm", container]) }
        let mount = try Self.check(buildah(["mount", container]), "buildah mount").stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        defer { _ = try? run("buildah", ["umount", container]) }
        return FileManager.default.contents(atPath: mount + path)
    }

    /// Runs a command in a container of the image (`buildah run`: `podman run` needs cgroups these machines lack).
    func runInside(_ image: String, _ command: [String]) throws -> ProcessResult {
        let container = try Self.check(buildah(["from", "--pull-never", "--quiet", image]), "buildah from \(image)")
            .stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        defer { _ = try? run("buildah", ["rm", container]) }
        return try buildah(["run", "--isolation", "chroot", container, "--"] + command)
    }

    /// Every byte of an image (manifest, config with its history, uncompressed layers), to search.
    func contents(of image: String) throws -> Data {
        let layout = try TemporaryDirectory()
        try Self.check(buildah(["push", "--quiet", image, "oci:\(layout.path("oci"))"]), "exporting \(image)")
        var bytes = Data()
        let blobs = layout.path("oci/blobs/sha256")
        for blob in try FileManager.default.contentsOfDirectory(atPath: blobs) {
            let path = "\(blobs)/\(blob)"
            // Layers come gzipped (buildah 1.28 compresses even with --disable-compression).
            if try Data(contentsOf: URL(fileURLWithPath: path)).prefix(2) == Data([0x1f, 0x8b]) {
                try Self.check(run("sh", ["-c", "gzip -dc \"$1\" > \"$1.tar\"", "gunzip", path]), "gunzip \(blob)")
                bytes.append(try Data(contentsOf: URL(fileURLWithPath: path + ".tar")))
            } else {
                bytes.append(try Data(contentsOf: URL(fileURLWithPath: path)))
            }
        }
        return bytes
    }

    @discardableResult
    static func check(_ result: ProcessResult, _ what: String) throws -> ProcessResult {
        guard result.status == 0 else { throw EngineError("\(what) failed: \(result)") }
        return result
    }

    /// Removes the images (and working containers) of a test process.
    private static func removeAll(of pid: Int32) {
        guard let listed = try? run("buildah", ["images", "--format", "{{.Name}}:{{.Tag}}"]) else { return }
        let mine = listed.stdout.split(separator: "\n").map(String.init).filter { $0.hasPrefix("localhost/ip-test-\(pid)-") }
        if !mine.isEmpty { _ = try? run("buildah", ["rmi", "-f"] + mine) }
    }

    /// Images of test processes that are gone (killed before their exit handler ran).
    private static func removeLeftovers() {
        guard let listed = try? run("buildah", ["images", "--format", "{{.Name}}"]) else { return }
        let pids = Set(listed.stdout.split(separator: "\n").compactMap { name -> Int32? in
            guard name.hasPrefix("localhost/ip-test-") else { return nil }
            return Int32(name.dropFirst("localhost/ip-test-".count).prefix { $0.isNumber })
        })
        for pid in pids where kill(pid, 0) != 0 { removeAll(of: pid) }
    }

    struct EngineError: Error, CustomStringConvertible {
        let description: String
        init(_ description: String) { self.description = description }
    }
}
