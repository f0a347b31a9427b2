import FoundationEssentials

/// What the proxy presents for one host: a leaf, its key and the certificates sent after it.
public struct ForgedChain: Sendable {
    public let serverName: ServerName
    public let failure: FailureMode?
    public let leaf: Certificate
    public let leafKey: PrivateKey
    /// Sent after the leaf, issuer first; includes the root when the profile sends it.
    public let chain: [Certificate]
    /// The certificate a client must trust for this chain to verify (when it can verify at all).
    public let trustAnchor: Certificate
    /// The sent certificates by common name, leaf first (`host < Issuing CA < Intermediate`), as
    /// the flow events show them: made once per chain, which a cached chain serves to many handshakes.
    public let sentNames: String

    /// Assembles a chain, e.g. to serve a certificate built with `CertificateBuilder`.
    public init(serverName: ServerName, failure: FailureMode?, leaf: Certificate, leafKey: PrivateKey,
                chain: [Certificate], trustAnchor: Certificate) {
        self.serverName = serverName
        self.failure = failure
        self.leaf = leaf
        self.leafKey = leafKey
        self.chain = chain
        self.trustAnchor = trustAnchor
        sentNames = ([leaf] + chain).map { $0.subject.commonName ?? $0.subject.description }.joined(separator: " < ")
    }

    /// Every certificate on the wire, leaf first.
    public var sentCertificates: [Certificate] { [leaf] + chain }

    /// Whether OpenSSL at the distribution's security level would refuse to present it (a SHA-1
    /// signature, an RSA-1024 key): a server must lower its level, the client is the one to judge.
    public var isWeak: Bool {
        failure == .rsa1024 || sentCertificates.contains { $0.isSignedWithSHA1 }
    }

    /// The sent certificates as one PEM text, leaf first (what a server's certificate file holds).
    public var pem: String { sentCertificates.map(\.pemString).joined() }
}
