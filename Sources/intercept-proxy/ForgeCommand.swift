import ArgumentParser
import CertForge
import FoundationEssentials

struct ForgeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "forge",
        abstract: "Print the certificate chain the proxy would present for a host, as PEM (leaf first).",
        discussion: "A one-line summary of each certificate goes to stderr. The CA is created on first use.")

    @OptionGroup var ca: CAOptions

    @Argument(help: "Host name (A-label form) or IP address.")
    var host: String

    @Option(help: ArgumentHelp("Apply a failure mode (see `intercept-proxy profiles`).", valueName: "mode"))
    var failure: String?

    @Option(name: .customLong("key-out"), help: ArgumentHelp("Also write the leaf's private key here (mode 0600).", valueName: "file"))
    var keyOut: String?

    @Option(name: .customLong("anchor-out"), help: ArgumentHelp(
        "Also write the certificate a client must trust for this chain (PEM).", valueName: "file"))
    var anchorOut: String?

    /// Both inputs parsed, or a usage error (exit 2) that says what is wrong with them.
    private func parsedInputs() throws -> (ServerName, FailureMode?) {
        do {
            return (try ServerName(host), try failure.map { try FailureMode(name: $0) })
        } catch let error as CertForgeError {
            throw ValidationError(error.description)
        }
    }

    func validate() throws {
        _ = try parsedInputs()
    }

    func run() throws {
        let (name, mode) = try parsedInputs()
        let forge = try LeafForge(authority: ca.loadAuthority(createIfMissing: true))
        let chain = try forge.forge(name, failure: mode)
        for (index, certificate) in chain.sentCertificates.enumerated() {
            Terminal.note("\(index) \(certificate.summary)")
        }
        print(chain.pem, terminator: "")
        if let keyOut { try chain.leafKey.writePEM(toFile: keyOut) }
        if let anchorOut {
            guard FileManager.default.createFile(atPath: anchorOut, contents: Data(chain.trustAnchor.pemString.utf8)) else {
                throw CertForgeError.fileSystem(path: anchorOut, detail: "cannot write the file")
            }
        }
    }
}

struct ProfilesCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "profiles", abstract: "List the chain profiles, failure modes and gateway quirks, one line each.")

    func run() throws {
        print("profiles (what a client without the root reports):")
        print(Terminal.table(ChainProfile.presets.map { profile in
            let marker = profile.name == ChainProfile.default.name ? " [default]" : ""
            return ("  \(profile.name)", "\(profile.summary); \(profile.keyAlgorithm)\(marker) -> \"\(profile.clientError)\"")
        }))
        print("\nfailure modes (--failure MODE):")
        print(Terminal.table(FailureMode.allCases.map { ("  \($0.rawValue)", $0.summary) }))
        print("\ngateway quirks (--quirk NAME[,NAME...] with ca init, run, forge): defects of the CA itself, met with the root trusted")
        print(Terminal.table(Quirk.allCases.map { ("  \($0.rawValue)", "\($0.place.rawValue): \($0.summary)") }))
        print("\nkey algorithms (--key-algorithm): \(KeyAlgorithm.named.map(\.name).joined(separator: ", "))")
    }
}
