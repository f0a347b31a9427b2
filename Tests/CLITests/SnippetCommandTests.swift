import Foundation
import Testing
import TestSupport

@Suite struct SnippetCommandTests {
    @Test func clientSnippetsNameTheCAFileAndAllCoversEveryClient() throws {
        let scratch = try TemporaryDirectory()
        let node = try CLI.run(["snippet", "--client", "node", "--ca-dir", scratch.path("ca")])
        #expect(node.status == 0)
        #expect(node.stdout.contains("export NODE_EXTRA_CA_CERTS=\(scratch.path("ca"))/zscaler/root-ca.pem"), "\(node)")
        let all = try CLI.run(["snippet", "--client", "all"])
        for client in ["pip", "requests", "uv", "node", "npm", "yarn", "java", "git", "cargo", "conda", "curl", "go", "docker", "dotnet", "ruby"] {
            #expect(all.stdout.contains("# \(client): reads"), "\(client)")
        }
        let both = try CLI.run(["snippet", "--client", "node", "--distro", "debian"])
        #expect(both.status == 2 && both.stderr.contains("exactly one of --distro or --client"))
    }

    @Test func explainNamesClientCauseAndFix() throws {
        let result = try CLI.run(["explain", "npm error code SELF_SIGNED_CERT_IN_CHAIN"])
        #expect(result.status == 0, "\(result)")
        #expect(result.stdout.contains("client    npm\n"), "\(result)")
        #expect(result.stdout.contains("shape S3"))
        #expect(result.stdout.contains("intercept-proxy snippet --client npm"))
        #expect(result.stdout.contains("NODE_EXTRA_CA_CERTS=<your-gateway-root.pem>"))
        let unknown = try CLI.run(["explain", "segmentation fault"])
        #expect(unknown.status == 1 && unknown.stderr.hasPrefix("intercept-proxy: error: no TLS certificate error found"), "\(unknown)")
    }
}
