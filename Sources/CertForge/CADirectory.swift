import FoundationEssentials

/// Where generated CA material lives: one sub-folder per profile, keys 0600, folders 0700,
/// and the root exported in every format clients need.
///
///     certs/zscaler/root-ca.pem  root-ca.crt  root-ca.cer  root-ca.pem.b64  root-ca.p12  <hash>.0
///                   root-ca.key  intermediate-ca.{pem,key}  issuing-ca.{pem,key}  leaf.key
public struct CADirectory: Sendable {
    public let url: URL

    /// The default directory, relative to the working directory.
    public static let defaultPath = "certs"
    /// The environment variable that overrides the default.
    public static let environmentVariable = "INTERCEPT_PROXY_CA_DIR"

    public init(path: String) {
        url = URL(fileURLWithPath: path, isDirectory: true).standardizedFileURL
    }

    /// The folder holding one profile's hierarchy.
    public func folder(for profile: ChainProfile) -> URL {
        url.appendingPathComponent(profile.storageName, isDirectory: true)
    }

    /// File stems of the CAs in a hierarchy of this depth, root first.
    static func roles(depth: Int) -> [String] {
        switch depth {
        case 1: return ["root-ca"]
        case 2: return ["root-ca", "issuing-ca"]
        default: return ["root-ca", "intermediate-ca", "issuing-ca"]
        }
    }

    /// The root certificate's PEM file: what clients must trust.
    public func rootCertificateURL(for profile: ChainProfile) -> URL {
        folder(for: profile).appendingPathComponent("root-ca.pem")
    }

    /// Where `ca init` puts an export of the root in `format`.
    public func exportURL(_ format: TrustAnchorFormat, for profile: ChainProfile, root: Certificate) -> URL {
        folder(for: profile).appendingPathComponent(format.fileName(for: root, base: "root-ca"))
    }

    /// Whether the profile's root exists in this directory.
    public func contains(_ profile: ChainProfile) -> Bool {
        FileManager.default.fileExists(atPath: rootCertificateURL(for: profile).path)
    }

    /// Generates the profile's hierarchy and writes it with every export. Refuses to overwrite without `force`.
    @discardableResult
    public func create(_ profile: ChainProfile, force: Bool = false, nameConstraints: NameConstraints? = nil) throws -> CertificateAuthority {
        if contains(profile) && !force {
            throw CertForgeError.authorityExists(directory: folder(for: profile).path)
        }
        let authority = try CertificateAuthority.generate(profile: profile, nameConstraints: nameConstraints)
        try SecureFile.makeDirectory(url)
        let folder = folder(for: profile)
        try SecureFile.makeDirectory(folder)
        let identities = [authority.root] + authority.intermediates
        // Root last, so that a half-finished run is never mistaken for a complete CA.
        for (role, identity) in zip(Self.roles(depth: profile.depth), identities).reversed() {
            try SecureFile.write(identity.key.pemString, to: folder.appendingPathComponent("\(role).key"), mode: 0o600)
            try SecureFile.write(identity.certificate.pemString, to: folder.appendingPathComponent("\(role).pem"), mode: 0o644)
        }
        try writeExports(of: authority.rootCertificate, for: profile)
        return authority
    }

    /// Writes every trust-anchor format except the PEM the hierarchy itself is stored as.
    func writeExports(of root: Certificate, for profile: ChainProfile) throws {
        for format in TrustAnchorFormat.allCases where format != .pem {
            let bytes = try format.encode(root, friendlyName: root.subject.commonName ?? profile.name)
            try SecureFile.write(bytes, to: exportURL(format, for: profile, root: root), mode: 0o644)
        }
    }

    /// Loads the profile's hierarchy, checking every file and link.
    public func load(_ profile: ChainProfile, now: Date = Date()) throws -> CertificateAuthority {
        let folder = folder(for: profile)
        var identities: [SigningIdentity] = []
        for role in Self.roles(depth: profile.depth) {
            let certificateURL = folder.appendingPathComponent("\(role).pem")
            let keyURL = folder.appendingPathComponent("\(role).key")
            for file in [certificateURL, keyURL] where !FileManager.default.fileExists(atPath: file.path) {
                throw CertForgeError.authorityMissing(directory: folder.path, file: file.lastPathComponent)
            }
            identities.append(try CertificateAuthority.loadIdentity(
                certificateFile: certificateURL.path, keyFile: keyURL.path, passphrase: nil, now: now,
                checkingCAness: !(role == "root-ca" && profile.rootMayLackCAMarks)))
        }
        guard identities[0].certificate.isSigned(by: identities[0].certificate) else {
            throw CertForgeError.inconsistentAuthority(directory: folder.path, detail: "root-ca.pem is not self-signed")
        }
        return try CertificateAuthority(
            profile: profile, root: identities[0], intermediates: Array(identities.dropFirst()), source: folder.path, now: now)
    }

    /// The key every leaf forged under this profile's CA shares (`LeafKeyPolicy.shared`), kept
    /// beside the CA (`leaf.key`, 0600) so that a proxy start costs no key generation once the CA
    /// exists. Made on first use, or again when the profile's key algorithm changed. When the
    /// folder cannot be written, the key made is still returned (and made again next time).
    public func leafKey(for profile: ChainProfile) throws -> PrivateKey {
        let file = folder(for: profile).appendingPathComponent("leaf.key")
        if FileManager.default.fileExists(atPath: file.path) {
            let key = try PrivateKey(pem: SecureFile.read(file), source: file.path)
            if key.algorithm == profile.keyAlgorithm { return key }
        }
        let key = try PrivateKey.generate(profile.keyAlgorithm)
        try? SecureFile.write(key.pemString, to: file, mode: 0o600)
        return key
    }

    /// Loads the profile's hierarchy, generating it first when it does not exist yet.
    public func loadOrCreate(_ profile: ChainProfile) throws -> (authority: CertificateAuthority, created: Bool) {
        if contains(profile) { return (try load(profile), false) }
        return (try create(profile), true)
    }
}

extension CertificateAuthority {
    /// Loads a CA certificate and its key from PEM files and checks they make a usable signing CA.
    public static func loadIdentity(certificateFile: String, keyFile: String, passphrase: String?,
                                    now: Date = Date(), checkingCAness: Bool = true) throws -> SigningIdentity {
        let certificate = try Certificate.parsePEM(SecureFile.read(URL(fileURLWithPath: certificateFile)), source: certificateFile)[0]
        let key = try PrivateKey(pem: SecureFile.read(URL(fileURLWithPath: keyFile)), passphrase: passphrase, source: keyFile)
        guard key.matches(certificate) else {
            throw CertForgeError.keyDoesNotMatchCertificate(certificate: certificateFile, key: keyFile)
        }
        let identity = SigningIdentity(certificate: certificate, key: key)
        try validate(identity, source: certificateFile, now: now, checkingCAness: checkingCAness)
        return identity
    }

    /// Loads a user's own root (cert + key PEM files) and builds the profile's hierarchy under it.
    public static func bringYourOwn(certificateFile: String, keyFile: String, passphrase: String?,
                                    profile: ChainProfile, now: Date = Date()) throws -> CertificateAuthority {
        let root = try loadIdentity(certificateFile: certificateFile, keyFile: keyFile, passphrase: passphrase, now: now)
        return try bringYourOwn(root: root, profile: profile, source: certificateFile, now: now)
    }
}
