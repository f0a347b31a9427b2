import FoundationEssentials

/// A certificate together with the private key that signs under it.
public struct SigningIdentity: Sendable {
    public let certificate: Certificate
    public let key: PrivateKey

    public init(certificate: Certificate, key: PrivateKey) {
        self.certificate = certificate
        self.key = key
    }

    var signer: Signer { .issuer(certificate, key) }
}

/// A CA hierarchy shaped by a chain profile: a root and 0 to 2 intermediates, the last of which issues leaves.
public final class CertificateAuthority: Sendable {
    public let profile: ChainProfile
    public let root: SigningIdentity
    /// Root-most first; the last one is the issuing CA. Empty when the root signs leaves itself.
    public let intermediates: [SigningIdentity]

    /// The CA that signs leaves.
    public var issuing: SigningIdentity { intermediates.last ?? root }

    /// The certificate clients must trust.
    public var rootCertificate: Certificate { root.certificate }

    /// Builds a hierarchy from existing material after checking every link.
    /// - Parameter source: names the material in error messages (a directory or file path).
    public init(profile: ChainProfile, root: SigningIdentity, intermediates: [SigningIdentity],
                source: String, now: Date = Date()) throws {
        var parent = root
        try Self.validate(root, source: source, now: now, checkingCAness: !profile.rootMayLackCAMarks)
        for intermediate in intermediates {
            try Self.validate(intermediate, source: source, now: now)
            guard intermediate.certificate.isSigned(by: parent.certificate) else {
                throw CertForgeError.inconsistentAuthority(
                    directory: source,
                    detail: "'\(intermediate.certificate.subject)' is not signed by '\(parent.certificate.subject)'")
            }
            parent = intermediate
        }
        self.profile = profile
        self.root = root
        self.intermediates = intermediates
    }

    /// Generates a new hierarchy for the profile: fresh keys, one per CA. With `nameConstraints`,
    /// the root and every intermediate carry them: some clients ignore constraints on a trust
    /// anchor, but all that implement them enforce them on intermediates.
    public static func generate(profile: ChainProfile, nameConstraints: NameConstraints? = nil, now: Date = Date()) throws -> CertificateAuthority {
        let rootSpec = profile.authorities[0]
        let rootKey = try PrivateKey.generate(profile.keyAlgorithm)
        var rootBuilder = caBuilder(rootSpec, pathLength: nil, isRoot: true, now: now)
        if let nameConstraints { rootBuilder.extensions.append(.nameConstraints(nameConstraints)) }
        rootBuilder.apply(profile.quirks, role: .root(depth: profile.depth))
        let rootCertificate = try rootBuilder.sign(publicKey: rootKey, signer: .selfSigned(rootKey))
        let root = SigningIdentity(certificate: rootCertificate, key: rootKey)
        let intermediates = try makeIntermediates(profile: profile, under: root, nameConstraints: nameConstraints, now: now)
        return try CertificateAuthority(profile: profile, root: root, intermediates: intermediates, source: "generated CA", now: now)
    }

    /// Uses a root the user brings (e.g. made with `openssl req -x509`); the profile's intermediates
    /// below it are generated in memory, so clients only ever need the user's root.
    public static func bringYourOwn(root: SigningIdentity, profile: ChainProfile, source: String,
                                    now: Date = Date()) throws -> CertificateAuthority {
        try validate(root, source: source, now: now)
        let intermediates = try makeIntermediates(profile: profile, under: root, now: now)
        return try CertificateAuthority(profile: profile, root: root, intermediates: intermediates, source: source, now: now)
    }

    /// Checks what makes a certificate usable as a signing CA, with a message that names the problem.
    static func validate(_ identity: SigningIdentity, source: String, now: Date, checkingCAness: Bool = true) throws {
        let certificate = identity.certificate
        let subject = certificate.subject.description
        guard identity.key.matches(certificate) else {
            throw CertForgeError.keyDoesNotMatchCertificate(certificate: source, key: source)
        }
        let usage = certificate.keyUsage
        guard !checkingCAness || certificate.isCertificateAuthority && (usage == nil || usage!.contains(.keyCertSign)) else {
            throw CertForgeError.notACertificateAuthority(subject: subject, source: source)
        }
        guard certificate.notAfter > now else {
            throw CertForgeError.authorityExpired(subject: subject, notAfter: certificate.notAfter, source: source)
        }
        guard certificate.notBefore <= now else {
            throw CertForgeError.authorityNotYetValid(subject: subject, notBefore: certificate.notBefore, source: source)
        }
    }

    /// The builder every CA certificate starts from: strict-verifier friendly extensions.
    static func caBuilder(_ spec: AuthoritySpec, pathLength: Int?, isRoot: Bool, now: Date) -> CertificateBuilder {
        var extensions: [CertificateExtension] = [
            .basicConstraints(isCA: true, pathLength: pathLength, critical: true),
            .keyUsage([.keyCertSign, .cRLSign], critical: true),
            .subjectKeyIdentifier,
        ]
        if !isRoot { extensions.append(.authorityKeyIdentifier) }
        return CertificateBuilder(
            subject: spec.subject, notBefore: now - ChainProfile.day, notAfter: now + spec.lifetime, extensions: extensions)
    }

    /// The intermediates re-signed under the same root with the same names and keys, carrying
    /// `quirks` besides the profile's own: a CA quirk for some hosts only (`--host-quirk`). Name
    /// constraints stay on the root alone.
    func intermediates(carrying quirks: [Quirk], now: Date = Date()) throws -> [SigningIdentity] {
        try Self.makeIntermediates(profile: profile.with(quirks: profile.quirks + quirks), under: root,
                                   keys: intermediates.map(\.key), now: now)
    }

    private static func makeIntermediates(profile: ChainProfile, under root: SigningIdentity, keys: [PrivateKey]? = nil,
                                          nameConstraints: NameConstraints? = nil, now: Date) throws -> [SigningIdentity] {
        var parent = root
        var result: [SigningIdentity] = []
        let specs = profile.authorities.dropFirst()
        for (index, spec) in specs.enumerated() {
            let key = try keys?[index] ?? PrivateKey.generate(profile.keyAlgorithm)
            let below = specs.count - index - 1
            var builder = caBuilder(spec, pathLength: below, isRoot: false, now: now)
            if let nameConstraints { builder.extensions.append(.nameConstraints(nameConstraints)) }
            builder.apply(profile.quirks, role: .intermediate(isIssuing: below == 0, parentHasKeyIdentifier: parent.certificate.hasKeyIdentifier))
            // An intermediate must not outlive its parent.
            builder.notAfter = min(builder.notAfter, parent.certificate.notAfter)
            let certificate = try builder.sign(publicKey: key, signer: parent.signer)
            parent = SigningIdentity(certificate: certificate, key: key)
            result.append(parent)
        }
        return result
    }
}
