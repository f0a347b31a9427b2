import Foundation
import Testing
import TestSupport

/// Every real client on this machine against every failure the offline proxy serves (issue 30,
/// part 2): each client runs through `intercept-proxy run --offline` (profile zscaler, which never
/// sends its root), exactly what it prints (stdout and stderr) goes to `intercept-proxy explain
/// --json -`, and the client and cause explain reports are compared with the client that ran and
/// the failure that was served. docs/explain-matrix.md is made from these verdicts
/// (INTERCEPT_PROXY_WRITE_EXPLAIN_MATRIX=1 rewrites it), and the test fails when the two differ.
///
/// Where a client's text cannot tell the cause (its verifier says the same words for several
/// failures), the cell is listed in `textHidesTheCause` with the reason and with what explain
/// must say instead; every other cell must be right.
@Suite(.serialized) struct ExplainMatrixTests {
    /// What the proxy serves (or what the client is told to trust, or its clock), and what
    /// explain must name for it.
    enum Failure: String, CaseIterable, Sendable {
        case untrustedRoot = "untrusted root"
        case untrustedRootSent = "untrusted root, sent"
        case expired
        case notYetValid = "not-yet-valid"
        case wrongHost = "wrong-host"
        case selfSigned = "self-signed"
        case incompleteChain = "incomplete-chain"
        case weakSignature = "sha1"
        case weakKey = "rsa1024"
        case caAsLeaf = "ca-as-leaf"
        case nonStrict = "non-strict"
        case staleRoot = "stale same-name root"
        case missingCAFile = "missing CA file"
        case emptyCAFile = "empty CA file"
        case clockBehind = "clock 800 days behind"

        /// The catalogue's host for the failures the proxy serves; any intercepted host for the
        /// ones that are the client's own (what it trusts, its clock).
        var host: String {
            switch self {
            case .untrustedRoot, .untrustedRootSent, .staleRoot, .missingCAFile, .emptyCAFile: return "pkg.example.test"
            case .clockBehind: return "good.badssl.test"
            default: return "\(rawValue).badssl.test"
            }
        }
        var url: String { "https://\(host)/" }

        /// What the client is told to trust.
        var trust: Trust {
            switch self {
            case .untrustedRoot, .untrustedRootSent: return .nothing
            case .staleRoot: return .staleRoot
            case .missingCAFile: return .missingFile
            case .emptyCAFile: return .emptyFile
            default: return .root
            }
        }

        /// Run under libfaketime (a time namespace moves only the monotonic clocks, not the wall clock).
        var wrapper: [String] { self == .clockBehind ? ["faketime", "-f", "-800d"] : [] }

        /// explain's cause id (Sources/TrustStoreGuide/ExplainCause.swift).
        var cause: String {
            switch self {
            case .untrustedRoot: return "root-not-sent"  // zscaler sends leaf + issuing + intermediate, never the root
            case .untrustedRootSent: return "root-sent"  // netskope sends its root along
            case .expired: return "expired"
            case .notYetValid, .clockBehind: return "not-yet-valid"
            case .wrongHost: return "hostname-mismatch"
            case .selfSigned: return "self-signed-leaf"
            case .incompleteChain: return "incomplete-chain"  // not an explain cause: no client's words tell it from an untrusted root
            case .weakSignature, .weakKey: return "non-strict-ca"
            case .caAsLeaf: return "ca-as-leaf"
            case .nonStrict: return "non-strict-ca"
            case .staleRoot: return "stale-root"
            case .missingCAFile, .emptyCAFile: return "ca-file-unusable"
            }
        }
    }

    /// The CA setting a client run gets.
    enum Trust: Sendable {
        case nothing, root, staleRoot, missingFile, emptyFile
    }

    /// What every client run needs: the proxy, its root, and the programs built once.
    struct Setup: Sendable {
        let port: Int
        let root: String
        let scratch: String
        var proxyURL: String { "http://127.0.0.1:\(port)" }
        var goProgram: String { scratch + "/fetch-go" }
        var javaClasses: String { scratch + "/java" }
        var nodeScript: String { scratch + "/fetch.js" }
        /// A root with the same name as the proxy's and another key (a gateway CA re-issued).
        var staleRoot: String { scratch + "/stale-ca/zscaler/root-ca.pem" }

