import ArgumentParser
import CertForge
import Foundation
import TrustStoreGuide

struct SnippetCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "snippet",
        abstract: "Print the block that makes an image or a client trust the proxy's CA.",
        discussion: """
        --distro prints a Dockerfile (or shell) block gated on the PROXY_CA_B64 build argument:
          docker build --build-arg PROXY_CA_B64="$(intercept-proxy ca export --format base64)" .
        --client prints the environment variables or commands for a runtime, with its gotchas.
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

    func validate() throws {
        guard (distro == nil) != (client == nil) else { throw ValidationError("pass exactly one of --distro or --client") }
        if let distro, !DistroFamily.allNames.contains(distro.lowercased()) {
            throw ValidationError("unknown distro '\(distro)'; choose one of: \(DistroFamily.allNames.joined(separator: ", "))")
        }
        if DistroSnippet.Format(rawValue: format) == nil { throw ValidationError("--format is dockerfile or shell") }
        if let client, client != "all", ClientSnippet.named(client) == nil {
            throw ValidationError("unknown client '\(client)'; choose one of: \(ClientSnippet.names.joined(separator: ", ")), all")
        }
    }

    func run() throws {
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
