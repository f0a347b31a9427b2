import CertForge
import FoundationEssentials
import EssentialsSupport
import Glibc

/// The test world's default trust stores, for one command: a private mount namespace in which the
/// stores this machine's clients read by default also hold the public stand-in root, as the real
/// stores hold the real public roots. Copies of the stores, with the root added the way each
/// store's own tool adds one, are bind-mounted over the originals; nothing on the machine changes.
///
/// So a fix that appends the gateway root to a client's store keeps trusting hosts the gateway
/// does not inspect, and one that replaces the store with the gateway root alone does not.
final class TrustSandbox {
    /// A store given the public stand-in root, for the report.
    struct Store: Sendable {
        let name: String
        let path: String
    }

    /// `unshare` and its options: a private mount namespace (and a user namespace when not root).
    let namespace: [String]
    /// Holds the stores' copies; removed by `remove()`.
    let scratch: String
    /// The public stand-in root's PEM file.
    let rootFile: String
    private(set) var stores: [Store] = []
    /// Bundles a variable names that hold no public roots: they replace the client's store.
    private(set) var replacingBundles: [String] = []
    /// What the sandbox cannot give the root (compiled-in stores, a missing tool).
    private(set) var limits: [String] = []
    /// Variables the command gets on top of its own.
    private(set) var environment: [String: String] = [:]
    private var mounts: [(source: String, target: String)] = []
    private let root: Certificate
    /// The public roots this machine's stores hold (the OS bundle and certifi's), to tell a bundle
    /// built from them from one holding the gateway root alone.
    private var publicRoots = PEMBundle(text: "")

    struct Unavailable: Error, CustomStringConvertible {
        let description: String
    }

    /// Copies the stores the command's clients read and gives each the root; throws `Unavailable`
    /// when no private mount namespace can be made here.
    /// - Parameter hashedDirectory: whether the root also goes into the hashed directory
    ///   /etc/ssl/certs, as Debian's update-ca-certificates puts it there. Without it only the
    ///   bundle file holds it, as on Fedora, RHEL and macOS, where OpenSSL clients read the file alone.
    init(publicRoot: Certificate, command: [String], environment: [String: String], hashedDirectory: Bool = true) throws {
        namespace = try Self.probeNamespace(environment: environment)
        root = publicRoot
        var template = Array((ProcessInfo.processInfo.environment["TMPDIR"].flatMap { $0.isEmpty ? nil : $0 } ?? "/tmp") + "/intercept-proxy-world.XXXXXX").map { CChar(bitPattern: $0.asciiValue ?? 0) } + [0]
        guard let made = mkdtemp(&template) else {
            throw Unavailable(description: "cannot make a scratch directory for the test world's stores: \(String(cString: strerror(errno)))")
        }
        scratch = String(cString: made)
        rootFile = scratch + "/public-stand-in-root.pem"
        do {
            try write(root.pemString, to: rootFile)
            let lookup = Lookup(environment: environment)
            giveOSStore(hashedDirectory: hashedDirectory)
            giveDistroBundles()
            giveJava(lookup)
            giveCertifi(lookup, command: command)
            giveNode(environment)
            giveNamedBundles(environment)
            limits += CompiledInStore.detect(command: command, environment: environment).map(\.limit)
        } catch {
            remove()
            throw error
        }
    }