        /// The PEM file the client is told to trust, or nil for none.
        func caFile(_ failure: Failure) -> String? {
            switch failure.trust {
            case .nothing: return nil
            case .root: return root
            case .staleRoot: return staleRoot
            case .missingFile: return scratch + "/no-such-ca.pem"
            case .emptyFile: return scratch + "/empty-ca.pem"
            }
        }

        /// The same for Java: a PKCS12 trust store made with keytool, or the bad file itself.
        func javaTrustStore(_ failure: Failure) -> String? {
            switch failure.trust {
            case .nothing: return nil
            case .root: return scratch + "/truststore.p12"
            case .staleRoot: return scratch + "/stale-truststore.p12"
            case .missingFile, .emptyFile: return caFile(failure)
            }
        }

        /// `[name: path]` when the client is told to trust something.
        func variable(_ name: String, _ failure: Failure) -> [String: String] {
            caFile(failure).map { [name: $0] } ?? [:]
        }
    }

    struct Client: Sendable {
        /// The row's name: explain's client id, or that id and how it was set up (`python-strict`).
        let id: String
        /// How it was driven, for the matrix.
        let how: String
        let run: @Sendable (Setup, Failure) throws -> ProcessResult
    }

    static let timeout: TimeInterval = 30

    /// The environment of a client run: clean (no CA or proxy variables), the proxy in both
    /// spellings, plus `extra`.
    static func environment(_ setup: Setup, _ extra: [String: String] = [:]) -> [String: String] {
        cleanEnvironment(["HTTPS_PROXY": setup.proxyURL, "https_proxy": setup.proxyURL, "http_proxy": setup.proxyURL].merging(extra) { $1 })
    }

