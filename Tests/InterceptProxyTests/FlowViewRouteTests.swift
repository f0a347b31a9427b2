import Foundation
import InterceptProxy
import Testing
import TestSupport

/// The flow view's three files at `/ui` on the control API: served from the binary with a strict
/// Content-Security-Policy, GET only, no query, nothing else under /ui. (What the page does in a
/// browser: Tests/CLITests/FlowViewBrowserTests.swift.)
@Suite struct FlowViewRouteTests {
    /// The status line, the headers (lower-cased names) and the body of a curl request.
    private func fetch(_ address: String, _ path: String, _ extra: [String] = []) throws -> (status: Int, headers: [String: String], body: String) {
        let result = try run("curl", ["-sS", "-i", "--max-time", "20"] + extra + ["http://\(address)\(path)"])
        #expect(result.status == 0, "\(result)")
        let parts = result.stdout.components(separatedBy: "\r\n\r\n")
        let head = parts[0].components(separatedBy: "\r\n")
        let status = Int(head[0].split(separator: " ").dropFirst().first ?? "") ?? -1
        var headers: [String: String] = [:]
        for line in head.dropFirst() {
            let pair = line.split(separator: ":", maxSplits: 1).map { $0.trimmingCharacters(in: .whitespaces) }
            if pair.count == 2 { headers[pair[0].lowercased()] = pair[1] }
        }
        return (status, headers, parts.dropFirst().joined(separator: "\r\n\r\n"))
    }

    @Test func thePageItsScriptAndStyleComeWithAStrictPolicy() async throws {
        try await withProxy(configure: { $0.adminAddress = "127.0.0.1:0" }) { fixture in
            let address = try #require(fixture.proxy.adminAddress).description
            for (path, type) in [("/ui", "text/html; charset=utf-8"), ("/ui/", "text/html; charset=utf-8"),
                                 ("/ui/app.js", "text/javascript; charset=utf-8"), ("/ui/app.css", "text/css; charset=utf-8")] {
                let answer = try fetch(address, path)
                #expect(answer.status == 200 && answer.headers["content-type"] == type, "\(path): \(answer.status) \(answer.headers)")
                let policy = answer.headers["content-security-policy"] ?? ""
                #expect(policy.hasPrefix("default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'"), "\(path): \(policy)")
                #expect(answer.headers["x-content-type-options"] == "nosniff", "\(path)")
            }
            let page = try fetch(address, "/ui").body
            // No inline script or style and nothing from elsewhere: the policy would block it anyway.
            #expect(page.contains("<script src=\"/ui/app.js\"></script>") && page.contains("<link rel=\"stylesheet\" href=\"/ui/app.css\">"))
            #expect(!page.contains("<script>") && !page.contains("<style") && !page.contains("http://") && !page.contains("https://"))
            let script = try fetch(address, "/ui/app.js").body
            // The script writes what flows carry as text only.
            #expect(!script.contains("innerHTML") && !script.contains("insertAdjacentHTML") && !script.contains("document.write") && !script.contains("eval("))
            #expect(script.contains("/v1/flows?since=") && script.contains("&wait="), "it follows the flows by long poll")
        }
    }

    @Test func onlyGetWithoutQueryAndNothingElseUnderUI() async throws {
        try await withProxy(configure: { $0.adminAddress = "127.0.0.1:0" }) { fixture in
            let address = try #require(fixture.proxy.adminAddress).description
            let post = try fetch(address, "/ui", ["-X", "POST"])
            #expect(post.status == 405 && post.headers["allow"] == "GET", "\(post)")
            #expect(try fetch(address, "/ui?x=1").status == 400)
            let other = try fetch(address, "/ui/other.js")
            #expect(other.status == 404 && other.body.contains("the flow view is at /ui"), "\(other)")
        }
    }

    /// With the control API a browser's neighbour: a DNS-rebound Host is refused on loopback, and
    /// a web page's Origin may not change state; harnesses (no Origin, an IP or localhost) pass.
    @Test func aBrowserPageCannotRebindOrChangeTheProxy() async throws {
        try await withProxy(configure: { $0.adminAddress = "127.0.0.1:0" }) { fixture in
            let address = try #require(fixture.proxy.adminAddress)
            let rebound = try fetch(address.description, "/v1/ready", ["-H", "Host: attacker.example:\(address.port)"])
            #expect(rebound.status == 403 && rebound.body.contains("\"field\":\"Host\""), "\(rebound)")
            #expect(try fetch(address.description, "/ui", ["-H", "Host: localhost:\(address.port)"]).status == 200)
            #expect(try fetch(address.description, "/v1/health").status == 200)

            let forged = try fetch(address.description, "/v1/reset", ["-X", "POST", "-H", "Origin: http://attacker.example"])
            #expect(forged.status == 403 && forged.body.contains("\"field\":\"Origin\""), "\(forged)")
            #expect(try fetch(address.description, "/v1/reset", ["-X", "POST", "-H", "Origin: http://\(address)"]).status == 200)
            #expect(try fetch(address.description, "/v1/reset", ["-X", "POST"]).status == 200)
        }
    }

    /// A reader of an earlier proxy (a `since` past the newest) is answered at once, with `last`,
    /// rather than kept waiting: the flow view starts over from there.
    @Test func aSincePastTheNewestIsAnsweredAtOnceWithLast() async throws {
        try await withProxy(configure: { $0.adminAddress = "127.0.0.1:0" }) { fixture in
            let address = try #require(fixture.proxy.adminAddress).description
            let answer = try fetch(address, "/v1/flows?since=1000&wait=60", ["--max-time", "10"])
            #expect(answer.status == 200 && answer.body.contains("\"last\":0") && answer.body.contains("\"next\":1000"), "\(answer)")
        }
    }

    /// The flow view's "chain shown" comes from the TLS events: the certificates the client was
    /// shown, leaf first, by common name (zscaler sends leaf, issuing CA and intermediate, no root).
    @Test func theTLSEventsNameTheChainTheClientWasShown() async throws {
        try await withProxy { fixture in
            let trusted = try run("curl", ["-sS", "--max-time", "20", "--cacert", fixture.rootFile, "-x", fixture.proxyURL, "https://chain.example/"],
                                  environment: cleanEnvironment())
            #expect(trusted.status == 0, "\(trusted)")
            let rejected = try run("curl", ["-sS", "--max-time", "20", "-x", fixture.proxyURL, "https://rejected-chain.example/"], environment: cleanEnvironment())
            #expect(rejected.status == 60, "\(rejected)")
            // tls_failed is recorded when the proxy reads curl's alert, which can be after curl exits.
            _ = try fixture.waitForEvent { $0.type == .tlsFailed && $0.host == "rejected-chain.example" }
            let page = await fixture.proxy.flows(since: 0)
            let shown = page.events.map(\.event).filter { $0.type == .tlsEstablished || $0.type == .tlsFailed }
            let established = try #require(shown.first { $0.type == .tlsEstablished })
            let failed = try #require(shown.first { $0.type == .tlsFailed })
            for event in [established, failed] {
                let names = (event.chain ?? "").components(separatedBy: " < ")
                #expect(names.count == 3 && names[0] == event.sni && names.dropFirst().allSatisfy { $0.contains("Zscaler") } && !names.contains { $0.contains("Root CA (intercept-proxy test)") },
                        "\(String(describing: event.chain))")
            }
        }
    }
}

