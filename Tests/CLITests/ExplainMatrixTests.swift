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
    /// What the proxy serves, and what explain must name for it.
    enum Failure: String, CaseIterable, Sendable {
        case untrustedRoot = "untrusted root"
        case expired
        case notYetValid = "not-yet-valid"
        case wrongHost = "wrong-host"
        case selfSigned = "self-signed"

        /// Any intercepted host for the untrusted root (the client does not trust the proxy's
        /// root); the catalogue's host, with the root trusted, for the rest.
        var host: String { self == .untrustedRoot ? "pkg.example.test" : "\(rawValue).badssl.test" }
        var trustsRoot: Bool { self != .untrustedRoot }
        var url: String { "https://\(host)/" }

        /// explain's cause id (Sources/TrustStoreGuide/ExplainCause.swift).
        var cause: String {
            switch self {
            case .untrustedRoot: return "root-not-sent"  // zscaler sends leaf + issuing + intermediate, never the root
            case .expired: return "expired"
            case .notYetValid: return "not-yet-valid"
            case .wrongHost: return "hostname-mismatch"
            case .selfSigned: return "self-signed-leaf"
            }
        }
    }

    /// What every client run needs: the proxy, its root, and the programs built once.
    struct Setup: Sendable {
        let port: Int
        let root: String
        let scratch: String
        var proxyURL: String { "http://127.0.0.1:\(port)" }
        var goProgram: String { scratch + "/fetch-go" }
        var javaClasses: String { scratch + "/java" }
        var javaTrustStore: String { scratch + "/truststore.p12" }
        var nodeScript: String { scratch + "/fetch.js" }
    }

    struct Client: Sendable {
        /// explain's client id.
        let id: String
        /// How it was driven, for the matrix.
        let how: String
        let run: @Sendable (Setup, Failure) throws -> ProcessResult
    }

    static let timeout: TimeInterval = 30

    /// The environment of a client run: clean (no CA or proxy variables), the proxy in both
    /// spellings, plus `extra`.
    static func environment(_ setup: Setup, _ extra: [String: String] = [:]) -> [String: String] {
        cleanEnvironment(["HTTPS_PROXY": setup.proxyURL, "https_proxy": setup.proxyURL].merging(extra) { $1 })
    }

    static let clients: [Client] = [
        Client(id: "curl", how: "`curl -sS URL` (HTTPS_PROXY; trusted: `--cacert`)") { setup, failure in
            try run("curl", ["-sS", "--max-time", "20"] + (failure.trustsRoot ? ["--cacert", setup.root] : []) + [failure.url],
                    environment: environment(setup), timeout: timeout)
        },
        Client(id: "wget", how: "`wget -O /dev/null URL` (https_proxy; trusted: `--ca-certificate`)") { setup, failure in
            try run("wget", ["-O", "/dev/null", "--tries=1", "--timeout=20"] + (failure.trustsRoot ? ["--ca-certificate=\(setup.root)"] : []) + [failure.url],
                    environment: environment(setup), timeout: timeout)
        },
        Client(id: "openssl", how: "`openssl s_client -proxy ... -verify_hostname HOST -verify_return_error` (trusted: `-CAfile`)") { setup, failure in
            try run("openssl", ["s_client", "-proxy", "127.0.0.1:\(setup.port)", "-connect", "\(failure.host):443", "-servername", failure.host,
                                "-verify_hostname", failure.host, "-verify_return_error"] + (failure.trustsRoot ? ["-CAfile", setup.root] : []),
                    environment: environment(setup), timeout: timeout)
        },
        Client(id: "python", how: "`urllib.request.urlopen(URL)` (https_proxy; trusted: `SSL_CERT_FILE`)") { setup, failure in
            try run("python3", ["-c", "import sys, urllib.request; print(urllib.request.urlopen(sys.argv[1], timeout=20).read())", failure.url],
                    environment: environment(setup, failure.trustsRoot ? ["SSL_CERT_FILE": setup.root] : [:]), timeout: timeout)
        },
        Client(id: "requests", how: "`requests.get(URL)` (HTTPS_PROXY; trusted: `REQUESTS_CA_BUNDLE`)") { setup, failure in
            try run("python3", ["-c", "import sys, requests; print(requests.get(sys.argv[1], timeout=20).text)", failure.url],
                    environment: environment(setup, failure.trustsRoot ? ["REQUESTS_CA_BUNDLE": setup.root] : [:]), timeout: timeout)
        },
        Client(id: "node", how: "`https.get` over an explicit CONNECT (node 20 has no proxy setting; trusted: `NODE_EXTRA_CA_CERTS`)") { setup, failure in
            try run("node", [setup.nodeScript, failure.url],
                    environment: environment(setup, failure.trustsRoot ? ["NODE_EXTRA_CA_CERTS": setup.root] : [:]), timeout: timeout)
        },
        Client(id: "go", how: "a `net/http` `http.Get` program, `log.Fatal(err)` (HTTPS_PROXY; trusted: `SSL_CERT_FILE`)") { setup, failure in
            try run(setup.goProgram, [failure.url],
                    environment: environment(setup, failure.trustsRoot ? ["SSL_CERT_FILE": setup.root] : [:]), timeout: timeout)
        },
        Client(id: "java", how: "Java 17 `new URL(URL).openStream()` (`-Dhttps.proxyHost/Port`; trusted: a keytool PKCS12 `javax.net.ssl.trustStore`)") { setup, failure in
            let trust = failure.trustsRoot ? ["-Djavax.net.ssl.trustStore=\(setup.javaTrustStore)", "-Djavax.net.ssl.trustStorePassword=changeit"] : []
            return try run("java", trust + ["-Dhttps.proxyHost=127.0.0.1", "-Dhttps.proxyPort=\(setup.port)", "-cp", setup.javaClasses, "Fetch", failure.url],
                           environment: environment(setup), timeout: timeout)
        },
        Client(id: "git", how: "`git -c http.proxy=... ls-remote URL` (trusted: `GIT_SSL_CAINFO`)") { setup, failure in
            try run("git", ["-c", "http.proxy=\(setup.proxyURL)", "ls-remote", failure.url + "repo.git"],
                    environment: environment(setup, (failure.trustsRoot ? ["GIT_SSL_CAINFO": setup.root] : [:]).merging(["GIT_TERMINAL_PROMPT": "0"]) { $1 }),
                    timeout: timeout)
        },
    ]

    /// Cells whose client prints the same words for several failures, so no reader of the text can
    /// name the cause: the reason, and the cause explain must report instead (the honest
    /// "untrusted, shape unknown", whose fix is to trust the root).
    static let textHidesTheCause: [String: (says: String, reason: String)] = [
        key("go", .untrustedRoot): ("untrusted", "Go says `x509: certificate signed by unknown authority` whatever the chain's shape, so the text cannot tell that the root was not sent"),
        key("java", .untrustedRoot): ("untrusted", "Java says `PKIX path building failed ... unable to find valid certification path` whatever the chain's shape"),
        key("wget", .untrustedRoot): ("untrusted", "wget on GnuTLS says `doesn't have a known issuer` whatever the chain's shape"),
        key("git", .untrustedRoot): ("untrusted", "git on libcurl-GnuTLS says only `server certificate verification failed` for every failure but the host name"),
        key("git", .expired): ("untrusted", "git on libcurl-GnuTLS says only `server certificate verification failed` for every failure but the host name"),
        key("git", .notYetValid): ("untrusted", "git on libcurl-GnuTLS says only `server certificate verification failed` for every failure but the host name"),
        key("git", .selfSigned): ("untrusted", "git on libcurl-GnuTLS says only `server certificate verification failed` for every failure but the host name"),
        key("go", .selfSigned): ("untrusted", "Go says `x509: certificate signed by unknown authority` for a self-signed leaf too"),
        key("java", .selfSigned): ("untrusted", "Java says `PKIX path building failed` for a self-signed leaf too"),
        key("wget", .selfSigned): ("untrusted", "wget on GnuTLS says `doesn't have a known issuer` for a self-signed leaf too"),
    ]

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
    }

    static let packageRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    static let matrixFile = packageRoot.appendingPathComponent("docs/explain-matrix.md").path

    @Test func everyClientAgainstEveryFailure() throws {
        let started = Date()
        let proxy = try ProxyProcess(["--offline"], caDirectory: .fresh)
        let scratch = try TemporaryDirectory()
        let setup = Setup(port: proxy.port, root: proxy.root, scratch: scratch.path("clients"))
        try Self.buildPrograms(setup)

        var cells: [Cell] = []
        for client in Self.clients {
            for failure in Failure.allCases {
                let result = try client.run(setup, failure)
                let explained = try CLI.run(["explain", "--json", "-"], input: result.output)
                var reading = Reading.notRecognised
                if explained.status == 0 {
                    let object = try #require(try JSONSerialization.jsonObject(with: Data(explained.stdout.utf8)) as? [String: Any], "\(explained)")
                    reading = .recognised(client: object["client"] as? String ?? "?", cause: object["cause"] as? String ?? "?")
                } else {
                    #expect(explained.status == 1, "explain failed on \(client.id) x \(failure.rawValue): \(explained)")
                }
                cells.append(Cell(client: client.id, failure: failure, clientStatus: result.status, output: result.output, reading: reading))
            }
        }

        for cell in cells {
            let name = Self.key(cell.client, cell.failure)
            // A client that succeeded was not served the failure: the cell would judge nothing.
            #expect(cell.clientStatus != 0, "\(name): the client succeeded\n\(cell.output)")
            let expected = Self.expected(cell.client, cell.failure)
            #expect(cell.reading == expected, "\(name): explain read \(cell.reading), want \(expected)\n--- the client printed:\n\(cell.output)")
        }
        // Every listed limit is a cell of the matrix (no stale entry hides nothing).
        for name in Self.textHidesTheCause.keys {
            #expect(cells.contains { Self.key($0.client, $0.failure) == name }, "textHidesTheCause lists \(name), which the matrix does not run")
        }

        let matrix = Self.matrix(cells)
        if ProcessInfo.processInfo.environment["INTERCEPT_PROXY_WRITE_EXPLAIN_MATRIX"] == "1" {
            try matrix.write(toFile: Self.matrixFile, atomically: true, encoding: .utf8)
        } else {
            let committed = try String(contentsOfFile: Self.matrixFile, encoding: .utf8)
            #expect(committed == matrix, "docs/explain-matrix.md differs from what this run produced; rewrite it with INTERCEPT_PROXY_WRITE_EXPLAIN_MATRIX=1")
        }
        #expect(Date().timeIntervalSince(started) < 90, "the matrix took \(Int(Date().timeIntervalSince(started))) s")
    }

    /// The reading a cell must give: the client that ran and the failure served, or for a listed
    /// limit, the client and the cause its words allow.
    static func expected(_ client: String, _ failure: Failure) -> Reading {
        .recognised(client: client, cause: textHidesTheCause[key(client, failure)]?.says ?? failure.cause)
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
            try start("keytool", ["-importcert", "-noprompt", "-alias", "gateway-root", "-file", setup.root, "-keystore", setup.javaTrustStore,
                                  "-storetype", "PKCS12", "-storepass", "changeit"]),
        ]
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
        var lines = [
            "# explain against real clients",
            "",
            "Back to [explain](explain.md). Made by `Tests/CLITests/ExplainMatrixTests.swift`",
            "(`INTERCEPT_PROXY_WRITE_EXPLAIN_MATRIX=1` rewrites it; the test fails when this file differs",
            "from what the run produced). Each client ran through `intercept-proxy run --offline` (profile",
            "zscaler, which never sends its root): for the untrusted root to `pkg.example.test` without the",
            "root, for the others to the [catalogue](catalogue.md)'s `<mode>.badssl.test` with the root",
            "trusted, so only that failure shows. Everything it printed (stdout and stderr) went to",
            "`intercept-proxy explain --json -`, whose client and cause are judged: ✓ right, ✗ wrong (what",
            "explain said), ✗ not recognised, and − where the client's words cannot tell the cause (the",
            "reason is numbered below; explain must then say what the words allow).",
            "",
            "| client | " + Failure.allCases.map { "\($0.rawValue) (`\($0.cause)`)" }.joined(separator: " | ") + " |",
            "|---|" + Failure.allCases.map { _ in ":-:|" }.joined(),
        ]
        for client in clients {
            let row = Failure.allCases.map { failure -> String in
                guard let cell = cells.first(where: { $0.client == client.id && $0.failure == failure }) else { return "not run" }
                let limit = textHidesTheCause[key(client.id, failure)]
                switch cell.reading {
                case .notRecognised:
                    return "✗ not recognised"
                case let .recognised(_, cause) where cell.reading == expected(client.id, failure):
                    guard let limit else { return "✓" }
                    let note = "\(limit.reason)."
                    let number = (notes.firstIndex(of: note) ?? notes.count) + 1
                    if number > notes.count { notes.append(note) }
                    return "− `\(cause)` \(number)"
                case let .recognised(reported, cause):
                    return "✗ `\(reported)` `\(cause)`"
                }
            }
            lines.append("| `\(client.id)`: \(client.how.replacingOccurrences(of: "|", with: "/")) | " + row.joined(separator: " | ") + " |")
        }
        let right = cells.filter { $0.reading == expected($0.client, $0.failure) && textHidesTheCause[key($0.client, $0.failure)] == nil }.count
        let limited = cells.filter { textHidesTheCause[key($0.client, $0.failure)] != nil }.count
        let wrong = cells.count - limited - right
        lines.append("")
        lines.append("\(right) of \(cells.count - limited) cells right, \(wrong) wrong or not recognised; \(limited) where the text cannot tell the cause.")
        lines.append("")
        lines += notes.enumerated().map { "\($0 + 1). \($1)" }
        lines.append("")
        return lines.joined(separator: "\n")
    }
}