    static let clients: [Client] = [
        Client(id: "curl", how: "`curl -sS URL` (HTTPS_PROXY; trusted: `--cacert`)") { setup, failure in
            try run(failure, ["curl", "-sS", "--max-time", "20"] + (setup.caFile(failure).map { ["--cacert", $0] } ?? []) + [failure.url],
                    environment: environment(setup))
        },
        Client(id: "wget", how: "`wget -O /dev/null URL` (https_proxy; trusted: `--ca-certificate`)") { setup, failure in
            try run(failure, ["wget", "-O", "/dev/null", "--tries=1", "--timeout=20"] + (setup.caFile(failure).map { ["--ca-certificate=\($0)"] } ?? [])
                    + [failure.url], environment: environment(setup))
        },
        Client(id: "openssl", how: "`openssl s_client -proxy ... -verify_hostname HOST -verify_return_error` (trusted: `-CAfile`)") { setup, failure in
            try run(failure, ["openssl", "s_client", "-proxy", "127.0.0.1:\(setup.port)", "-connect", "\(failure.host):443", "-servername", failure.host,
                              "-verify_hostname", failure.host, "-verify_return_error"] + (setup.caFile(failure).map { ["-CAfile", $0] } ?? []),
                    environment: environment(setup))
        },
        Client(id: "python", how: "`urllib.request.urlopen(URL)` (https_proxy; trusted: `SSL_CERT_FILE`)") { setup, failure in
            try run(failure, ["python3", "-c", "import sys, urllib.request; print(urllib.request.urlopen(sys.argv[1], timeout=20).read())", failure.url],
                    environment: environment(setup, setup.variable("SSL_CERT_FILE", failure)))
        },
        Client(id: "python-strict", how: "the same with `VERIFY_X509_STRICT` set, Python 3.13's default (trusted: `SSL_CERT_FILE`)") { setup, failure in
            try run(failure, ["python3", "-c", "import ssl, sys, urllib.request; context = ssl.create_default_context(); context.verify_flags |= ssl.VERIFY_X509_STRICT; "
                              + "print(urllib.request.urlopen(sys.argv[1], context=context, timeout=20).read())", failure.url],
                    environment: environment(setup, setup.variable("SSL_CERT_FILE", failure)))
        },
        Client(id: "requests", how: "`requests.get(URL)` (HTTPS_PROXY; trusted: `REQUESTS_CA_BUNDLE`)") { setup, failure in
            try run(failure, ["python3", "-c", "import sys, requests; print(requests.get(sys.argv[1], timeout=20).text)", failure.url],
                    environment: environment(setup, setup.variable("REQUESTS_CA_BUNDLE", failure)))
        },
        Client(id: "httpx", how: "`httpx.get(URL)` 0.28 from PyPI (HTTPS_PROXY; trusted: `SSL_CERT_FILE`)") { setup, failure in
            try run(failure, [venvTool("python3"), "-c", "import sys, httpx; httpx.get(sys.argv[1], timeout=20).raise_for_status()", failure.url],
                    environment: environment(setup, setup.variable("SSL_CERT_FILE", failure)))
        },
        Client(id: "pip", how: "`pip download --index-url URL` (HTTPS_PROXY; trusted: `PIP_CERT`)") { setup, failure in
            try run(failure, ["python3", "-m", "pip", "download", "--no-deps", "--retries", "0", "--disable-pip-version-check", "--no-cache-dir",
                              "--index-url", failure.url + "simple/", "demo==1.0", "-d", setup.scratch + "/pip-downloads"],
                    environment: environment(setup, setup.variable("PIP_CERT", failure)))
        },
        Client(id: "uv", how: "`uv pip install --index-url URL` from PyPI, rustls (HTTPS_PROXY; trusted: `SSL_CERT_FILE`)") { setup, failure in
            try run(failure, [venvTool("uv"), "pip", "install", "--no-cache", "--python", "python3", "--target", setup.scratch + "/uv-target",
                              "--index-url", failure.url + "simple/", "demo==1.0"],
                    environment: environment(setup, setup.variable("SSL_CERT_FILE", failure)))
        },
        Client(id: "node", how: "`https.get` over an explicit CONNECT (node 20 has no proxy setting; trusted: `NODE_EXTRA_CA_CERTS`)") { setup, failure in
            try run(failure, ["node", setup.nodeScript, failure.url], environment: environment(setup, setup.variable("NODE_EXTRA_CA_CERTS", failure)))
        },
        Client(id: "npm", how: "`npm view PACKAGE --registry URL` (HTTPS_PROXY; trusted: `npm_config_cafile`)") { setup, failure in
            try run(failure, ["npm", "view", "ip-demo", "version", "--registry", failure.url + "npm/", "--fetch-retries=0", "--cache", setup.scratch + "/npm-cache"],
                    environment: environment(setup, setup.variable("npm_config_cafile", failure)))
        },
        Client(id: "go", how: "a `net/http` `http.Get` program, `log.Fatal(err)` (HTTPS_PROXY; trusted: `SSL_CERT_FILE`)") { setup, failure in
            try run(failure, [setup.goProgram, failure.url], environment: environment(setup, setup.variable("SSL_CERT_FILE", failure)))
        },
        Client(id: "java", how: "Java 17 `new URL(URL).openStream()` (`-Dhttps.proxyHost/Port`; trusted: a keytool PKCS12 `javax.net.ssl.trustStore`)") { setup, failure in
            let trust = setup.javaTrustStore(failure).map { ["-Djavax.net.ssl.trustStore=\($0)", "-Djavax.net.ssl.trustStorePassword=changeit"] } ?? []
            return try run(failure, ["java"] + trust + ["-Dhttps.proxyHost=127.0.0.1", "-Dhttps.proxyPort=\(setup.port)", "-cp", setup.javaClasses, "Fetch", failure.url],
                           environment: environment(setup))
        },
        Client(id: "ruby", how: "`Net::HTTP.get_response` (http_proxy, which Net::HTTP reads for https too; trusted: `SSL_CERT_FILE`)") { setup, failure in
            try run(failure, ["ruby", "-rnet/http", "-e", "Net::HTTP.get_response(URI(ARGV[0])).value", failure.url],
                    environment: environment(setup, setup.variable("SSL_CERT_FILE", failure)))
        },
        Client(id: "apt", how: "`apt-get update` of a repository at URL, its own lists and cache (`Acquire::https::Proxy`; trusted: `Acquire::https::CaInfo`)") { setup, failure in
            let state = setup.scratch + "/apt"
            for directory in ["lists/partial", "cache/archives/partial"] {
                try FileManager.default.createDirectory(atPath: "\(state)/\(directory)", withIntermediateDirectories: true)
            }
            try "deb [trusted=yes] \(failure.url)apt ./\n".write(toFile: state + "/sources.list", atomically: true, encoding: .utf8)
            let options = ["Dir::Etc::SourceList=\(state)/sources.list", "Dir::Etc::SourceParts=/nonexistent", "Dir::State::Lists=\(state)/lists",
                           "Dir::Cache=\(state)/cache", "Acquire::https::Proxy=\(setup.proxyURL)", "Acquire::Retries=0", "Debug::NoLocking=1",
                           "APT::Sandbox::User=root"] + (setup.caFile(failure).map { ["Acquire::https::CaInfo=\($0)"] } ?? [])
            return try run(failure, ["apt-get"] + options.flatMap { ["-o", $0] } + ["update", "--error-on=any"], environment: environment(setup))
        },
        Client(id: "git", how: "`git -c http.proxy=... ls-remote URL` (trusted: `GIT_SSL_CAINFO`)") { setup, failure in
            try run(failure, ["git", "-c", "http.proxy=\(setup.proxyURL)", "ls-remote", failure.url + "repo.git"],
                    environment: environment(setup, setup.variable("GIT_SSL_CAINFO", failure).merging(["GIT_TERMINAL_PROMPT": "0"]) { $1 }))
        },
    ]