    /// The command run inside the namespace, after the stores' copies are mounted.
    func wrap(_ command: [String]) -> [String] {
        let script = """
            set -e
            while [ "$#" -gt 0 ] && [ "$1" != "--" ]; do mount --bind "$1" "$2"; shift 2; done
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
        let original = "/etc/ssl/certs"
        guard FileStatus(path: original)?.isDirectory == true else { return }
        let copy = scratch + "/etc-ssl-certs"
        guard (try? captureProcess(["cp", "-a", original, copy], environment: Self.plainEnvironment))?.status == 0 else {
            limits.append("\(original) could not be copied: the OS store is left as it is")
            return
        }
        publicRoots = PEMBundle(file: original + "/ca-certificates.crt") ?? publicRoots
        if FileStatus(path: copy + "/ca-certificates.crt") != nil { append(to: copy + "/ca-certificates.crt") }
        if hashedDirectory {
            let name = "intercept-proxy-public-test-root.pem"
            try? write(root.pemString, to: "\(copy)/\(name)")
            var index = 0
            while FileManager.default.fileExists(atPath: "\(copy)/\(root.subjectHash).\(index)") { index += 1 }
            symlink(name, "\(copy)/\(root.subjectHash).\(index)")
        }
        mounts.append((copy, original))
        stores.append(Store(name: hashedDirectory ? "OS store (bundle and hashed directory)" : "OS store (the bundle only, as without a hashed directory)", path: original))
        if FileStatus(path: copy + "/java/cacerts") != nil, importIntoKeystore(copy + "/java/cacerts") {
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
        guard let cacerts = realPath(home + "/lib/security/cacerts"), !isCovered(cacerts) else { return }
        let copy = copyOf(cacerts)
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

    /// node reads its compiled-in roots (and NODE_EXTRA_CA_CERTS) and no file the sandbox can
    /// reach: a preload adds the root to every TLS context that does not name its own `ca`, as
    /// the real public roots are in the compiled-in list (a `ca` option, npm's cafile, replaces
    /// them, and the stand-in with them). Bun and others that read NODE_EXTRA_CA_CERTS get it there
    /// when the command sets none.
    private func giveNode(_ environment: [String: String]) {
        let preload = scratch + "/node-public-roots.js"
        let script = """
            // intercept-proxy's test world: the public stand-in root joins node's default roots.
            // A context's own store starts from the compiled-in roots alone: NODE_EXTRA_CA_CERTS goes back in too.
            'use strict';
            const tls = require('tls'), fs = require('fs');
            let added = fs.readFileSync(\(JSONText.encode(rootFile)), 'utf8');
            try { if (process.env.NODE_EXTRA_CA_CERTS) added += '\\n' + fs.readFileSync(process.env.NODE_EXTRA_CA_CERTS, 'utf8'); } catch (e) {}
            const createSecureContext = tls.createSecureContext;
            tls.createSecureContext = function (options) {
              const context = createSecureContext.apply(this, arguments);
              if (!options || !options.ca) context.context.addCACert(added);
              return context;
            };

            """
        guard (try? write(script, to: preload)) != nil else { return }
        let options = environment["NODE_OPTIONS"].map { $0 + " " } ?? ""
        self.environment["NODE_OPTIONS"] = options + "--require \"\(preload)\""
        stores.append(Store(name: "node (a preload adds it beside the compiled-in roots, where no ca option replaces them)", path: preload))
        if environment["NODE_EXTRA_CA_CERTS"].map({ $0.isEmpty }) ?? true {
            self.environment["NODE_EXTRA_CA_CERTS"] = rootFile
            stores.append(Store(name: "NODE_EXTRA_CA_CERTS (bun and others that read it)", path: rootFile))
        }
    }

    /// Bundles the command's variables name. One built from the public roots (the OS bundle plus
    /// the gateway root, say) models a bundle holding the real public roots and gets the stand-in;
    /// one without them replaces the client's store, as it would anywhere.
    private func giveNamedBundles(_ environment: [String: String]) {
        for variable in Self.bundleVariables {
            guard let named = environment[variable], !named.isEmpty, let real = realPath(named), !isCovered(real),
                  let bundle = PEMBundle(file: real) else { continue }
            let shared = bundle.sharedCount(with: publicRoots)
            if !publicRoots.bodies.isEmpty, shared >= min(20, publicRoots.bodies.count / 2) {
                give(real, as: "\(variable) (a bundle with the public roots)")
            } else {
                replacingBundles.append("\(variable)=\(named) holds \(bundle.bodies.count) certificate\(bundle.bodies.count == 1 ? "" : "s") and no public roots: a client that reads only this file loses them")
            }
        }
    }

    /// The variables that name a CA bundle for some client (they replace its store, or add to it).
    static let bundleVariables = [
        "SSL_CERT_FILE", "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE", "PIP_CERT", "GIT_SSL_CAINFO", "AWS_CA_BUNDLE",
        "CARGO_HTTP_CAINFO", "npm_config_cafile", "NPM_CONFIG_CAFILE", "BUNDLE_SSL_CA_CERT", "HTTPLIB2_CA_CERTS",
        "DENO_CERT", "GRPC_DEFAULT_SSL_ROOTS_FILE_PATH", "NIX_SSL_CERT_FILE", "CLOUDSDK_CORE_CUSTOM_CA_CERTS_FILE",
    ]

    // MARK: Helpers

    /// A copy of a PEM file with the root appended, mounted over the original.
    private func give(_ path: String, as name: String) {
        let copy = copyOf(path)
        append(to: copy)
        mounts.append((copy, path))
        stores.append(Store(name: name, path: path))
    }

    private func copyOf(_ path: String) -> String {
        let copy = "\(scratch)/\(mounts.count)-\(URL(fileURLWithPath: path).lastPathComponent)"
        _ = try? captureProcess(["cp", "-p", path, copy], environment: Self.plainEnvironment)
        return copy
    }

    private func append(to path: String) {
        let fd = open(path, O_WRONLY | O_APPEND)
        guard fd >= 0 else { return }
        defer { close(fd) }
        StandardIO.write(Array(("\n" + root.pemString).utf8), to: fd)
    }

    /// keytool, as a JDK store's own tool adds a trusted certificate.
    private func importIntoKeystore(_ keystore: String) -> Bool {
        let imported = try? captureProcess(["keytool", "-importcert", "-noprompt", "-alias", "intercept-proxy-public-test-root",
                                            "-file", rootFile, "-keystore", keystore, "-storepass", "changeit"],
                                           environment: Self.plainEnvironment, timeout: 60)
        guard imported?.status == 0 else {
            limits.append("Java: \(keystore) could not be given the root (keytool \(imported == nil ? "not found" : "failed")): Java clients are not judged fairly here")
            return false
        }
        return true
    }

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

    /// `unshare --mount` as root, else with a user namespace; throws with what is missing.
    private static func probeNamespace(environment: [String: String]) throws -> [String] {
        let candidates: [[String]] = getuid() == 0
            ? [["unshare", "--mount", "--propagation", "private"]]
            : [["unshare", "--user", "--map-current-user", "--mount", "--propagation", "private"],
               ["unshare", "--user", "--map-root-user", "--mount", "--propagation", "private"]]
        // Found on the command's PATH, as the command will be.
        let probing = ["PATH": environment["PATH"] ?? plainEnvironment["PATH"]!]
        for candidate in candidates {
            if (try? captureProcess(candidate + ["true"], environment: probing, timeout: 10))?.status == 0 { return candidate }
        }
        throw Unavailable(description: """
            the test world needs a private mount namespace to give this machine's default stores the public stand-in root \
            (as the real stores hold the real public roots), and none can be made here: run as root, or allow unprivileged \
            user namespaces (sysctl kernel.unprivileged_userns_clone=1, or kernel.apparmor_restrict_unprivileged_userns=0 on Ubuntu); \
            util-linux's unshare is needed too. Without --worlds direct and --bypass, verify needs no sandbox.
            """)
    }
}
