import Foundation
import Testing
import TestSupport

/// `run --transparent` in a network namespace of its own, the way a laptop agent intercepts: the
/// kernel redirects TCP bound for the reserved test ranges (198.18.0.0/15, 2001:2::/48, never
/// routed anywhere) to the proxy, and clients that were never told about a proxy meet it anyway.
@Suite struct TransparentModeTests {
    /// The script's exit status when the proxy never listened.
    static let notReady: Int32 = 97

    /// Runs `clients` (shell lines) in a fresh network namespace whose TCP to the test ranges goes
    /// to a proxy started there with `arguments`; returns what they printed and the flow log.
    static func inNamespace(_ arguments: [String], redirectPort: Int = 8080, clients: String) throws -> (output: String, flows: String) {
        let scratch = try TemporaryDirectory()
        let flows = scratch.path("flows.jsonl"), ca = scratch.path("ca"), log = scratch.path("proxy.log")
        // A copy of the run's shared CA: no key generation before the proxy listens.
        try FileManager.default.copyItem(atPath: try ProxyProcess.sharedCA(), toPath: ca)
        let proxy = ([CLI.binary, "run", "--offline", "--transparent", "--listen-host", "localhost", "--port", "8080",
                      "--ca-dir", ca, "--flows", flows] + arguments).map { "'\($0)'" }.joined(separator: " ")
        let script = """
            set -e
            ip link set lo up
            ip route add local 198.18.0.0/15 dev lo
            ip -6 route add local 2001:2::/48 dev lo
            iptables -t nat -A OUTPUT -p tcp -d 198.18.0.0/15 -j REDIRECT --to-ports \(redirectPort)
            ip6tables -t nat -A OUTPUT -p tcp -d 2001:2::/48 -j REDIRECT --to-ports \(redirectPort)
            \(proxy) > \(log) 2>&1 &
            # Up to 30 s, as ProxyProcess allows; a proxy that never listens fails the test here.
            for i in $(seq 300); do grep -q listening \(log) && break; sleep 0.1; done
            grep -q listening \(log) || { echo "the proxy did not listen within 30 s:"; cat \(log); kill %1; exit \(Self.notReady); }
            ROOT=\(ca)/zscaler/root-ca.pem
            set +e
            {
            \(clients)
            } 2>&1
            kill -INT %1; wait
            """
        let result = try run("unshare", ["--net", "bash", "-c", script], environment: cleanEnvironment())
        #expect(!result.stderr.contains("unshare: unshare failed"), "a network namespace needs root or user namespaces: \(result)")
        #expect(result.status != Self.notReady, "\(result)")
        return (result.stdout + result.stderr, (try? String(contentsOfFile: flows, encoding: .utf8)) ?? "")
    }

    @Test func redirectedTLSIsInterceptedForItsServerNameOnIPv4AndIPv6() throws {
        let (output, flows) = try Self.inNamespace([], clients: """
            echo "== v4"; curl -sS --max-time 10 --cacert $ROOT --resolve pypi.org:443:198.18.0.7 https://pypi.org/simple/
            echo "== v6"; curl -sS --max-time 10 --cacert $ROOT --resolve 'pypi.org:443:[2001:2::7]' https://pypi.org/simple/
            echo "== untrusted"; curl -sS --max-time 10 --resolve pypi.org:443:198.18.0.7 https://pypi.org/simple/
            echo "== explicit"; curl -sS --max-time 10 -x http://127.0.0.1:8080 --cacert $ROOT https://files.pythonhosted.org/x
            echo "== own-proxy"; curl -sS --max-time 10 -x http://198.18.0.99:3128 --cacert $ROOT https://registry.npmjs.org/left-pad
            """)
        let sections = Self.sections(output)
        #expect(sections["v4"]?.contains("the TLS handshake for pypi.org succeeded, so this client trusts the zscaler root CA") == true, "\(output)")
        #expect(sections["v6"]?.contains("the TLS handshake for pypi.org succeeded") == true, "\(output)")
        #expect(sections["untrusted"]?.contains("curl: (60) SSL certificate problem: unable to get local issuer certificate") == true, "\(output)")
        #expect(sections["explicit"]?.contains("the TLS handshake for files.pythonhosted.org succeeded") == true, "\(output)")
        // A client's own proxy setting, redirected here: its CONNECT is a proxy request, answered as one.
        #expect(sections["own-proxy"]?.contains("the TLS handshake for registry.npmjs.org succeeded") == true, "\(output)")
        #expect(flows.contains(#""detail":"redirected to the proxy on its way to 198.18.0.7:443 (--transparent)","host":"pypi.org""#), "\(flows)")
        #expect(flows.contains("redirected to the proxy on its way to [2001:2::7]:443 (--transparent)"), "\(flows)")
        #expect(flows.contains(#""cause":"unknown_ca""#), "\(flows)")
        #expect(flows.contains(#""host":"files.pythonhosted.org","interception":"intercepted","method":"CONNECT""#), "\(flows)")
    }

    @Test func withoutServerNameTheOriginalAddressNamesTheLeafAndPlainHTTPGoesToItsHost() throws {
        let (output, flows) = try Self.inNamespace([], clients: """
            echo "== no-sni"; openssl s_client -connect 198.18.0.9:443 -noservername -CAfile $ROOT </dev/null 2>&1 | grep -E 'subject=|Verify return code'
            echo "== plain"; curl -sS --max-time 10 -H 'Host: example.org' http://198.18.0.9/hello
            """)
        let sections = Self.sections(output)
        #expect(sections["no-sni"]?.contains("Verify return code: 0 (ok)") == true, "\(output)")
        #expect(sections["no-sni"]?.contains("subject=CN = 198.18.0.9") == true, "\(output)")
        #expect(sections["plain"]?.contains("plain HTTP request for example.org") == true, "\(output)")
        #expect(flows.contains(#""url":"http://example.org/hello""#), "\(flows)")
    }

    @Test func aPortOfItsOwnTakesTheRedirects() throws {
        let (output, flows) = try Self.inNamespace(["--transparent-port", "8443"], redirectPort: 8443, clients: """
            echo "== v4"; curl -sS --max-time 10 --cacert $ROOT --resolve pypi.org:443:198.18.0.7 https://pypi.org/simple/
            echo "== explicit"; curl -sS --max-time 10 -x http://127.0.0.1:8080 --cacert $ROOT https://pypi.org/simple/
            """)
        let sections = Self.sections(output)
        #expect(sections["v4"]?.contains("the TLS handshake for pypi.org succeeded") == true, "\(output)")
        #expect(sections["explicit"]?.contains("the TLS handshake for pypi.org succeeded") == true, "\(output)")
        #expect(flows.contains("redirected to the proxy on its way to 198.18.0.7:443 (--transparent)"), "\(flows)")
        let misuse = try CLI.run(["run", "--offline", "--transparent-port", "8443"])
        #expect(misuse.status == 2 && misuse.stderr.contains("--transparent-port needs --transparent"), "\(misuse)")
    }

    /// The lines after each `== NAME` marker.
    static func sections(_ output: String) -> [String: String] {
        var result: [String: String] = [:]
        var current: String?
        for line in output.split(separator: "\n", omittingEmptySubsequences: false) {
            if line.hasPrefix("== ") { current = String(line.dropFirst(3)); result[current!] = ""; continue }
            if let current { result[current]! += line + "\n" }
        }
        return result
    }
}