    /// One client run: under the failure's wrapper (faketime), within the matrix's time bound.
    static func run(_ failure: Failure, _ command: [String], environment: [String: String]) throws -> ProcessResult {
        let full = failure.wrapper + command
        return try TestSupport.run(full[0], Array(full.dropFirst()), environment: environment, timeout: timeout)
    }

    /// httpx and uv come from PyPI, in the tools venv the Makefile makes.
    static func venvTool(_ tool: String) throws -> String { try toolsVenv(requiring: [tool]) + "/bin/" + tool }

    /// What explain must report where a client's words cannot tell the cause.
    struct Limit {
        let says: String
        /// The client explain can name, when the text names no tool (only a library's words).
        var client: String? = nil
        let reason: String
    }

    /// Cells whose client prints the same words for several failures, so no reader of the text can
    /// name the cause: the reason, and the cause explain must report instead (whose fix then
    /// covers the alternatives).
    static let textHidesTheCause: [String: Limit] = {
        var limits: [String: Limit] = [:]
        func add(_ clients: [String], _ failures: [Failure], _ limit: Limit) {
            for client in clients { for failure in failures { limits[key(client, failure)] = limit } }
        }
        let opensslClients = ["curl", "openssl", "python", "python-strict", "requests", "httpx", "pip", "node", "npm", "ruby"]
        add(opensslClients, [.incompleteChain, .staleRoot], Limit(says: "root-not-sent", reason:
            "OpenSSL's `unable to get local issuer certificate` (node's `UNABLE_TO_GET_ISSUER_CERT_LOCALLY`) is the same whether the root is not trusted, "
            + "an old root of the same name is, or the server left out an intermediate; explain's fix for it covers all three"))
        add(opensslClients, [.caAsLeaf], Limit(says: "non-strict-ca", reason:
            "OpenSSL's `unsuitable certificate purpose` (26, node's `INVALID_PURPOSE`) is the same for a CA certificate served as the leaf "
            + "and for a leaf whose key usage does not allow a TLS server: a defect of the chain either way, which no root fixes"))
        add(["apt"], [.untrustedRoot, .untrustedRootSent, .selfSigned, .incompleteChain, .staleRoot, .emptyCAFile], Limit(says: "untrusted", reason:
            "apt on GnuTLS says `The certificate issuer is unknown` whatever the chain's shape, for a self-signed leaf, for an old root of the same name, "
            + "and after loading no certificate from an empty CaInfo file"))
        add(["git", "java", "apt"], [.caAsLeaf], Limit(says: "non-strict-ca", reason:
            "GnuTLS's `Key usage violation` and Java's `KeyUsage does not allow digital signatures` say only that the leaf's key usage is wrong, "
            + "as a CA certificate served as the leaf also shows"))
        add(["python", "python-strict", "ruby"], [.missingCAFile, .emptyCAFile], Limit(says: "root-not-sent", reason:
            "Python's ssl and Ruby's OpenSSL skip an SSL_CERT_FILE they cannot load without a word, then say `unable to get local issuer certificate`"))
        add(["npm"], [.missingCAFile, .emptyCAFile], Limit(says: "root-not-sent", reason:
            "npm skips a cafile it cannot load without a word, then says `UNABLE_TO_GET_ISSUER_CERT_LOCALLY`"))
        add(["node"], [.emptyCAFile], Limit(says: "root-not-sent", reason:
            "node warns about a NODE_EXTRA_CA_CERTS file that is missing, not about one that is empty"))
        add(["openssl"], [.missingCAFile, .emptyCAFile], Limit(says: "ca-file-unusable", client: "openssl-client", reason:
            "`openssl s_client` stops at OpenSSL's error queue (`BIO_new_file`, `no certificate or crl found`), which names no tool"))
        add(["go"], [.untrustedRoot, .untrustedRootSent, .selfSigned, .incompleteChain, .missingCAFile, .emptyCAFile], Limit(says: "untrusted", reason:
            "Go says `x509: certificate signed by unknown authority` whatever the chain's shape, for a self-signed leaf, "
            + "and when its SSL_CERT_FILE is missing or empty (it reads the system directory besides)"))
        add(["java"], [.untrustedRoot, .untrustedRootSent, .selfSigned, .incompleteChain, .staleRoot, .missingCAFile], Limit(says: "untrusted", reason:
            "Java says `PKIX path building failed ... unable to find valid certification path` whatever the chain's shape, for a self-signed leaf, "
            + "an old root of the same name, and a trust store file that does not exist"))
        add(["wget"], [.untrustedRoot, .untrustedRootSent, .selfSigned, .incompleteChain, .staleRoot], Limit(says: "untrusted", reason:
            "wget on GnuTLS says `doesn't have a known issuer` whatever the chain's shape, for a self-signed leaf, and for an old root of the same name"))
        add(["git"], [.untrustedRoot, .untrustedRootSent, .expired, .notYetValid, .selfSigned, .incompleteChain, .weakSignature, .staleRoot, .emptyCAFile, .clockBehind],
            Limit(says: "untrusted", reason:
            "git on libcurl-GnuTLS says only `server certificate verification failed` for every failure but the host name, a missing CA file and a bad key usage"))
        add(["uv"], [.untrustedRoot, .untrustedRootSent, .selfSigned, .incompleteChain, .missingCAFile, .emptyCAFile], Limit(says: "untrusted", reason:
            "uv (rustls) says `UnknownIssuer` whatever the chain's shape, for a self-signed leaf, and when its SSL_CERT_FILE is missing or empty "
            + "(it falls back to its bundled roots)"))
        add(["uv"], [.weakKey], Limit(says: "stale-root", reason:
            "rustls says `BadSignature` both for an old root of the same name and for an RSA key it refuses (under 2048 bits); explain's fix for it names both"))
        return limits
    }()

