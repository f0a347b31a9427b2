import CertForge
import FoundationEssentials
import EssentialsSupport
import Glibc
import TrustStoreGuide

/// The static half of `doctor`: which runtimes a root filesystem holds (an image's, a directory,
/// or this machine's `/`), which store each reads, and whether the gateway root is in it, matched
/// by public key so a re-encoded or re-issued copy counts. Reads files only; runs nothing inside.
struct TrustAudit {
    /// One runtime and the store it reads.
    struct Finding: Encodable, Equatable {
        let runtime: String
        /// The store, as a path inside the target (or what the runtime reads besides).
        let store: String
        /// Whether the root is in that store; nil when the store cannot be read from here.
        let rootPresent: Bool?
        /// A setting that replaces the runtime's roots with its file rather than adding to them.
        let replaces: Bool
        /// Why the cell is red, or a note.
        let note: String?
        /// What fixes it (a command of this tool).
        let fix: String?
        var ok: Bool { rootPresent == true && !(replaces && note?.hasPrefix(TrustAudit.aloneNote) == true) }
    }

    static let aloneNote = "replaces the store with too few roots"

    /// The target's root directory ("/" for this machine).
    let root: String
    /// The target's environment (an image's ENV, this process's for the host).
    let environment: [String: String]
    /// The gateway roots to look for, by public key.
    let anchors: Set<[UInt8]>
    /// The file to name in fixes.
    let caFile: String

    init(root: String, environment: [String: String], anchors: [Certificate], caFile: String) {
        self.root = root.hasSuffix("/") ? String(root.dropLast()) : root
        self.environment = environment
        self.anchors = Set(anchors.map(\.subjectPublicKeyInfoDER))
        self.caFile = caFile
    }

    func run() -> [Finding] {
        var findings: [Finding] = []
        let os = osStore()
        if let os { findings.append(os.finding) }
        findings += osReaders(os)
        findings += certifiCopies()
        findings += node()
        findings += javaStores()
        findings += configFiles()
        findings += variables(os)
        return findings
    }

    // MARK: The OS store and what reads it

    struct OSStore {
        let path: String
        let finding: Finding
        let certificates: Int
    }

    static let osBundles: [(path: String, family: String)] = [
        ("/etc/ssl/certs/ca-certificates.crt", "debian"), ("/etc/pki/tls/certs/ca-bundle.crt", "rhel"),
        ("/etc/ssl/ca-bundle.pem", "suse"), ("/etc/ssl/cert.pem", "alpine"),
    ]

    private func osStore() -> OSStore? {
        guard let (path, family) = Self.osBundles.first(where: { exists($0.path) }) else { return nil }
        let certificates = certificates(in: path)
        let present = certificates.map(containsRoot)
        let tool = ["/usr/sbin/update-ca-certificates", "/usr/bin/update-ca-trust", "/usr/sbin/update-ca-trust"].first(where: exists)
        let finding = Finding(runtime: "OS (\(family))", store: path, rootPresent: present, replaces: false,
                              note: tool.map { "updated by \(URL(fileURLWithPath: $0).lastPathComponent)" } ?? "no update tool in the image",
                              fix: "intercept-proxy snippet --distro \(family)")
        return OSStore(path: path, finding: finding, certificates: certificates?.count ?? 0)
    }

    /// Runtimes that read the OS store unless a variable says otherwise: one row each, so a red OS
    /// store shows whom it breaks.
    private func osReaders(_ os: OSStore?) -> [Finding] {
        guard let os else { return [] }
        let readers: [(name: String, paths: [String], variables: [String], client: String)] = [
            ("curl", ["/usr/bin/curl", "/usr/local/bin/curl"], ["CURL_CA_BUNDLE", "SSL_CERT_FILE"], "curl"),
            ("wget", ["/usr/bin/wget"], ["SSL_CERT_FILE"], "wget"),
            ("git", ["/usr/bin/git"], ["GIT_SSL_CAINFO", "SSL_CERT_FILE"], "git"),
            ("python3 (ssl)", ["/usr/bin/python3", "/usr/local/bin/python3"], ["SSL_CERT_FILE"], "python"),
            ("go", ["/usr/local/go/bin/go", "/usr/lib/go/bin/go", "/usr/bin/go"], ["SSL_CERT_FILE"], "go"),
            ("ruby", ["/usr/bin/ruby", "/usr/local/bin/ruby"], ["SSL_CERT_FILE"], "ruby"),
            ("dotnet", ["/usr/share/dotnet/dotnet", "/usr/lib/dotnet/dotnet", "/usr/bin/dotnet"], ["SSL_CERT_FILE"], "dotnet"),
        ]
        return readers.compactMap { reader in
            guard reader.paths.contains(where: exists) else { return nil }
            if let variable = reader.variables.first(where: { environment[$0] != nil }) {
                return Finding(runtime: reader.name, store: "$\(variable)", rootPresent: holdsRoot(environment[variable]!), replaces: true,
                               note: "reads $\(variable) instead of the OS store", fix: "intercept-proxy snippet --client \(reader.client)")
            }
            return Finding(runtime: reader.name, store: os.path, rootPresent: os.finding.rootPresent, replaces: false, note: nil,
                           fix: os.finding.fix)
        }
    }

