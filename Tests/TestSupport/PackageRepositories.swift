import Foundation

/// Offline package repositories as static files, for clients that fetch over HTTPS through the
/// proxy: a pip simple index, an npm registry, a flat apt repository and a Go module proxy, each
/// with one real package.
public enum PackageRepositories {
    /// `/simple/demo/` and `/packages/demo-1.0-py3-none-any.whl`: `pip install demo==1.0`.
    public static func writePipIndex(root: String) throws {
        try python(root, """
            import hashlib, os, sys, zipfile
            root = sys.argv[1]
            os.makedirs(root + "/packages", exist_ok=True); os.makedirs(root + "/simple/demo", exist_ok=True)
            wheel = root + "/packages/demo-1.0-py3-none-any.whl"
            with zipfile.ZipFile(wheel, "w") as z:
                z.writestr("demo/__init__.py", "")
                z.writestr("demo-1.0.dist-info/METADATA", "Metadata-Version: 2.1\\nName: demo\\nVersion: 1.0\\n")
                z.writestr("demo-1.0.dist-info/WHEEL", "Wheel-Version: 1.0\\nGenerator: test\\nRoot-Is-Purelib: true\\nTag: py3-none-any\\n")
                z.writestr("demo-1.0.dist-info/RECORD", "")
            digest = hashlib.sha256(open(wheel, "rb").read()).hexdigest()
            open(root + "/simple/demo/index.html", "w").write(
                '<a href="../../packages/demo-1.0-py3-none-any.whl#sha256=%s">demo-1.0-py3-none-any.whl</a>' % digest)
            """)
    }

    /// `/npm/ip-demo` (the packument) and its tarball, for `npm install --registry BASE/npm/`.
    /// `base` is the URL the client reaches the files at (the tarball URL is absolute).
    public static func writeNPMRegistry(root: String, base: String) throws {
        try python(root, """
            import base64, hashlib, io, json, os, sys, tarfile
            root, base = sys.argv[1], sys.argv[2]
            os.makedirs(root + "/npm/tarballs", exist_ok=True)
            buffer = io.BytesIO()
            with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
                for name, text in [("package/package.json", '{"name": "ip-demo", "version": "1.0.0", "main": "index.js"}'),
                                   ("package/index.js", "module.exports = 'ip-demo';\\n")]:
                    data = text.encode()
                    info = tarfile.TarInfo(name); info.size = len(data); info.mode = 0o644
                    tar.addfile(info, io.BytesIO(data))
            tgz = buffer.getvalue()
            open(root + "/npm/tarballs/ip-demo-1.0.0.tgz", "wb").write(tgz)
            dist = {"tarball": base + "/npm/tarballs/ip-demo-1.0.0.tgz", "shasum": hashlib.sha1(tgz).hexdigest(),
                    "integrity": "sha512-" + base64.b64encode(hashlib.sha512(tgz).digest()).decode()}
            version = {"name": "ip-demo", "version": "1.0.0", "main": "index.js", "dist": dist}
            json.dump({"name": "ip-demo", "dist-tags": {"latest": "1.0.0"}, "versions": {"1.0.0": version}},
                      open(root + "/npm/ip-demo", "w"))
            """, [base])
    }

    /// `/apt/` as a flat repository (`deb [trusted=yes] BASE/apt ./`) holding the package `ip-demo`,
    /// which installs /usr/share/ip-demo/hello.
    public static func writeAptRepository(root: String) throws {
        try python(root, """
            import hashlib, os, subprocess, sys
            root = sys.argv[1]; repo = root + "/apt"; build = root + "/apt-build"
            os.makedirs(repo, exist_ok=True); os.makedirs(build + "/DEBIAN"); os.makedirs(build + "/usr/share/ip-demo")
            open(build + "/usr/share/ip-demo/hello", "w").write("hello from the local apt repository\\n")
            open(build + "/DEBIAN/control", "w").write(
                "Package: ip-demo\\nVersion: 1.0\\nArchitecture: all\\nMaintainer: test <t@t>\\nDescription: intercept-proxy test package\\n")
            subprocess.run(["dpkg-deb", "--root-owner-group", "--build", build, repo + "/ip-demo_1.0_all.deb"], check=True, capture_output=True)
            deb = open(repo + "/ip-demo_1.0_all.deb", "rb").read()
            control = open(build + "/DEBIAN/control").read()
            packages = control + "Filename: ./ip-demo_1.0_all.deb\\nSize: %d\\nSHA256: %s\\n" % (len(deb), hashlib.sha256(deb).hexdigest())
            open(repo + "/Packages", "w").write(packages)
            data = packages.encode()
            open(repo + "/Release", "w").write("Origin: intercept-proxy-test\\nSHA256:\\n %s %d Packages\\n" % (hashlib.sha256(data).hexdigest(), len(data)))
            """)
    }

    /// `/goproxy/` as a Go module proxy (GOPROXY=BASE/goproxy) serving `example.com/greet v1.0.0`,
    /// whose `greet.Hello()` returns "hello from the local Go module proxy".
    public static func writeGoModuleProxy(root: String) throws {
        try python(root, """
            import json, os, sys, zipfile
            module, version = "example.com/greet", "v1.0.0"
            directory = sys.argv[1] + "/goproxy/" + module + "/@v"
            os.makedirs(directory, exist_ok=True)
            mod = "module %s\\n\\ngo 1.19\\n" % module
            open(directory + "/list", "w").write(version + "\\n")
            json.dump({"Version": version, "Time": "2026-01-01T00:00:00Z"}, open(directory + "/%s.info" % version, "w"))
            open(directory + "/%s.mod" % version, "w").write(mod)
            with zipfile.ZipFile(directory + "/%s.zip" % version, "w") as z:
                z.writestr("%s@%s/go.mod" % (module, version), mod)
                z.writestr("%s@%s/greet.go" % (module, version),
                           'package greet\\n\\nfunc Hello() string { return "hello from the local Go module proxy" }\\n')
            """)
    }

    private static func python(_ root: String, _ script: String, _ arguments: [String] = []) throws {
        let result = try run("python3", ["-c", script, root] + arguments)
        guard result.status == 0 else { throw RepositoryError(description: "could not write the repository in \(root): \(result)") }
    }

    struct RepositoryError: Error, CustomStringConvertible {
        let description: String
    }
}