    /// Cells where the client accepts what it was given: nothing to explain. The run must show it
    /// (a request crossed the proxy for that host while the client ran).
    static let clientAccepts: [String: String] = {
        var accepted: [String: String] = [:]
        for client in ["wget", "git", "apt"] {
            accepted[key(client, .weakKey)] = "GnuTLS (wget, git, apt) accepts an RSA-1024 leaf at its default priority"
        }
        accepted[key("wget", .caAsLeaf)] = "wget on GnuTLS accepted the CA certificate served as the leaf"
        for client in ["node", "npm"] {
            accepted[key(client, .weakKey)] = "node 20 (its own OpenSSL) accepted the RSA-1024 leaf that Debian's OpenSSL (security level 2) refuses"
        }
        for client in clients.map(\.id) where client != "python-strict" {
            accepted[key(client, .nonStrict)] = "only a strict verifier refuses a CA without key identifiers (Python 3.13's VERIFY_X509_STRICT, `openssl -x509_strict`)"
        }
        accepted[key("go", .weakKey)] = "Go 1.19 accepts RSA-1024"
        accepted[key("go", .caAsLeaf)] = "Go 1.19 accepted the CA certificate served as the leaf"
        accepted[key("go", .clockBehind)] = "libfaketime cannot move the clock of a static Go binary (CGO_ENABLED=0)"
        accepted[key("java", .weakSignature)] = "Java 17 refuses SHA-1 only in chains to its own cacerts roots (jdkCA)"
        accepted[key("java", .weakKey)] = "Java 17 refuses RSA keys under 1024 bits only"
        return accepted
    }()

