import CertForge
import FoundationEssentials
import EssentialsSupport
import Glibc
import TrustStoreGuide

/// The test world's default trust stores, for one command: a private mount namespace in which the
/// stores this machine's clients read by default also hold the public stand-in root, as the real
/// stores hold the real public roots. Copies of the stores, with the root added the way each
/// store's own tool adds one, are bind-mounted over the originals. Every write goes to a regular
/// file under `scratch`: stores that are symbolic links are copied through them, never written.
///
/// So a fix that appends the gateway root to a client's store keeps trusting hosts the gateway
/// does not inspect, and one that replaces the store with the gateway root alone does not.
final class TrustSandbox {
    /// A store given the public stand-in root, for the report.
    struct Store: Sendable {
        let name: String
        let path: String
    }

    /// `unshare` and its options: a private mount namespace (and a user namespace when needed).
    let namespace: [String]
    /// Holds the stores' copies; removed by `remove()`.
    let scratch: String
    /// The public stand-in root's PEM file.
    let rootFile: String
    private(set) var stores: [Store] = []
    /// Bundles a variable names that hold no public roots: they replace the client's store.
    private(set) var replacingBundles: [String] = []
    /// What the sandbox cannot give the root (compiled-in stores, a missing tool, a failed copy).
    private(set) var limits: [String] = []
    /// Variables the command gets on top of its own.
    private(set) var environment: [String: String] = [:]
    /// Copies and the resolved paths they are mounted over.
    private var mounts: [(source: String, target: String)] = []
    private let root: Certificate
    /// The public roots this machine's stores hold (the OS bundle and certifi's), to tell a bundle
    /// built from them from one holding the gateway root alone.
    private var publicRoots = PEMBundle(text: "")

    struct Unavailable: Error, CustomStringConvertible {
        let description: String
    }

    /// Copies the stores the command's clients read and gives each the root; throws `Unavailable`
    /// when no private mount namespace or scratch directory can be made here.
    /// - Parameter hashedDirectory: whether the root also goes into the hashed directory
    ///   /etc/ssl/certs, as Debian's update-ca-certificates puts it there. Without it only the
    ///   bundle file holds it, as on Fedora, RHEL and macOS, where OpenSSL clients read the file alone.
    init(publicRoot: Certificate, command: [String], environment: [String: String], hashedDirectory: Bool = true) throws {
        namespace = try NamespaceProbe.command(environment: environment)
        root = publicRoot
        scratch = try Self.makeScratch(environment)
        rootFile = scratch + "/public-stand-in-root.pem"
        do {
            try write(root.pemString, to: rootFile)
            let lookup = Lookup(environment: environment)
            giveOSStore(hashedDirectory: hashedDirectory)
            giveDistroBundles()
            giveJava(lookup)
            giveCertifi(lookup, command: command)
            if let preload = NodePreload(rootFile: rootFile, scratch: scratch, environment: environment) {
                self.environment.merge(preload.environment) { $1 }
                stores += preload.stores.map { Store(name: $0.name, path: $0.path) }
            } else {
                limits.append("node: the preload could not be written in \(scratch); node clients are not given the root")
            }
            giveNamedBundles(environment)
            limits += CompiledInStore.detect(command: command, environment: environment).map(\.limit)
        } catch {
            remove()
            throw error
        }
    }

    /// The command run inside the namespace, after the stores' copies are mounted; a mount that
    /// fails stops it with status 125 and says which.
    func wrap(_ command: [String]) -> [String] {
        let script = """
            while [ "$#" -gt 0 ] && [ "$1" != "--" ]; do
              mount --bind "$1" "$2" || { echo "intercept-proxy: the test world's sandbox could not mount $1 over $2" >&2; exit 125; }
              shift 2
            done
            shift
            exec "$@"
            """
        return namespace + ["--", "/bin/sh", "-c", script, "intercept-proxy-world"]
            + mounts.flatMap { [$0.source, $0.target] } + ["--"] + command
    }

    func remove() {
        try? FileManager.default.removeItem(atPath: scratch)
    }

    // MARK: The stores

