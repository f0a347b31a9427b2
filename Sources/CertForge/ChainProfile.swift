import FoundationEssentials

/// One CA in a profile's hierarchy: its name and how long it is valid.
public struct AuthoritySpec: Hashable, Sendable {
    public var subject: DistinguishedName
    public var lifetime: TimeInterval

    public init(subject: DistinguishedName, lifetime: TimeInterval) {
        self.subject = subject
        self.lifetime = lifetime
    }
}

/// The shape of the chain a gateway presents: key algorithm, CA depth, what is sent, names, lifetimes.
public struct ChainProfile: Hashable, Sendable {
    /// Short name used on the command line and as the CA directory's sub-folder.
    public var name: String
    /// One line for `intercept-proxy profiles`.
    public var summary: String
    /// What a client without the root reports, in OpenSSL's words.
    public var clientError: String
    public var keyAlgorithm: KeyAlgorithm
    /// Root first, issuing CA last; 1 to 3 entries.
    public var authorities: [AuthoritySpec]
    /// Whether the self-signed root travels in the chain (shape S3) or not (S1/S2).
    public var sendsRoot: Bool
    public var leafLifetime: TimeInterval
    /// How far a leaf's notBefore lies in the past, to tolerate clock skew in VMs and containers.
    public var leafBackdate: TimeInterval
    /// Extra subject attributes for leaves, placed before the CN (gateways often add their O).
    public var leafSubjectPrefix: [DistinguishedName.Attribute]
    /// Defects the CAs and leaves carry, sorted (see `Quirk`); none in the presets.
    public private(set) var quirks: [Quirk] = []

    public init(
        name: String, summary: String, clientError: String, keyAlgorithm: KeyAlgorithm = .rsa2048,
        authorities: [AuthoritySpec], sendsRoot: Bool, leafLifetime: TimeInterval = 90 * day,
        leafBackdate: TimeInterval = day, leafSubjectPrefix: [DistinguishedName.Attribute] = []
    ) {
        precondition((1...3).contains(authorities.count), "a chain profile has 1 to 3 CAs")
        self.name = name
        self.summary = summary
        self.clientError = clientError
        self.keyAlgorithm = keyAlgorithm
        self.authorities = authorities
        self.sendsRoot = sendsRoot
        self.leafLifetime = leafLifetime
        self.leafBackdate = leafBackdate
        self.leafSubjectPrefix = leafSubjectPrefix
    }

    /// Number of CAs including the root.
    public var depth: Int { authorities.count }

    /// The same profile with another key algorithm for every key in the hierarchy and the leaves.
    public func with(keyAlgorithm: KeyAlgorithm) -> ChainProfile {
        var copy = self
        copy.keyAlgorithm = keyAlgorithm
        return copy
    }

    /// The same profile whose CAs and leaves carry these quirks; a quirk on intermediates needs a
    /// profile that has one.
    public func with(quirks: [Quirk]) throws -> ChainProfile {
        if let missing = quirks.first(where: { !$0.applies(toDepth: depth) }) {
            throw CertForgeError.quirkNeedsIntermediate(quirk: missing.rawValue, profile: name)
        }
        var copy = self
        copy.quirks = quirks.normalized
        return copy
    }

    /// Sub-folder of the CA directory: the profile name, plus the algorithm when it is not the
    /// preset's, plus the quirks (a quirky CA never replaces the textbook one).
    public var storageName: String {
        let preset = (Self.presets + [.publicStandIn]).first { $0.name == name }
        var stem = name
        if preset == nil || preset!.keyAlgorithm != keyAlgorithm { stem += "-\(keyAlgorithm.name)" }
        return ([stem] + quirks.map(\.rawValue)).joined(separator: "+")
    }

    func has(_ quirk: Quirk) -> Bool { quirks.contains(quirk) }

    /// A quirky root may not look like a CA to OpenSSL (v1, or no keyCertSign), and still signs.
    var rootMayLackCAMarks: Bool { has(.version1Root) || has(.pathLengthWithoutKeyCertSign) }

    public static let day: TimeInterval = 86_400
    public static let year: TimeInterval = 365 * day

    private static let testMark = "(intercept-proxy test)"

    /// Zscaler's shape: root -> intermediate -> issuing CA "(t)"; leaf + issuing + intermediate sent, never the root.
    public static let zscaler = ChainProfile(
        name: "zscaler",
        summary: "root -> intermediate -> issuing CA; sends leaf + issuing + intermediate, never the root (shape S1)",
        clientError: "unable to get local issuer certificate",
        authorities: [
            AuthoritySpec(subject: DistinguishedName([
                "C": "US", "ST": "California", "L": "San Jose", "O": "Zscaler Inc.", "OU": "Zscaler Inc.",
                "CN": "Zscaler Root CA \(testMark)",
            ]), lifetime: 20 * year),
            AuthoritySpec(subject: DistinguishedName([
                "C": "US", "ST": "California", "O": "Zscaler Inc. \(testMark)", "OU": "Zscaler Inc.",
                "CN": "Zscaler Intermediate Root CA (zscaler.test) (test)",
            ]), lifetime: 10 * year),
            AuthoritySpec(subject: DistinguishedName([
                "C": "US", "ST": "California", "O": "Zscaler Inc. \(testMark)", "OU": "Zscaler Inc.",
                "CN": "Zscaler Intermediate Root CA (zscaler.test) (t) (test)",
            ]), lifetime: 2 * year),
        ],
        sendsRoot: false,
        leafLifetime: 14 * day + day
    )