    /// explain's client id for a row: `python-strict` is Python.
    static func explainID(_ row: String) -> String { row.hasSuffix("-strict") ? String(row.dropLast("-strict".count)) : row }

    static func key(_ client: String, _ failure: Failure) -> String { "\(client) x \(failure.rawValue)" }

    /// What explain made of one client's output.
    enum Reading: Equatable {
        case recognised(client: String, cause: String)
        case notRecognised
    }

    struct Cell {
        let client: String
        let failure: Failure
        let clientStatus: Int32
        let output: String
        let reading: Reading
        /// Whether the client accepted the chain: a request for the failure's host crossed the proxy,
        /// or the handshake completed and the client exited 0.
        let requestSeen: Bool
    }

    static let packageRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    static let matrixFile = packageRoot.appendingPathComponent("docs/explain-matrix.md").path

    @Test func everyClientAgainstEveryFailure() throws {
        let started = Date()
        let proxy = try ProxyProcess(["--offline"], caDirectory: .fresh, flows: .stdout)
        // The netskope profile sends its root along (shape S3): the one failure served by a second proxy.
        let sending = try ProxyProcess(["--offline", "--profile", "netskope"], caDirectory: .fresh, flows: .stdout)
        let scratch = try TemporaryDirectory()
        let setup = Setup(port: proxy.port, root: proxy.root, scratch: scratch.path("clients"))
        try Self.buildPrograms(setup)

        var cells: [Cell] = []
        for client in Self.clients {
            for failure in Failure.allCases {
                let (serving, served) = failure == .untrustedRootSent
                    ? (sending, Setup(port: sending.port, root: setup.root, scratch: setup.scratch)) : (proxy, setup)
                let before = serving.flowEvents().events.count
                let result = try client.run(served, failure)
                let explained = try CLI.run(["explain", "--json", "-"], input: result.output)
                var reading = Reading.notRecognised
                if explained.status == 0 {
                    let object = try #require(try JSONSerialization.jsonObject(with: Data(explained.stdout.utf8)) as? [String: Any], "\(explained)")
                    reading = .recognised(client: object["client"] as? String ?? "?", cause: object["cause"] as? String ?? "?")
                } else {
                    #expect(explained.status == 1, "explain failed on \(client.id) x \(failure.rawValue): \(explained)")
                }
                // A request crossed, or (s_client sends none) the handshake completed and the client
                // exited 0. The proxy's stdout is read by another thread: a listed acceptance gets a
                // moment to show.
                func accepted() -> Bool {
                    let events = serving.flowEvents().events.dropFirst(before).filter { $0["host"] as? String == failure.host }
                    return events.contains { $0["type"] as? String == "request" }
                        || result.status == 0 && events.contains { $0["type"] as? String == "tls_established" }
                }
                let requestSeen = eventually(timeout: Self.clientAccepts[Self.key(client.id, failure)] == nil ? 0 : 3, accepted)
                cells.append(Cell(client: client.id, failure: failure, clientStatus: result.status, output: result.output, reading: reading,
                                  requestSeen: requestSeen))
            }
        }

        for cell in cells {
            let name = Self.key(cell.client, cell.failure)
            if Self.clientAccepts[name] != nil {
                #expect(cell.requestSeen, "\(name) is listed as accepted, but no request crossed the proxy\n\(cell.output)")
                continue
            }
            // A client that got its request through was not served the failure: the cell would judge nothing.
            #expect(!cell.requestSeen && cell.clientStatus != 0, "\(name): the client accepted the chain\n\(cell.output)")
            let expected = Self.expected(cell.client, cell.failure)
            #expect(cell.reading == expected, "\(name): explain read \(cell.reading), want \(expected)\n--- the client printed:\n\(cell.output)")
        }
        // Every listed limit is a cell of the matrix (no stale entry hides nothing).
        for name in Array(Self.textHidesTheCause.keys) + Array(Self.clientAccepts.keys) {
            #expect(cells.contains { Self.key($0.client, $0.failure) == name }, "\(name) is listed, but the matrix does not run it")
        }

        let matrix = Self.matrix(cells)
        if ProcessInfo.processInfo.environment["INTERCEPT_PROXY_WRITE_EXPLAIN_MATRIX"] == "1" {
            try matrix.write(toFile: Self.matrixFile, atomically: true, encoding: .utf8)
        } else {
            let committed = try String(contentsOfFile: Self.matrixFile, encoding: .utf8)
            #expect(committed == matrix, "docs/explain-matrix.md differs from what this run produced; rewrite it with INTERCEPT_PROXY_WRITE_EXPLAIN_MATRIX=1")
        }
        // How long it took is reported, not asserted: every cell's client already has its own timeout.
        print("explain matrix: \(cells.count) cells in \(Int(Date().timeIntervalSince(started))) s")
    }