    /// Debian's (and Alpine's, SUSE's) /etc/ssl/certs: the bundle, the hashed links OpenSSL's
    /// directory lookup reads, and Java's cacerts under it, as update-ca-certificates leaves them.
    private func giveOSStore(hashedDirectory: Bool) {
        guard let original = realPath("/etc/ssl/certs"), FileStatus(path: original)?.isDirectory == true else { return }
        publicRoots = PEMBundle(file: original + "/ca-certificates.crt") ?? publicRoots
        let copy = scratch + "/etc-ssl-certs"
        // Every link followed: the copy holds regular files only, wherever the originals point.
        _ = try? captureProcess(["cp", "-RL", original, copy], environment: Self.plainEnvironment, timeout: 60)
        guard FileStatus(path: copy)?.isDirectory == true,
              FileStatus(path: original + "/ca-certificates.crt") == nil || isWritableCopy(copy + "/ca-certificates.crt") else {
            limits.append("\(original) could not be copied: the OS store is left as it is")
            return
        }
        if isWritableCopy(copy + "/ca-certificates.crt") { append(to: copy + "/ca-certificates.crt") }
        if hashedDirectory {
            let name = "intercept-proxy-public-test-root.pem"
            try? write(root.pemString, to: "\(copy)/\(name)")
            var index = 0
            while FileManager.default.fileExists(atPath: "\(copy)/\(root.subjectHash).\(index)") { index += 1 }
            symlink(name, "\(copy)/\(root.subjectHash).\(index)")
        }
        mounts.append((copy, original))
        stores.append(Store(name: hashedDirectory ? "OS store (bundle and hashed directory)" : "OS store (the bundle only, as without a hashed directory)",
                            path: original))
        if isWritableCopy(copy + "/java/cacerts"), importIntoKeystore(copy + "/java/cacerts") {
            stores.append(Store(name: "Java cacerts", path: original + "/java/cacerts"))
        }
    }

    /// The other distributions' bundles (Go's list) that exist here outside /etc/ssl/certs.
    private func giveDistroBundles() {
        for path in ["/etc/pki/tls/certs/ca-bundle.crt", "/etc/ssl/ca-bundle.pem", "/etc/pki/tls/cacert.pem",
                     "/etc/pki/ca-trust/extracted/pem/tls-ca-bundle.pem", "/etc/ssl/cert.pem"] {
            guard let real = realPath(path), !isCovered(real), FileStatus(path: real).map({ !$0.isDirectory }) == true else { continue }
            if publicRoots.bodies.isEmpty { publicRoots = PEMBundle(file: real) ?? publicRoots }
            give(real, as: "OS bundle")
        }
    }

    /// The cacerts of the JDK that `java` on PATH belongs to, when it is not the OS store's.
    private func giveJava(_ lookup: Lookup) {
        guard let java = lookup.find("java").flatMap(realPath) else { return }
        let home = URL(fileURLWithPath: java).deletingLastPathComponent().deletingLastPathComponent().path
        guard let cacerts = realPath(home + "/lib/security/cacerts"), !isCovered(cacerts), let copy = copyOf(cacerts) else { return }
        if importIntoKeystore(copy) {
            mounts.append((copy, cacerts))
            stores.append(Store(name: "Java cacerts", path: cacerts))
        }
    }

    /// Every certifi copy (certifi, pip's vendored one) the command's Pythons can import.
    private func giveCertifi(_ lookup: Lookup, command: [String]) {
        let probe = """
            import glob, os, sys
            for entry in sys.path:
                if os.path.isdir(entry):
                    for pattern in ("certifi/cacert.pem", "pip/_vendor/certifi/cacert.pem", "*/_vendor/certifi/cacert.pem", "botocore/cacert.pem"):
                        for path in glob.glob(os.path.join(entry, pattern)):
                            print(os.path.realpath(path))
            """
        var found: [String] = []
        for python in lookup.pythons(command: command) {
            guard let result = try? captureProcess([python, "-c", probe], environment: lookup.environment, timeout: 15) else { continue }
            for line in result.output.split(separator: "\n").map(String.init) where !found.contains(line) { found.append(line) }
        }
        for bundle in found where !isCovered(bundle) {
            if let certifi = PEMBundle(file: bundle), publicRoots.bodies.count < certifi.bodies.count / 2 { publicRoots = certifi }
            give(bundle, as: "certifi")
        }
    }