    // MARK: Python's certifi, node, Java

    /// certifi copies (requests, pip's vendored one, each venv's): they ignore the OS store.
    private func certifiCopies() -> [Finding] {
        let found = search(under: ["/usr/lib", "/usr/local/lib", "/opt", "/app", "/srv", "/root", "/home"], suffix: "certifi/cacert.pem")
        return found.map { path in
            // pip reads its own copy, requests (and most libraries) the shared one, unless a variable says otherwise.
            let pip = path.contains("pip/_vendor")
            let variable = pip ? "PIP_CERT" : "REQUESTS_CA_BUNDLE"
            let runtime = pip ? "pip" : "python certifi", fix = "intercept-proxy snippet --client \(pip ? "pip" : "requests")"
            if let file = environment[variable] {
                return Finding(runtime: runtime, store: "$\(variable)=\(file)", rootPresent: holdsRoot(file), replaces: true,
                               note: "read instead of \(path)", fix: fix)
            }
            return Finding(runtime: runtime, store: path, rootPresent: holdsRoot(path), replaces: false,
                           note: pip ? "pip's own copy (PIP_CERT or pip.conf's cert would replace it)" : nil, fix: fix)
        }
    }

    /// node reads its bundled Mozilla roots plus NODE_EXTRA_CA_CERTS (or the OS store with --use-openssl-ca).
    private func node() -> [Finding] {
        guard ["/usr/bin/node", "/usr/local/bin/node", "/usr/bin/nodejs"].contains(where: exists) else { return [] }
        if environment["NODE_OPTIONS"]?.contains("--use-openssl-ca") == true, let os = osStore() {
            return [Finding(runtime: "node", store: os.path + " (--use-openssl-ca)", rootPresent: os.finding.rootPresent, replaces: false,
                            note: nil, fix: os.finding.fix)]
        }
        guard let extra = environment["NODE_EXTRA_CA_CERTS"] else {
            return [Finding(runtime: "node", store: "its bundled roots (+ NODE_EXTRA_CA_CERTS, unset)", rootPresent: false, replaces: false,
                            note: "node does not read the OS store", fix: "intercept-proxy snippet --client node")]
        }
        let present = holdsRoot(extra)
        return [Finding(runtime: "node", store: "$NODE_EXTRA_CA_CERTS=\(extra)", rootPresent: present, replaces: false,
                        note: present == nil ? "the file is missing or not PEM" : "added to node's bundled roots", fix: "intercept-proxy snippet --client node")]
    }

    /// Every JDK's cacerts (and Debian's shared one), read with this machine's keytool.
    private func javaStores() -> [Finding] {
        var stores = search(under: ["/usr/lib/jvm", "/opt/java", "/opt"], suffix: "lib/security/cacerts")
        if exists("/etc/ssl/certs/java/cacerts") { stores.insert("/etc/ssl/certs/java/cacerts", at: 0) }
        var seen = Set<String>()
        return stores.compactMap { path in
            let real = host(path)
            guard seen.insert(real).inserted else { return nil }
            var present: Bool?
            var note: String?
            if let listing = try? captureProcess(["keytool", "-list", "-rfc", "-keystore", real, "-storepass", "changeit"],
                                                 environment: ProcessInfo.processInfo.environment), listing.status == 0 {
                let pems = (try? Certificate.parsePEM(listing.output, source: path)) ?? []
                present = containsRoot(pems)
                if pems.isEmpty { note = "empty: Java fails with 'trustAnchors parameter must be non-empty'" }
            } else {
                note = "not readable with keytool here (its password is not changeit, or keytool is missing)"
            }
            return Finding(runtime: "java", store: path, rootPresent: present, replaces: false, note: note, fix: "intercept-proxy snippet --client java")
        }
    }

