import ArgumentParser
import CertForge
import FoundationEssentials

/// Where the CA comes from: a generated hierarchy in a directory, or the user's own root.
struct CAOptions: ParsableArguments {
    @Option(name: .customLong("ca-dir"), help: ArgumentHelp(
        "Directory of generated CA material (env INTERCEPT_PROXY_CA_DIR).", valueName: "dir"))
    var caDirectory: String?

    @Option(help: ArgumentHelp(
        "Chain profile: zscaler, netskope, fortinet, plain (env INTERCEPT_PROXY_PROFILE; default zscaler).", valueName: "name"))
    var profile: String?

    @Option(help: ArgumentHelp(
        "Key algorithm for the whole hierarchy and the leaves: rsa2048, rsa3072, rsa4096, p256, p384.", valueName: "alg"))
    var keyAlgorithm: String?

    @Option(name: .customLong("quirk"), help: ArgumentHelp(
        "Give the CAs and leaves a real gateway's defect (repeatable, comma-separated; `intercept-proxy profiles` lists them). The quirky CA lives beside the textbook one, e.g. certs/zscaler+leaf-no-aki.",
        valueName: "name"))
    var quirks: [String] = []

    @Option(name: .customLong("ca-cert"), help: ArgumentHelp("Use your own root CA certificate (PEM) instead of a generated one.", valueName: "file"))
    var caCertificate: String?

    @Option(name: .customLong("ca-key"), help: ArgumentHelp("Private key (PEM) of --ca-cert.", valueName: "file"))
    var caKey: String?

    @Option(name: .customLong("ca-key-passphrase"), help: ArgumentHelp(
        "Passphrase of an encrypted --ca-key (env INTERCEPT_PROXY_CA_KEY_PASSPHRASE).", valueName: "text"))
    var caKeyPassphrase: String?

    func validate() throws {
        if (caCertificate == nil) != (caKey == nil) {
            throw ValidationError("--ca-cert and --ca-key go together")
        }
    }

    private static func environment(_ name: String) -> String? {
        ProcessInfo.processInfo.environment[name].flatMap { $0.isEmpty ? nil : $0 }
    }

    var directory: CADirectory {
        CADirectory(path: caDirectory ?? Self.environment(CADirectory.environmentVariable) ?? CADirectory.defaultPath)
    }

    /// The selected profile with the selected key algorithm applied.
    func resolvedProfile() throws -> ChainProfile {
        do {
            var chosen = try ChainProfile.preset(named: profile ?? Self.environment("INTERCEPT_PROXY_PROFILE") ?? ChainProfile.default.name)
            if let keyAlgorithm { chosen = chosen.with(keyAlgorithm: try KeyAlgorithm(name: keyAlgorithm)) }
            if !quirks.isEmpty { chosen = try chosen.with(quirks: quirks.flatMap { try Quirk.parse($0) }) }
            return chosen
        } catch let error as CertForgeError {
            throw ValidationError(error.description)  // an unknown name is a usage error
        }
    }

    var isBringYourOwn: Bool { caCertificate != nil }

    /// The public stand-in PKI of the CA directory, created on first use: it has no options to choose.
    func loadPublicStandIn() throws -> CertificateAuthority {
        let (authority, created) = try directory.loadOrCreate(.publicStandIn)
        if created { Terminal.note("created the public stand-in root in \(directory.folder(for: .publicStandIn).path)") }
        return authority
    }

    /// Loads the CA; a generated one is created on first use when `create` is set.
    func loadAuthority(createIfMissing create: Bool) throws -> CertificateAuthority {
        let profile = try resolvedProfile()
        if let caCertificate, let caKey {
            let passphrase = caKeyPassphrase ?? Self.environment("INTERCEPT_PROXY_CA_KEY_PASSPHRASE")
            return try CertificateAuthority.bringYourOwn(
                certificateFile: caCertificate, keyFile: caKey, passphrase: passphrase, profile: profile)
        }
        let directory = directory
        if create {
            let (authority, created) = try directory.loadOrCreate(profile)
            if created { Terminal.note("created CA for profile \(profile.storageName) in \(directory.folder(for: profile).path)") }
            return authority
        }
        return try directory.load(profile)
    }
}
