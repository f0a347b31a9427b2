import Testing
import TrustStoreGuide

/// Each distro family's snippet against the reference table: anchor directory, extension, update command.
@Suite struct SnippetTests {
    static let reference: [(distro: String, anchor: String, update: String)] = [
        ("debian", "/usr/local/share/ca-certificates/intercept-proxy.crt", "update-ca-certificates"),
        ("ubuntu", "/usr/local/share/ca-certificates/intercept-proxy.crt", "update-ca-certificates"),
        ("alpine", "/usr/local/share/ca-certificates/intercept-proxy.crt", "update-ca-certificates"),
        ("rhel", "/etc/pki/ca-trust/source/anchors/intercept-proxy.pem", "update-ca-trust extract"),
        ("fedora", "/etc/pki/ca-trust/source/anchors/intercept-proxy.pem", "update-ca-trust extract"),
        ("centos", "/etc/pki/ca-trust/source/anchors/intercept-proxy.pem", "update-ca-trust extract"),
        ("ubi", "/etc/pki/ca-trust/source/anchors/intercept-proxy.pem", "update-ca-trust extract"),
        ("amazonlinux", "/etc/pki/ca-trust/source/anchors/intercept-proxy.pem", "update-ca-trust extract"),
        ("suse", "/etc/pki/trust/anchors/intercept-proxy.pem", "update-ca-certificates"),
        ("arch", "/etc/ca-certificates/trust-source/anchors/intercept-proxy.crt", "update-ca-trust"),
    ]

    @Test(arguments: reference)
    func distroSnippetUsesTheRightStore(distro: String, anchor: String, update: String) throws {
        for format in DistroSnippet.Format.allCases {
            let text = try #require(DistroSnippet.render(distro: distro, format: format))
            #expect(text.contains("base64 -d > \(anchor)"), "\(distro) \(format): \(text)")
            let lines = text.split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) }
            #expect(lines.contains { $0.hasPrefix(update) }, "\(distro) \(format) runs \(update)")
            #expect(text.contains("before the first package-manager call"))
        }
        let dockerfile = DistroSnippet.render(distro: distro, format: .dockerfile)!
        #expect(dockerfile.contains("ARG PROXY_CA_B64=\"\""))
        #expect(dockerfile.contains("if [ -n \"$PROXY_CA_B64\" ]"), "gated on a non-empty argument")
        #expect(DistroSnippet.render(distro: distro, format: .shell)!.contains("if [ -n \"${PROXY_CA_B64:-}\" ]"))
    }

    @Test func debianSnippetNeverUsesThePemExtensionDebianIgnores() {
        let text = DistroSnippet.render(distro: "debian", format: .dockerfile)!
        #expect(!text.contains("intercept-proxy.pem"))
        #expect(text.contains("ignores .pem"))
    }

    @Test func distrolessIsAMultiStageRecipe() throws {
        let text = try #require(DistroSnippet.render(distro: "distroless", format: .dockerfile))
        #expect(text.contains("AS proxy-ca"))
        #expect(text.contains("COPY --from=proxy-ca /etc/ssl/certs/ca-certificates.crt /etc/ssl/certs/ca-certificates.crt"))
        #expect(DistroSnippet.render(distro: "gentoo", format: .shell) == nil)
    }

    static let clientFacts: [(client: String, mustContain: [String])] = [
        ("pip", ["PIP_CERT=/ca.pem"]),
        ("requests", ["REQUESTS_CA_BUNDLE=/ca.pem", "ignores SSL_CERT_FILE"]),
        ("uv", ["SSL_CERT_FILE=/ca.pem", "--system-certs", "ignores REQUESTS_CA_BUNDLE"]),
        ("node", ["NODE_EXTRA_CA_CERTS=/ca.pem", "read once at start"]),
        ("npm", ["npm_config_cafile=/ca.pem", "npm config set cafile /ca.pem", "replaces the whole list", "NODE_EXTRA_CA_CERTS is ignored"]),
        ("yarn", ["NODE_EXTRA_CA_CERTS=/ca.pem"]),
        ("java", ["keytool -importcert -noprompt -alias intercept-proxy -file /ca.pem", "ignores SSL_CERT_FILE"]),
        ("git", ["GIT_SSL_CAINFO=/ca.pem", "http.sslCAInfo"]),
        ("cargo", ["CARGO_HTTP_CAINFO=/ca.pem", "ignores CURL_CA_BUNDLE"]),
        ("conda", ["ssl_verify /ca.pem"]),
        ("curl", ["--cacert /ca.pem"]),
        ("go", ["SSL_CERT_FILE=/ca.pem"]),
        ("docker", ["/etc/docker/certs.d/", "restart"]),
        ("dotnet", ["SSL_CERT_FILE=/ca.pem"]),
        ("ruby", ["SSL_CERT_FILE=/ca.pem", "BUNDLE_SSL_CA_CERT"]),
    ]

    @Test(arguments: clientFacts)
    func clientSnippetCarriesTheFixAndTheGotchas(client: String, mustContain: [String]) throws {
        let text = try #require(ClientSnippet.named(client)).render(caFile: "/ca.pem")
        for fact in mustContain { #expect(text.contains(fact), "\(client): \(fact)\n\(text)") }
        #expect(!text.contains("{CA}"))
    }
}