    // MARK: Settings

    /// Configuration files whose CA setting replaces the client's roots.
    private func configFiles() -> [Finding] {
        let files: [(runtime: String, paths: [String], keys: [String], client: String)] = [
            ("pip (pip.conf)", ["/etc/pip.conf", "/root/.config/pip/pip.conf", "/root/.pip/pip.conf"], ["cert"], "pip"),
            ("npm (npmrc)", ["/etc/npmrc", "/usr/etc/npmrc", "/usr/local/etc/npmrc", "/root/.npmrc"], ["cafile"], "npm"),
            ("git (gitconfig)", ["/etc/gitconfig", "/root/.gitconfig"], ["sslcainfo"], "git"),
            ("curl (curlrc)", ["/root/.curlrc"], ["cacert", "--cacert"], "curl"),
            ("wget (wgetrc)", ["/etc/wgetrc", "/root/.wgetrc"], ["ca_certificate"], "wget"),
            ("conda (condarc)", ["/root/.condarc", "/opt/conda/.condarc", "/etc/conda/.condarc"], ["ssl_verify:"], "conda"),
            ("yarn (yarnrc)", ["/root/.yarnrc", "/usr/local/share/.yarnrc"], ["cafile"], "yarn"),
            ("yarn (yarnrc.yml)", ["/root/.yarnrc.yml"], ["httpscafilepath:"], "yarn"),
        ]
        var findings: [Finding] = []
        for file in files {
            for path in file.paths where exists(path) {
                guard let text = FileManager.default.contents(atPath: host(path)).map({ String(decoding: $0, as: UTF8.self) }) else { continue }
                for line in text.split(whereSeparator: \.isNewline) {
                    let trimmed = line.trimmingWhitespace()
                    guard !trimmed.hasPrefix("#"), !trimmed.hasPrefix(";") else { continue }
                    let parts = trimmed.split(maxSplits: 1, whereSeparator: { $0 == "=" || $0 == " " }).map { $0.trimmingWhitespace() }
                    guard parts.count == 2, file.keys.contains(parts[0].lowercased()) else { continue }
                    let target = String(parts[1].drop { "\"' =".contains($0) }.reversed().drop { "\"' ".contains($0) }.reversed())
                    findings.append(bundleFinding(runtime: file.runtime, store: "\(path): \(parts[0]) = \(target)", file: target,
                                                  replaces: true, client: file.client))
                }
            }
        }
        return findings
    }

    /// The CA variables the target sets, each with the file it names.
    private func variables(_ os: OSStore?) -> [Finding] {
        let names = CAVariable.replacing + ["NODE_EXTRA_CA_CERTS"]
        return names.compactMap { name in
            guard let file = environment[name], name != "NODE_EXTRA_CA_CERTS" else { return nil }  // node's has its row
            return bundleFinding(runtime: "$\(name)", store: file, file: file, replaces: true, client: Self.client(ofVariable: name),
                                 osCertificates: os?.certificates ?? 0)
        }
    }

    /// A setting naming a bundle file: the root in it, and whether it holds the public roots too.
    private func bundleFinding(runtime: String, store: String, file: String, replaces: Bool, client: String, osCertificates: Int = 0) -> Finding {
        guard let certificates = certificates(in: file) else {
            return Finding(runtime: runtime, store: store, rootPresent: false, replaces: replaces,
                           note: "\(file) is missing, unreadable or holds no PEM certificate", fix: "intercept-proxy snippet --client \(client)")
        }
        let present = containsRoot(certificates)
        // A bundle that replaces the store must hold the public roots too, or hosts the gateway does
        // not inspect (and every host without the gateway) fail.
        let alone = replaces && certificates.count < 10
        return Finding(runtime: runtime, store: store, rootPresent: present, replaces: replaces,
                       note: alone ? "\(Self.aloneNote) (\(certificates.count)): hosts the gateway does not inspect, and every host without it, fail" : nil,
                       fix: "intercept-proxy snippet --client \(client)")
    }

