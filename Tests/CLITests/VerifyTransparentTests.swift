import Foundation
import Testing
import TestSupport

/// `verify --transparent`: clients that ignore HTTPS_PROXY are judged as a laptop agent judges
/// them. Every run is offline and confined to network namespaces: explicit mode runs inside an
/// empty one of its own, so a client going around the proxy reaches nothing.
@Suite(.serialized) struct VerifyTransparentTests {
    static let nodeFetch = #"fetch("https://pypi.org/simple/").then(r => console.log("status", r.status)).catch(e => { console.log("error", e.cause && e.cause.code); process.exit(1) })"#

    /// `verify` with `arguments`, then `--`, then `command`, in a clean environment plus `environment`.
    static func verify(_ arguments: [String], _ command: [String], environment: [String: String] = [:],
                       caDirectory: String) throws -> ProcessResult {
        try CLI.run(["verify", "--ca-dir", caDirectory, "--offline"] + arguments + ["--"] + command, environment: environment)
    }

    @Test func nodeFetchIsUnseenInExplicitModeThenJudgedTransparentlyAndTrustedWithTheFix() throws {
        let scratch = try TemporaryDirectory()
        let ca = scratch.path("ca")
        // Explicit mode in an empty namespace: fetch ignores HTTPS_PROXY, reaches nothing, and verify says why it saw nothing.
        let explicit = try run("unshare", ["--net", "sh", "-c", #"ip link set lo up && exec "$0" "$@""#, CLI.binary,
                                           "verify", "--ca-dir", ca, "--offline", "--expect", "rejected", "--", "node", "-e", Self.nodeFetch],
                               environment: cleanEnvironment())
        #expect(explicit.status == 1, "\(explicit)")
        #expect(explicit.stdout.contains("FAIL: nothing was intercepted; does the command honour HTTPS_PROXY?"), "\(explicit)")
        #expect(explicit.stdout.contains("run verify --offline --transparent"), "\(explicit)")
        #expect(!explicit.stdout.contains("pypi.org  "), "\(explicit)")

        let rejected = try Self.verify(["--transparent", "--expect", "rejected"], ["node", "-e", Self.nodeFetch], caDirectory: ca)
        #expect(rejected.status == 0, "\(rejected)")
        #expect(rejected.stderr.contains("error UNABLE_TO_GET_ISSUER_CERT_LOCALLY"), "\(rejected)")
        #expect(rejected.stdout.contains("pypi.org") && rejected.stdout.contains("OK: every host was rejected"), "\(rejected)")

        let snippet = try CLI.run(["snippet", "--client", "node", "--ca-file", "\(ca)/zscaler/root-ca.pem"])
        #expect(snippet.stdout.contains("NODE_EXTRA_CA_CERTS="), "\(snippet)")
        let fixed = try Self.verify(["--transparent"], ["node", "-e", Self.nodeFetch],
                                    environment: ["NODE_EXTRA_CA_CERTS": "\(ca)/zscaler/root-ca.pem"], caDirectory: ca)
        #expect(fixed.status == 0 && fixed.stderr.contains("status 200"), "\(fixed)")
        #expect(fixed.stdout.contains("OK: every host was trusted"), "\(fixed)")
    }

    @Test func curlWithoutProxyAndAGoTransportWithoutProxyAreJudgedToo() throws {
        let scratch = try TemporaryDirectory()
        let ca = scratch.path("ca")
        let curl = try Self.verify(["--transparent", "--expect", "rejected"], ["curl", "-sS", "--noproxy", "*", "https://files.pythonhosted.org/x"],
                                   caDirectory: ca)
        #expect(curl.status == 0 && curl.stderr.contains("curl: (60) SSL certificate problem: unable to get local issuer certificate"), "\(curl)")
        #expect(curl.stdout.contains("files.pythonhosted.org"), "\(curl)")

        let source = try scratch.write("main.go", """
            package main

            import (
            \t"fmt"
            \t"net/http"
            \t"os"
            )

            func main() {
            \tclient := &http.Client{Transport: &http.Transport{Proxy: nil}}  // ignores HTTPS_PROXY, as many Go programs do
            \tresponse, err := client.Get("https://proxy.golang.org/")
            \tif err != nil {
            \t\tfmt.Println(err)
            \t\tos.Exit(1)
            \t}
            \tfmt.Println("status", response.StatusCode)
            }
            """)
        let binary = scratch.path("fetch")
        let built = try run("go", ["build", "-o", binary, source], environment: cleanEnvironment(["GO111MODULE": "off"]), timeout: 300)
        try #require(built.status == 0, "\(built)")
        let go = try Self.verify(["--transparent", "--expect", "rejected", "--json"], [binary], caDirectory: ca)
        #expect(go.status == 0 && go.stderr.contains("x509: certificate signed by unknown authority"), "\(go)")
        let report = try JSONSerialization.jsonObject(with: Data(go.stdout.utf8)) as? [String: Any]
        #expect(report?["mode"] as? String == "transparent", "\(go.stdout)")
        let hosts = report?["hosts"] as? [[String: Any]] ?? []
        #expect(hosts.map { $0["host"] as? String } == ["proxy.golang.org"] && hosts.first?["outcome"] as? String == "rejected", "\(go.stdout)")
        let connections = (report?["worlds"] as? [[String: Any]])?.first?["connections"] as? [[String: Any]] ?? []
        #expect(connections.first?["tlsStack"] as? String == "Go", "\(go.stdout)")
    }