    /// The reading a cell must give: the client that ran and the failure served, or for a listed
    /// limit, the client and the cause its words allow.
    static func expected(_ client: String, _ failure: Failure) -> Reading {
        let limit = textHidesTheCause[key(client, failure)]
        return .recognised(client: limit?.client ?? explainID(client), cause: limit?.says ?? failure.cause)
    }

    /// The Go program (GO111MODULE=off), the Java class and truststore, and the node script, made
    /// once for all cells, the three builds side by side.
    static func buildPrograms(_ setup: Setup) throws {
        try FileManager.default.createDirectory(atPath: setup.javaClasses, withIntermediateDirectories: true)
        try goSource.write(toFile: setup.scratch + "/fetch.go", atomically: true, encoding: .utf8)
        try javaSource.write(toFile: setup.scratch + "/Fetch.java", atomically: true, encoding: .utf8)
        try nodeSource.write(toFile: setup.nodeScript, atomically: true, encoding: .utf8)
        let goEnvironment = cleanEnvironment(["GO111MODULE": "off", "GOFLAGS": "", "CGO_ENABLED": "0",
                                              "GOCACHE": setup.scratch + "/gocache", "GOPATH": setup.scratch + "/gopath"])
        let builds = [
            try start("go", ["build", "-o", setup.goProgram, setup.scratch + "/fetch.go"], environment: goEnvironment),
            try start("javac", ["-d", setup.javaClasses, setup.scratch + "/Fetch.java"]),
        ]
        // The stale root: the same profile's CA made again (same names, another key).
        let stale = try CLI.run(["ca", "init", "--profile", "zscaler", "--ca-dir", setup.scratch + "/stale-ca"])
        #expect(stale.status == 0, "ca init (the stale root)\n\(stale)")
        try Data().write(to: URL(fileURLWithPath: setup.scratch + "/empty-ca.pem"))
        for (root, failure) in [(setup.root, Failure.expired), (setup.staleRoot, .staleRoot)] {
            let store = try #require(setup.javaTrustStore(failure))
            let made = try TestSupport.run("keytool", ["-importcert", "-noprompt", "-alias", "gateway-root", "-file", root, "-keystore", store,
                                           "-storetype", "PKCS12", "-storepass", "changeit"])
            #expect(made.status == 0, "keytool \(store)\n\(made)")
        }
        for build in builds {
            let result = try build.wait(timeout: 120)
            #expect(result.status == 0, "\(build.command)\n\(result)")
        }
    }

    static let goSource = """
        package main

        import (
        \t"fmt"
        \t"io"
        \t"log"
        \t"net/http"
        \t"os"
        )

        func main() {
        \tresponse, err := http.Get(os.Args[1])
        \tif err != nil {
        \t\tlog.Fatal(err)
        \t}
        \tdefer response.Body.Close()
        \tbody, _ := io.ReadAll(response.Body)
        \tfmt.Print(string(body))
        }

        """

    static let javaSource = """
        import java.io.InputStream;
        import java.net.URL;

        public class Fetch {
            public static void main(String[] args) throws Exception {
                try (InputStream in = new URL(args[0]).openStream()) {
                    System.out.write(in.readAllBytes());
                    System.out.flush();
                }
            }
        }

        """

