/// Pointing a container engine at the proxy, the other half of a container user's problem (the
/// first is trust): where each engine reads its proxy settings, as lines for `snippet --client`.
enum ContainerProxySettings {
    /// The address `intercept-proxy run` listens on by default, as the engines are told it.
    static let proxy = "http://127.0.0.1:8080"
    /// The same proxy seen from a container on Docker's bridge network.
    static let proxyFromContainers = "http://host.docker.internal:8080"
    static let noProxy = "localhost,127.0.0.1"
    static let build = "--build-arg PROXY_CA_B64=\"$(intercept-proxy ca export --format base64)\""

    static let docker = [
        "# pulls: the daemon's proxy, a systemd drop-in",
        "sudo mkdir -p /etc/systemd/system/docker.service.d",
        "printf '[Service]\\nEnvironment=\"HTTP_PROXY=\(proxy)\" \"HTTPS_PROXY=\(proxy)\" \"NO_PROXY=\(noProxy)\"\\n' | sudo tee /etc/systemd/system/docker.service.d/http-proxy.conf",
        "sudo systemctl daemon-reload && sudo systemctl restart docker",
        "# builds and containers: the client's ~/.docker/config.json, which docker build and docker run pass on as HTTP(S)_PROXY",
        "#   {\"proxies\": {\"default\": {\"httpProxy\": \"\(proxyFromContainers)\", \"httpsProxy\": \"\(proxyFromContainers)\", \"noProxy\": \"\(noProxy)\"}}}",
        "# or for one build: docker build --add-host=host.docker.internal:host-gateway --build-arg HTTPS_PROXY=\(proxyFromContainers) \(build) .",
    ]

    static let podman = [
        "# pulls and RUN steps: export HTTPS_PROXY=\(proxy) (podman passes it on), or for good in /etc/containers/containers.conf:",
        "#   [engine]",
        "#   env = [\"HTTPS_PROXY=\(proxy)\", \"NO_PROXY=\(noProxy)\"]",
        "#   [containers]",
        "#   http_proxy = true",
        "# builds: podman build --network host \(build) .",
    ]

    static let buildah = [
        "export HTTPS_PROXY=\(proxy) https_proxy=\(proxy)   # pulls, and RUN steps (buildah passes them on)",
        "buildah bud --isolation chroot --network host \(build) -t IMAGE .",
        "# for good: /etc/containers/containers.conf [engine] env = [\"HTTPS_PROXY=\(proxy)\"] as for podman",
    ]
}
