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

    static let bundle = "\"$HOME/.local/share/gateway-ca/ca-bundle.pem\""
    static let fromOS = "for base in /etc/ssl/certs/ca-certificates.crt /etc/pki/tls/certs/ca-bundle.crt /etc/ssl/cert.pem; do [ -s \"$base\" ] && break; done && [ -s \"$base\" ] && cat \"$base\" /ca.pem > \(bundle)"
    static let fromCertifi = "base=\"$(python3 -m certifi)\" && [ -s \"$base\" ] && cat \"$base\" /ca.pem > \(bundle)"

    static let clientFacts: [(client: String, mustContain: [String])] = [
        ("pip", [fromOS, "PIP_CERT=\(bundle)", "replaces the client's roots", "pip >= 24.2"]),
        ("requests", [fromCertifi, "REQUESTS_CA_BUNDLE=\(bundle)", "ignores SSL_CERT_FILE"]),
        ("httpx", [fromCertifi, "SSL_CERT_FILE=\(bundle)", "ignores REQUESTS_CA_BUNDLE"]),
        ("python", [fromOS, "SSL_CERT_FILE=\(bundle)", "ctx.load_verify_locations(\"/ca.pem\")", "hashed directory"]),
        ("uv", [fromOS, "SSL_CERT_FILE=\(bundle)", "UV_SYSTEM_CERTS=1", "--system-certs", "ignores REQUESTS_CA_BUNDLE"]),
        ("node", ["NODE_EXTRA_CA_CERTS=/ca.pem", "read once at start"]),
        ("npm", ["NODE_EXTRA_CA_CERTS=/ca.pem", "npm config set cafile \(bundle)", "replaces the client's roots", "npm config delete cafile"]),
        ("yarn", ["NODE_EXTRA_CA_CERTS=/ca.pem"]),
        ("bun", ["NODE_EXTRA_CA_CERTS=/ca.pem"]),
        ("deno", ["DENO_CERT=/ca.pem"]),
        ("java", ["keytool -importcert -noprompt -alias intercept-proxy -file /ca.pem -cacerts", "cp \"$JAVA_HOME/lib/security/cacerts\"", "ignores SSL_CERT_FILE"]),
        ("git", [fromOS, "http.sslCAInfo \(bundle)", "GIT_SSL_CAINFO=\(bundle)"]),
        ("cargo", [fromOS, "CARGO_HTTP_CAINFO=\(bundle)", "ignores CURL_CA_BUNDLE"]),
        ("conda", [fromCertifi, "ssl_verify \(bundle)", "truststore"]),
        ("poetry", [fromCertifi, "REQUESTS_CA_BUNDLE=\(bundle)"]),
        ("curl", [fromOS, "CURL_CA_BUNDLE=\(bundle)", "--cacert \(bundle)", "CApath"]),
        ("wget", ["--ca-certificate=/ca.pem"]),
        ("openssl", ["-CAfile \(bundle)"]),
        ("go", [fromOS, "SSL_CERT_FILE=\(bundle)"]),
        ("aws", ["AWS_CA_BUNDLE=\(bundle)"]),
        ("docker", ["/etc/docker/certs.d/", "restart"]),
        ("dotnet", ["SSL_CERT_FILE=\(bundle)"]),
        ("ruby", ["SSL_CERT_FILE=\(bundle)", "BUNDLE_SSL_CA_CERT=\(bundle)"]),
    ]

    @Test(arguments: clientFacts)
    func clientSnippetCarriesTheFixAndTheGotchas(client: String, mustContain: [String]) throws {
        let text = try #require(ClientSnippet.named(client)).render(caFile: "/ca.pem")
        for fact in mustContain { #expect(text.contains(fact), "\(client): \(fact)\n\(text)") }
        #expect(!text.contains("{CA}") && !text.contains("{COMBINED}"))
    }
}