    /// The `snippet --client` whose fix sets or replaces a variable.
    static func client(ofVariable name: String) -> String {
        let clients = ["REQUESTS_CA_BUNDLE": "requests", "CURL_CA_BUNDLE": "curl", "PIP_CERT": "pip", "GIT_SSL_CAINFO": "git",
                       "AWS_CA_BUNDLE": "aws", "CARGO_HTTP_CAINFO": "cargo", "npm_config_cafile": "npm", "NPM_CONFIG_CAFILE": "npm",
                       "BUNDLE_SSL_CA_CERT": "ruby", "CONDA_SSL_VERIFY": "conda", "SSL_CERT_FILE": "openssl"]
        return clients[name] ?? "openssl"
    }

    /// Whether the PEM file holds the root; nil when it cannot be read or holds no certificate.
    private func holdsRoot(_ path: String) -> Bool? {
        certificates(in: path).map(containsRoot)
    }

    /// Whether the root (by public key) is among `certificates`.
    private func containsRoot(_ certificates: [Certificate]) -> Bool {
        certificates.contains { anchors.contains($0.subjectPublicKeyInfoDER) }
    }

    // MARK: Files of the target

    /// A path inside the target, as this process reaches it: symbolic links are followed inside the
    /// target (an image's `/etc/ssl/certs/...` link must not lead to this machine's file).
    private func host(_ path: String) -> String { root.isEmpty ? path : root + Self.resolve(path, under: root) }

    /// `path` with its symbolic links resolved as if `root` were `/` (at most 40 links, as the kernel).
    static func resolve(_ path: String, under root: String) -> String {
        var pending = path.split(separator: "/").map(String.init)
        var resolved: [String] = []
        var links = 0
        while !pending.isEmpty {
            let component = pending.removeFirst()
            if component == "." || component.isEmpty { continue }
            if component == ".." { _ = resolved.popLast(); continue }
            let candidate = root + "/" + (resolved + [component]).joined(separator: "/")
            var buffer = [CChar](repeating: 0, count: 4096)
            let length = readlink(candidate, &buffer, buffer.count - 1)
            guard length > 0, links < 40 else {
                resolved.append(component)
                continue
            }
            links += 1
            let target = String(decoding: buffer.prefix(length).map { UInt8(bitPattern: $0) }, as: UTF8.self)
            if target.hasPrefix("/") { resolved = [] }
            pending = target.split(separator: "/").map(String.init) + pending
        }
        return "/" + resolved.joined(separator: "/")
    }

    private func exists(_ path: String) -> Bool { FileManager.default.fileExists(atPath: host(path)) }

    /// The certificates of a PEM file inside the target; nil when it cannot be read or holds none.
    private func certificates(in path: String) -> [Certificate]? {
        guard let status = FileStatus(path: host(path)), !status.isDirectory, status.size <= PEMBundle.maximumBytes,
              let data = FileManager.default.contents(atPath: host(path)),
              let parsed = try? Certificate.parsePEM(String(decoding: data, as: UTF8.self), source: path), !parsed.isEmpty else { return nil }
        return parsed
    }

    /// Files under `directories` whose path ends in `suffix`, depth and count bounded (an image
    /// tree is walked, not a whole disk), symbolic links to directories not followed.
    private func search(under directories: [String], suffix: String) -> [String] {
        var found: [String] = []
        var visited = 0
        func walk(_ path: String, depth: Int) {
            guard depth <= 8, visited < 200_000, found.count < 64,
                  let entries = try? FileManager.default.contentsOfDirectory(atPath: host(path)) else { return }
            for entry in entries.sorted() {
                visited += 1
                let child = path + "/" + entry
                if child.hasSuffix(suffix), exists(child) { found.append(child); continue }
                var info = stat()
                guard lstat(host(child), &info) == 0, info.st_mode & S_IFMT == S_IFDIR else { continue }
                walk(child, depth: depth + 1)
            }
        }
        for directory in directories where exists(directory) { walk(directory, depth: 0) }
        var unique: [String] = []
        for path in found where !unique.contains(path) { unique.append(path) }
        return unique
    }
}