    /// node 20 reads no proxy variable: CONNECT by hand, then https.get over the tunnel, with no
    /// error handler, so node prints the unhandled error as a script would.
    static let nodeSource = """
        const http = require('http');
        const https = require('https');
        const target = new URL(process.argv[2]);
        const proxy = new URL(process.env.HTTPS_PROXY);
        http.request({ host: proxy.hostname, port: proxy.port, method: 'CONNECT', path: `${target.hostname}:443` })
          .on('connect', (response, socket) => {
            https.get({ host: target.hostname, path: target.pathname, socket, servername: target.hostname }, (answer) => {
              answer.pipe(process.stdout);
            });
          })
          .end();

        """

    /// Markdown: a row per client, a column per failure; ✓ right, ✗ wrong (what explain said) or
    /// not recognised, and the listed limits with a numbered reason.
    static func matrix(_ cells: [Cell]) -> String {
        var notes: [String] = []
        func numbered(_ note: String) -> Int {
            if let index = notes.firstIndex(of: note) { return index + 1 }
            notes.append(note)
            return notes.count
        }
        var lines = [
            "# explain against real clients",
            "",
            "Back to [explain](explain.md). Made by `Tests/CLITests/ExplainMatrixTests.swift`",
            "(`INTERCEPT_PROXY_WRITE_EXPLAIN_MATRIX=1` rewrites it; the test fails when this file differs",
            "from what the run produced). Each client ran through `intercept-proxy run --offline` (profile",
            "zscaler, which never sends its root). The [catalogue](catalogue.md)'s failures went to",
            "`<mode>.badssl.test` with the root trusted, so only that failure shows; the untrusted root (also",
            "through a second proxy, profile netskope, which sends its root along) and the client's own",
            "mistakes went to `pkg.example.test`: no CA setting, a stale root (the same profile's CA made",
            "again: same names, another key), a CA file that does not exist, an empty one; the clock was",
            "moved back 800 days with libfaketime. Everything the client printed (stdout and",
            "stderr) went to `intercept-proxy explain --json -`, whose client and cause are judged: ✓ right,",
            "✗ wrong (what explain said), ✗ not recognised; − where the client's words cannot tell the cause",
            "(explain must then say what the words allow); accepted where the client took the chain (a",
            "request crossed the proxy, or for s_client the handshake completed), so there was nothing to",
            "explain. Reasons are numbered below.",
            "",
            "| client | " + Failure.allCases.map { "\($0.rawValue) (`\($0.cause)`)" }.joined(separator: " | ") + " |",
            "|---|" + Failure.allCases.map { _ in ":-:|" }.joined(),
        ]
        for client in clients {
            let row = Failure.allCases.map { failure -> String in
                guard let cell = cells.first(where: { $0.client == client.id && $0.failure == failure }) else { return "not run" }
                if let accepted = clientAccepts[key(client.id, failure)] {
                    return cell.requestSeen ? "accepted \(numbered(accepted + "."))" : "✗ rejected, listed as accepted"
                }
                let limit = textHidesTheCause[key(client.id, failure)]
                switch cell.reading {
                case .notRecognised:
                    return "✗ not recognised"
                case let .recognised(_, cause) where cell.reading == expected(client.id, failure):
                    guard let limit else { return "✓" }
                    return "− `\(cause)` \(numbered(limit.reason + "."))"
                case let .recognised(reported, cause):
                    return "✗ `\(reported)` `\(cause)`"
                }
            }
            lines.append("| `\(client.id)`: \(client.how.replacingOccurrences(of: "|", with: "/")) | " + row.joined(separator: " | ") + " |")
        }
        let judged = cells.filter { clientAccepts[key($0.client, $0.failure)] == nil }
        let right = judged.filter { $0.reading == expected($0.client, $0.failure) && textHidesTheCause[key($0.client, $0.failure)] == nil }.count
        let limited = judged.filter { textHidesTheCause[key($0.client, $0.failure)] != nil }.count
        let wrong = judged.count - limited - right
        lines.append("")
        lines.append("\(right) of \(judged.count - limited) cells right, \(wrong) wrong or not recognised; \(limited) where the text cannot tell the cause; "
                     + "\(cells.count - judged.count) where the client accepted.")
        lines.append("")
        lines += notes.enumerated().map { "\($0 + 1). \($1)" }
        lines.append("")
        return lines.joined(separator: "\n")
    }
}
