/// Where a distribution family keeps extra trust anchors and how it rebuilds its bundle.
public struct DistroFamily: Sendable, Equatable {
    public let names: [String]
    public let anchorDirectory: String
    /// The file name the CA gets; Debian's tool only reads `.crt`.
    public let fileName: String
    public let updateCommand: String
    /// The bundle the update writes, which most clients read.
    public let bundle: String
    /// Installs the update tool when a slim image lacks it (empty when it is always there).
    public let installTool: String
    public let pitfall: String

    public var anchorPath: String { "\(anchorDirectory)/\(fileName)" }

    public static let debian = DistroFamily(
        names: ["debian", "ubuntu"], anchorDirectory: "/usr/local/share/ca-certificates", fileName: "intercept-proxy.crt",
        updateCommand: "update-ca-certificates", bundle: "/etc/ssl/certs/ca-certificates.crt",
        installTool: "apt-get update && apt-get install -y --no-install-recommends ca-certificates",
        pitfall: "the file must end in .crt: update-ca-certificates ignores .pem")
    public static let alpine = DistroFamily(
        names: ["alpine"], anchorDirectory: "/usr/local/share/ca-certificates", fileName: "intercept-proxy.crt",
        updateCommand: "update-ca-certificates", bundle: "/etc/ssl/certs/ca-certificates.crt",
        installTool: "apk add --no-cache ca-certificates",
        pitfall: "base images ship only ca-certificates-bundle (no update tool); a CA appended to the bundle by hand is lost at the next update")
    public static let rhel = DistroFamily(
        names: ["rhel", "fedora", "centos", "ubi", "amazonlinux"], anchorDirectory: "/etc/pki/ca-trust/source/anchors",
        fileName: "intercept-proxy.pem", updateCommand: "update-ca-trust extract",
        bundle: "/etc/pki/ca-trust/extracted/pem/tls-ca-bundle.pem", installTool: "",
        pitfall: "the Debian path (/usr/local/share/ca-certificates) is silently ignored here: the classic 'fixed it, same error'")
    public static let suse = DistroFamily(
        names: ["suse", "opensuse"], anchorDirectory: "/etc/pki/trust/anchors", fileName: "intercept-proxy.pem",
        updateCommand: "update-ca-certificates", bundle: "/var/lib/ca-certificates/ca-bundle.pem", installTool: "",
        pitfall: "SUSE's update-ca-certificates is p11-kit based and reads /etc/pki/trust/anchors, not Debian's directory")
    public static let arch = DistroFamily(
        names: ["arch"], anchorDirectory: "/etc/ca-certificates/trust-source/anchors", fileName: "intercept-proxy.crt",
        updateCommand: "update-ca-trust", bundle: "/etc/ca-certificates/extracted/tls-ca-bundle.pem", installTool: "",
        pitfall: "trust anchor --store FILE does the same in one step")

    public static let all: [DistroFamily] = [.debian, .alpine, .rhel, .suse, .arch]

    /// Every accepted `--distro` name, distroless included.
    public static var allNames: [String] { all.flatMap(\.names) + ["distroless"] }

    public static func named(_ name: String) -> DistroFamily? {
        all.first { $0.names.contains(name.lowercased()) }
    }
}

/// Snippets that install the proxy's CA into an image, gated on a base64 build argument so that
/// builds without the proxy stay untouched.
public enum DistroSnippet {
    public enum Format: String, CaseIterable, Sendable {
        case dockerfile
        case shell
    }

    /// The build argument (and environment variable for the shell form) holding the base64 PEM.
    public static let argument = "PROXY_CA_B64"

    public static func render(distro: String, format: Format) -> String? {
        if distro.lowercased() == "distroless" { return distroless(format) }
        guard let family = DistroFamily.named(distro) else { return nil }
        let header = """
            # intercept-proxy: trust the root CA passed in \(argument), this proxy's or your gateway's (\(family.names.joined(separator: "/"))).
            # Keep this block before the first package-manager call (apt/apk/dnf/pip/npm ...): those fail without it.
            # With \(argument) empty nothing happens, so images built without the proxy stay clean.
            # Pitfall: \(family.pitfall).
            """
        var steps = [
            "mkdir -p \(family.anchorDirectory)",
            "printf '%s' \"$\(argument)\" | base64 -d > \(family.anchorPath)",
        ]
        if family == .alpine {
            // apk itself needs the CA to reach https mirrors before it can install the update tool.
            steps.append("cat \(family.anchorPath) >> \(family.bundle)")
        }
        if !family.installTool.isEmpty {
            steps.append("command -v \(family.updateCommand.split(separator: " ")[0]) >/dev/null 2>&1 || (\(family.installTool))")
        }
        steps.append(family.updateCommand)
        switch format {
        case .shell:
            let body = steps.map { "  \($0)" }.joined(separator: "\n")
            return "\(header)\nif [ -n \"${\(argument):-}\" ]; then\n  set -e\n\(body)\nfi\n"
        case .dockerfile:
            let body = steps.map { "      \($0)" }.joined(separator: " && \\\n")
            return "\(header)\nARG \(argument)=\"\"\nRUN if [ -n \"$\(argument)\" ]; then \\\n\(body); \\\n    fi\n"
        }
    }

    /// Distroless and scratch images have no shell and no update tool: build the bundle in a
    /// Debian stage and copy it over.
    private static func distroless(_ format: Format) -> String {
        let recipe = """
            # intercept-proxy: distroless/scratch images have no shell and no update tool, so build the
            # bundle in a Debian stage and copy it in (or point SSL_CERT_FILE at a bundle you mount).
            FROM debian:bookworm-slim AS proxy-ca
            ARG \(argument)=""
            RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates && \\
                if [ -n "$\(argument)" ]; then \\
                  printf '%s' "$\(argument)" | base64 -d > \(DistroFamily.debian.anchorPath) && update-ca-certificates; \\
                fi

            FROM gcr.io/distroless/static-debian12
            COPY --from=proxy-ca \(DistroFamily.debian.bundle) \(DistroFamily.debian.bundle)
            """
        switch format {
        case .dockerfile: return recipe + "\n"
        case .shell: return "# distroless has no shell: use the multi-stage Dockerfile recipe\n" + recipe + "\n"
        }
    }
}
