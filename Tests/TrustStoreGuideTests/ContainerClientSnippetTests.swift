import Testing
import TrustStoreGuide

/// The engines' snippets, by content where no daemon runs here: where each reads its registry CAs,
/// and how each is pointed at the proxy (daemon drop-in, config.json proxies, build arguments,
/// containers.conf). The podman line itself is applied for real in ContainerBuildTests.
@Suite struct ContainerClientSnippetTests {
    static let facts: [(client: String, mustContain: [String])] = [
        ("docker", [
            "sudo mkdir -p /etc/docker/certs.d/REGISTRY:443 && sudo cp /ca.pem /etc/docker/certs.d/REGISTRY:443/ca.crt",
            "sudo mkdir -p /etc/systemd/system/docker.service.d",
            #"printf '[Service]\nEnvironment="HTTP_PROXY=http://127.0.0.1:8080" "HTTPS_PROXY=http://127.0.0.1:8080" "NO_PROXY=localhost,127.0.0.1"\n' | sudo tee /etc/systemd/system/docker.service.d/http-proxy.conf"#,
            "sudo systemctl daemon-reload && sudo systemctl restart docker",
            #"{"proxies": {"default": {"httpProxy": "http://host.docker.internal:8080", "httpsProxy": "http://host.docker.internal:8080", "noProxy": "localhost,127.0.0.1"}}}"#,
            #"docker build --add-host=host.docker.internal:host-gateway --build-arg HTTPS_PROXY=http://host.docker.internal:8080 --build-arg PROXY_CA_B64="$(intercept-proxy ca export --format base64)" ."#,
            "--listen-host 0.0.0.0",
        ]),
        ("podman", [
            "sudo mkdir -p /etc/containers/certs.d/REGISTRY && sudo cp /ca.pem /etc/containers/certs.d/REGISTRY/ca.crt",
            "~/.config/containers/certs.d/REGISTRY/ca.crt", "--src-cert-dir DIR", "--cert-dir DIR",
            "#   [engine]\n#   env = [\"HTTPS_PROXY=http://127.0.0.1:8080\", \"NO_PROXY=localhost,127.0.0.1\"]",
            "#   [containers]\n#   http_proxy = true",
            "podman build --network host --build-arg PROXY_CA_B64=",
            "RUN steps need the CA inside the image (intercept-proxy snippet --dockerfile Dockerfile)",
        ]),
        ("buildah", [
            "sudo mkdir -p /etc/containers/certs.d/REGISTRY && sudo cp /ca.pem /etc/containers/certs.d/REGISTRY/ca.crt",
            "export HTTPS_PROXY=http://127.0.0.1:8080 https_proxy=http://127.0.0.1:8080",
            #"buildah bud --isolation chroot --network host --build-arg PROXY_CA_B64="$(intercept-proxy ca export --format base64)" -t IMAGE ."#,
            "only with --network host",
        ]),
    ]

    @Test(arguments: facts)
    func engineSnippetSaysWhereTrustAndProxyGo(client: String, mustContain: [String]) throws {
        let text = try #require(ClientSnippet.named(client)).render(caFile: "/ca.pem")
        for fact in mustContain { #expect(text.contains(fact), "\(client): \(fact)\n\(text)") }
        #expect(ClientSnippet.names.contains(client))
    }
}