    /// Bundles the command's variables name. One built from the public roots (the OS bundle plus
    /// the gateway root, say) models a bundle holding the real public roots and gets the stand-in;
    /// one without them replaces the client's store, as it would anywhere.
    private func giveNamedBundles(_ environment: [String: String]) {
        for variable in CAVariable.replacing {
            guard let named = environment[variable], !named.isEmpty, let real = realPath(named), !isCovered(real),
                  let bundle = PEMBundle(file: real) else { continue }
            let shared = bundle.sharedCount(with: publicRoots)
            if !publicRoots.bodies.isEmpty, shared >= max(1, min(20, publicRoots.bodies.count / 2)) {
                give(real, as: "\(variable) (a bundle with the public roots)")
            } else {
                replacingBundles.append("\(variable)=\(named) holds \(bundle.bodies.count) certificate\(bundle.bodies.count == 1 ? "" : "s") and no public roots: a client that reads only this file loses them")
            }
        }
    }

    // MARK: Helpers

    /// A copy of a PEM file with the root appended, mounted over the original's resolved path.
    private func give(_ path: String, as name: String) {
        guard let copy = copyOf(path) else { return }
        append(to: copy)
        mounts.append((copy, path))
        stores.append(Store(name: name, path: path))
    }

    /// A regular-file copy of `path` (links followed) in the scratch directory, or nil (and a limit) when it fails.
    private func copyOf(_ path: String) -> String? {
        let copy = "\(scratch)/\(mounts.count)-\(URL(fileURLWithPath: path).lastPathComponent)"
        let copied = try? captureProcess(["cp", "-L", "-p", path, copy], environment: Self.plainEnvironment)
        guard copied?.status == 0, isWritableCopy(copy) else {
            limits.append("\(path) could not be copied: it is left as it is")
            return nil
        }
        return copy
    }

    /// Whether `path` is a regular file of the scratch directory: the only files this ever writes.
    private func isWritableCopy(_ path: String) -> Bool {
        var info = stat()
        return path.hasPrefix(scratch + "/") && lstat(path, &info) == 0 && info.st_mode & S_IFMT == S_IFREG
    }

    private func append(to path: String) {
        guard isWritableCopy(path) else { return }
        let fd = open(path, O_WRONLY | O_APPEND | O_NOFOLLOW)
        guard fd >= 0 else { return }
        defer { close(fd) }
        StandardIO.write(Array(("\n" + root.pemString).utf8), to: fd)
    }

    /// keytool, as a JDK store's own tool adds a trusted certificate; only ever on a copy.
    private func importIntoKeystore(_ keystore: String) -> Bool {
        guard isWritableCopy(keystore) else { return false }
        let imported = try? captureProcess(["keytool", "-importcert", "-noprompt", "-alias", "intercept-proxy-public-test-root",
                                            "-file", rootFile, "-keystore", keystore, "-storepass", "changeit"],
                                           environment: Self.plainEnvironment, timeout: 60)
        guard imported?.status == 0 else {
            limits.append("Java: \(keystore) could not be given the root (keytool \(imported == nil ? "not found" : "failed")): Java clients are not judged fairly here")
            return false
        }
        return true
    }

    /// Whether a resolved path is already a mount target or inside one.
    private func isCovered(_ path: String) -> Bool {
        mounts.contains { path == $0.target || path.hasPrefix($0.target + "/") }
    }

    private func write(_ text: String, to path: String) throws {
        guard FileManager.default.createFile(atPath: path, contents: Data(text.utf8)) else {
            throw Unavailable(description: "cannot write \(path)")
        }
    }

    private func realPath(_ path: String) -> String? {
        guard let resolved = realpath(path, nil) else { return nil }
        defer { free(resolved) }
        return String(cString: resolved)
    }

    static let plainEnvironment = ["PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"]

    /// A fresh directory under TMPDIR (resolved: its path goes into NODE_OPTIONS and mount arguments),
    /// or under /tmp when TMPDIR's path holds a character those cannot carry.
    private static func makeScratch(_ environment: [String: String]) throws -> String {
        var base = ProcessInfo.processInfo.environment["TMPDIR"].flatMap { $0.isEmpty ? nil : $0 } ?? "/tmp"
        if let resolved = realpath(base, nil) {
            base = String(cString: resolved)
            free(resolved)
        }
        if base.contains(where: { $0 == "\"" || $0 == "\\" || $0 == "\n" || !$0.isASCII }) || !base.hasPrefix("/") { base = "/tmp" }
        var template = Array((base + "/intercept-proxy-world.XXXXXX").utf8CString)
        guard let made = mkdtemp(&template) else {
            throw Unavailable(description: "cannot make a scratch directory for the test world's stores in \(base): \(String(cString: strerror(errno)))")
        }
        return String(cString: made)
    }
}