    @Test func aCommandWithTwoCodePathsIsReportedPerPathWithTheirTLSStacks() throws {
        // One path honours the CA setting (curl --cacert, OpenSSL), the other does not (a JVM without proxy
        // properties, its own cacerts): two connections, two fingerprints, one trusted and one rejected.
        let scratch = try TemporaryDirectory()
        let ca = scratch.path("ca")
        let fetch = try scratch.write("Fetch.java", """
            public class Fetch {
                public static void main(String[] args) throws Exception {
                    var client = java.net.http.HttpClient.newHttpClient();  // no proxy properties: HTTPS_PROXY means nothing to it
                    var request = java.net.http.HttpRequest.newBuilder(java.net.URI.create(args[0])).build();
                    System.out.println(client.send(request, java.net.http.HttpResponse.BodyHandlers.ofString()).statusCode());
                }
            }
            """)
        _ = try CLI.run(["ca", "init", "--ca-dir", ca])
        let result = try Self.verify(["--transparent", "--json"], ["sh", "-c",
            "curl -sS --cacert \(ca)/zscaler/root-ca.pem https://pypi.org/simple/ >/dev/null; java \(fetch) https://repo.maven.apache.org/maven2/"],
            caDirectory: ca)
        #expect(result.status == 1, "\(result)")
        #expect(result.stderr.contains("PKIX path building failed"), "\(result)")
        let report = try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any]
        let world = (report?["worlds"] as? [[String: Any]])?.first
        let connections = world?["connections"] as? [[String: Any]] ?? []
        #expect(connections.count == 2, "\(result.stdout)")
        let byHost = Dictionary(connections.map { ($0["host"] as? String ?? "", $0) }, uniquingKeysWith: { first, _ in first })
        #expect(byHost["pypi.org"]?["outcome"] as? String == "trusted" && byHost["pypi.org"]?["tlsStack"] as? String == "OpenSSL", "\(result.stdout)")
        #expect(byHost["repo.maven.apache.org"]?["outcome"] as? String == "rejected", "\(result.stdout)")
        #expect(byHost["repo.maven.apache.org"]?["tlsStack"] as? String == "Java", "\(result.stdout)")
        let fingerprints = connections.compactMap { $0["ja4"] as? String }
        #expect(Set(fingerprints).count == 2 && fingerprints.allSatisfy { $0.hasPrefix("t13d") }, "\(fingerprints)")
        #expect(connections.allSatisfy { ($0["destination"] as? String)?.hasPrefix("198.18.") == true }, "\(result.stdout)")
    }

    @Test func withoutANetworkNamespaceItSaysWhatIsMissingAndExits2() throws {
        let scratch = try TemporaryDirectory()
        let shared = scratch.path("shared")
        try FileManager.default.createDirectory(atPath: shared, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o777])
        try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: scratch.url.path)
        // An unprivileged user cannot make a network namespace in a threaded process.
        let result = try run("runuser", ["-u", "nobody", "--", CLI.binary, "verify", "--ca-dir", "\(shared)/ca", "--offline", "--transparent", "--", "true"],
                             environment: cleanEnvironment())
        #expect(result.status == 2, "\(result)")
        #expect(result.stderr.contains("verify --transparent needs a network namespace of its own: unshare(CLONE_NEWNET) failed (Operation not permitted); run it as root"), "\(result)")
        let online = try CLI.run(["verify", "--transparent", "--", "true"])
        #expect(online.status == 2 && online.stderr.contains("--transparent needs --offline"), "\(online)")
    }

    @Test func bothWorldsRunTransparentlyEachWithItsOwnProxy() throws {
        // The direct world's proxy listens on another port: its rules replace the gateway world's.
        let scratch = try TemporaryDirectory()
        let result = try Self.verify(["--transparent", "--worlds", "gateway,direct", "--expect", "rejected"],
                                     ["curl", "-sS", "-o", "/dev/null", "https://pypi.org/simple/"], caDirectory: scratch.path("ca"))
        #expect(result.status == 0, "\(result)")
        #expect(result.stdout.contains("OK in the gateway world: intercepted hosts rejected"), "\(result.stdout)")
        #expect(result.stdout.contains("OK in the direct world: every host trusted the site's own certificate"), "\(result.stdout)")
    }

    @Test func quicIsRefusedAndCountedSoClientsFallBackToTCP() throws {
        let scratch = try TemporaryDirectory()
        let script = """
            import socket, sys, time
            udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            udp.connect(("pypi.org", 443))
            try:  # a QUIC Initial: the kernel refuses it at once (EPERM), or by ICMP on the next call (ECONNREFUSED)
                udp.send(b"quic initial")
                time.sleep(0.3)
                udp.send(b"again")
                print("quic passed")
            except (PermissionError, ConnectionRefusedError):
                print("quic refused")
            """
        let result = try Self.verify(["--transparent", "--expect", "rejected"],
                                     ["sh", "-c", "python3 -c '\(script)' && curl -sS https://pypi.org/ ; true"], caDirectory: scratch.path("ca"))
        #expect(result.stderr.contains("quic refused"), "\(result)")
        #expect(result.stdout.contains("QUIC (UDP 443) refused"), "\(result)")
        #expect(result.stdout.contains("pypi.org"), "\(result)")
    }
}
