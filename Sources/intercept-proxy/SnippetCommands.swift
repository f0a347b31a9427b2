import ArgumentParser
import CertForge
import FoundationEssentials
import TrustStoreGuide

struct SnippetCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "snippet",
        abstract: "Print the block that makes an image or a client trust the proxy's CA.",
        discussion: """
        --distro prints a Dockerfile (or shell) block gated on the PROXY_CA_B64 build argument:
          docker build --build-arg PROXY_CA_B64="$(intercept-proxy ca export --format base64)" .
        --client prints the environment variables or commands for a runtime, with its gotchas.
        --dockerfile PATH fits your Dockerfile with that block (a unified diff; --write applies it).
        """)

    @OptionGroup var ca: CAOptions

    /// --ca-file: a gateway's root instead of this project's CA.
    @OptionGroup var gatewayCA: GatewayCAFile

    @Option(help: ArgumentHelp("debian, ubuntu, alpine, rhel, fedora, centos, amazonlinux, ubi, suse, arch or distroless.", valueName: "name"))
    var distro: String?

    @Option(help: ArgumentHelp("dockerfile or shell (with --distro).", valueName: "format"))
    var format: String = "dockerfile"

    @Option(help: ArgumentHelp("\(ClientSnippet.names.joined(separator: ", ")) or all.", valueName: "name"))
    var client: String?

    @Option(help: ArgumentHelp("Insert the block after FROM in each stage of this Dockerfile that runs commands (--distro overrides the family read from the base image).", valueName: "path"))
    var dockerfile: String?

    @Flag(help: "With --dockerfile: write the change instead of printing a diff.")
    var write = false

    func validate() throws {
        if dockerfile != nil {
            guard client == nil else { throw ValidationError("--dockerfile and --client do not go together") }
        } else {
            guard !write else { throw ValidationError("--write goes with --dockerfile") }
            guard (distro == nil) != (client == nil) else { throw ValidationError("pass exactly one of --distro or --client (or --dockerfile PATH, with --distro to override the family)") }
        }
        if let distro, !DistroFamily.allNames.contains(distro.lowercased()) {
            throw ValidationError("unknown distro '\(distro)'; choose one of: \(DistroFamily.allNames.joined(separator: ", "))")
        }
        if DistroSnippet.Format(rawValue: format) == nil { throw ValidationError("--format is dockerfile or shell") }
        if let client, client != "all", ClientSnippet.named(client) == nil {
            throw ValidationError("unknown client '\(client)'; choose one of: \(ClientSnippet.names.joined(separator: ", ")), all")
        }
    }

    func run() throws {
        if let dockerfile {
            try DockerfileSnippet(path: dockerfile, distro: distro, write: write).run()
            return
        }
        if let distro {
            print(DistroSnippet.render(distro: distro, format: DistroSnippet.Format(rawValue: format)!)!, terminator: "")
            return
        }
        let caFile = try gatewayCA.load()?.path
            ?? (ca.isBringYourOwn ? ca.caCertificate! : ca.directory.rootCertificateURL(for: try ca.resolvedProfile()).path)
        let chosen = client == "all" ? ClientSnippet.all : [ClientSnippet.named(client!)!]
        print(chosen.map { $0.render(caFile: caFile) }.joined(separator: "\n"), terminator: "")
    }
}