    /// Netskope-like: root -> intermediate; sends leaf + intermediate + the self-signed root.
    public static let netskope = ChainProfile(
        name: "netskope",
        summary: "root -> intermediate; sends leaf + intermediate + the self-signed root (shape S3)",
        clientError: "self-signed certificate in certificate chain",
        authorities: [
            AuthoritySpec(subject: DistinguishedName([
                "C": "US", "ST": "California", "L": "Santa Clara", "O": "Netskope Inc \(testMark)", "OU": "certadmin",
                "CN": "ca.tenant.goskope.test",
            ]), lifetime: 20 * year),
            AuthoritySpec(subject: DistinguishedName([
                "C": "US", "ST": "California", "L": "Santa Clara", "O": "Netskope Inc \(testMark)", "OU": "certadmin",
                "CN": "ca.tenant.goskope.test Intermediate",
            ]), lifetime: 10 * year),
        ],
        sendsRoot: true,
        leafLifetime: 30 * day + day
    )

    /// Fortinet-like (FortiGate SSL deep inspection): the device CA signs leaves and is sent with them.
    public static let fortinet = ChainProfile(
        name: "fortinet",
        summary: "device CA signs leaves directly; sends leaf + the self-signed CA (shape S3)",
        clientError: "self-signed certificate in certificate chain",
        authorities: [
            AuthoritySpec(subject: DistinguishedName([
                "C": "US", "ST": "California", "L": "Sunnyvale", "O": "Fortinet", "OU": "Certificate Authority",
                "CN": "FortiGate CA \(testMark)",
            ]), lifetime: 10 * year),
        ],
        sendsRoot: true,
        leafLifetime: 365 * day
    )

    /// The simplest shape: a root signs leaves, the leaf travels alone.
    public static let plain = ChainProfile(
        name: "plain",
        summary: "root signs leaves directly; sends the leaf alone (shape S2)",
        clientError: "unable to get local issuer certificate (then: unable to verify the first certificate)",
        authorities: [
            AuthoritySpec(subject: DistinguishedName([
                "O": "intercept-proxy", "OU": "test CA, not for production",
                "CN": "intercept-proxy Root CA \(testMark)",
            ]), lifetime: 10 * year),
        ],
        sendsRoot: false
    )

    /// The test world's stand-in for the public web PKI (the Mozilla and OS roots): what a host the
    /// gateway does not inspect, or any host without a gateway, presents. As public CAs do, an
    /// issuing intermediate under the root signs leaves, and the leaf travels with the intermediate.
    /// It is not a gateway profile (`preset(named:)` refuses it): it never signs for one.
    public static let publicStandIn = ChainProfile(
        name: "public",
        summary: "stand-in for the public web PKI: root -> issuing CA; sends leaf + issuing CA, as public CAs do",
        clientError: "unable to get local issuer certificate (a store without the public stand-in root)",
        keyAlgorithm: .ecdsaP256,
        authorities: [
            AuthoritySpec(subject: DistinguishedName([
                "C": "US", "O": "intercept-proxy public test PKI, not a real CA",
                "CN": "intercept-proxy Public Test Root \(testMark)",
            ]), lifetime: 25 * year),
            AuthoritySpec(subject: DistinguishedName([
                "C": "US", "O": "intercept-proxy public test PKI, not a real CA",
                "CN": "Public Test Issuing CA \(testMark)",
            ]), lifetime: 5 * year),
        ],
        sendsRoot: false,
        leafLifetime: 90 * day
    )

    /// The CA a gateway re-signs with when the real site's own certificate is bad (Palo Alto
    /// "Forward Untrust", FortiGate's `Fortinet_CA_Untrusted`, squid's untrusted signer): one
    /// self-signed CA, sent with the leaf, that no client is ever told to trust, so a client with
    /// a good fix still meets an error there. Not a gateway profile; `--untrusted-upstream resign-untrusted`.
    public static func untrustedUpstream(of gateway: ChainProfile) -> ChainProfile {
        let commonName = gateway.name == fortinet.name ? "Fortinet_CA_Untrusted" : "\(gateway.name) untrusted-upstream CA"
        return ChainProfile(
            name: "untrusted",
            summary: "what the gateway signs with for a site whose own certificate is bad; trusted by nobody",
            clientError: "self-signed certificate in certificate chain",
            keyAlgorithm: .ecdsaP256,  // never trusted, so its key only needs to be quick to make at start
            authorities: [
                AuthoritySpec(subject: DistinguishedName([
                    "O": "intercept-proxy", "OU": "untrusted upstream, never trust this CA",
                    "CN": "\(commonName) \(testMark)",
                ]), lifetime: 10 * year),
            ],
            sendsRoot: true,
            leafLifetime: gateway.leafLifetime
        )
    }

    public static let presets: [ChainProfile] = [.zscaler, .netskope, .fortinet, .plain]
    public static let `default` = ChainProfile.zscaler

    /// Looks a gateway preset up by name.
    public static func preset(named name: String) throws -> ChainProfile {
        guard let profile = presets.first(where: { $0.name == name.lowercased() }) else {
            if name.lowercased() == publicStandIn.name { throw CertForgeError.publicStandInIsNotAGateway }
            throw CertForgeError.unknownName(kind: "profile", name: name, known: presets.map(\.name))
        }
        return profile
    }
}

extension ChainProfile: CustomStringConvertible {
    public var description: String { "\(name) (\(keyAlgorithm))" }
}
