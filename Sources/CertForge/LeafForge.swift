import FoundationEssentials
import Dispatch

/// Whether every leaf shares one key pair (forging then costs one signature) or gets its own.
public enum LeafKeyPolicy: String, Sendable, CaseIterable {
    case shared
    case perHost = "per-host"
}

/// Forges leaf certificates for host names under a certificate authority, with caching.
/// Thread-safe; forging itself is synchronous and CPU-bound, so callers keep it off event loops.
public final class LeafForge: Sendable {
    public let authority: CertificateAuthority
    public let keyPolicy: LeafKeyPolicy
    /// The key all leaves share under `.shared`; distinct from every CA key. The one given to
    /// `init` (a CA directory keeps one beside the CA, see `CADirectory.leafKey`), else one per
    /// process and algorithm, shared by every forge in the process and generated in the background
    /// (an RSA key takes 50-300 ms, which a proxy's start should not wait for, nor pay per start);
    /// the first forge that needs it waits.
    public var sharedKey: PrivateKey { get throws { try pendingSharedKey.value } }
    private let pendingSharedKey: BackgroundKey
    private let cache: LeafCache<CacheKey>
    private let variants: FailureVariants

    private struct CacheKey: Hashable, Sendable {
        let name: ServerName
        let failure: FailureMode?
        let quirks: [Quirk]
        /// The SHA-256 of the mimicked upstream certificate, when there is one.
        let mimicked: [UInt8]?
    }

    public init(authority: CertificateAuthority, keyPolicy: LeafKeyPolicy = .shared, sharedKey: PrivateKey? = nil,
                cacheCapacity: Int = 10_000) throws {
        self.authority = authority
        self.keyPolicy = keyPolicy
        self.pendingSharedKey = sharedKey.map(BackgroundKey.init(ready:)) ?? BackgroundKey.processWide(authority.profile.keyAlgorithm)
        self.cache = LeafCache(capacity: cacheCapacity)
        self.variants = FailureVariants(authority: authority)
    }

    /// Number of chains currently cached.
    public var cachedCount: Int { cache.count }

    /// Blocks until the shared key's background generation has finished (whether or not it
    /// succeeded). Call before the process exits: OpenSSL's exit-time cleanup must not run while
    /// another thread still generates a key.
    public func waitForBackgroundWork() {
        pendingSharedKey.waitUntilDone()
    }

    /// The chain for `host` (validated first), from the cache when it is there and not near expiry.
    public func chain(for host: String, failure: FailureMode? = nil) throws -> ForgedChain {
        try chain(for: ServerName(host), failure: failure)
    }

    /// The chain for an already validated name; forges (blocking) on a miss. With `mimicking`, the
    /// leaf copies that (upstream) certificate's subject, SANs and validity, as Zscaler and squid do.
    public func chain(for name: ServerName, failure: FailureMode? = nil, quirks: [Quirk] = [],
                      mimicking upstream: Certificate? = nil) throws -> ForgedChain {
        let now = Date()
        return try cache.value(
            for: CacheKey(name: name, failure: failure, quirks: quirks, mimicked: upstream?.sha256Fingerprint),
            isFresh: { Self.isFresh($0, failure: failure, mimicking: upstream != nil, now: now) },
            make: { try forge(name, failure: failure, quirks: quirks, template: upstream.map(LeafTemplate.init(copying:)), now: now) })
    }

    /// The cached chain, or nil when forging is needed: never blocks, so event loops may call it.
    public func cachedChain(for name: ServerName, failure: FailureMode? = nil, quirks: [Quirk] = [],
                            mimicking upstream: Certificate? = nil) -> ForgedChain? {
        let now = Date()
        return cache.peek(CacheKey(name: name, failure: failure, quirks: quirks, mimicked: upstream?.sha256Fingerprint)) {
            Self.isFresh($0, failure: failure, mimicking: upstream != nil, now: now)
        }
    }

    /// Deliberately broken and mimicked leaves keep their dates; good ones are renewed a day early.
    private static func isFresh(_ chain: ForgedChain, failure: FailureMode?, mimicking: Bool, now: Date) -> Bool {
        failure != nil || mimicking || chain.leaf.notAfter > now + ChainProfile.day
    }

    /// Forges without the cache. `quirks`: for this host only, besides the profile's (`--host-quirk`).
    public func forge(_ name: ServerName, failure: FailureMode? = nil, quirks: [Quirk] = [], template: LeafTemplate? = nil,
                      now: Date = Date()) throws -> ForgedChain {
        let profile = authority.profile
        var key = keyPolicy == .shared ? try sharedKey : try PrivateKey.generate(profile.keyAlgorithm)
        var issuer = authority.issuing
        var chain = authority.intermediates.reversed().map(\.certificate)
        // Sent after the intermediates, where Let's Encrypt sent ISRG Root X1 cross-signed by DST Root CA X3.
        if profile.has(.expiredCrossSign) || quirks.contains(.expiredCrossSign) { chain.append(try variants.expiredCrossSign()) }
        if profile.sendsRoot { chain.append(authority.root.certificate) }
        var anchor = authority.root.certificate
        var builder = leafBuilder(for: name, keyAlgorithm: profile.keyAlgorithm, now: now)
        if let template { template.apply(to: &builder, requested: name) }

        switch failure {
        case nil:
            break
        case .expired:
            builder.notBefore = now - 60 * ChainProfile.day
            builder.notAfter = now - 30 * ChainProfile.day
        case .notYetValid:
            builder.notBefore = now + 30 * ChainProfile.day
            builder.notAfter = now + 120 * ChainProfile.day
        case .wrongHost:
            let wrongName = ServerName.dns(FailureMode.wrongHostName)
            builder = leafBuilder(for: wrongName, keyAlgorithm: profile.keyAlgorithm, now: now)
        case .selfSigned:
            // keyCertSign lets OpenSSL recognise the leaf as self-signed (error 18, not 20).
            builder.extensions = builder.extensions.map {
                if case .keyUsage = $0 { return .keyUsage([.digitalSignature, .keyEncipherment, .keyCertSign], critical: true) }
                return $0
            }.filter { $0 != .authorityKeyIdentifier }
            let leaf = try builder.sign(publicKey: key, signer: .selfSigned(key))
            return ForgedChain(serverName: name, failure: failure, leaf: leaf, leafKey: key, chain: [], trustAnchor: leaf)
        case .incompleteChain:
            if authority.intermediates.isEmpty {
                issuer = try variants.extraIntermediate()
                chain = profile.sendsRoot ? [authority.root.certificate] : []
            } else {
                let dropped = authority.intermediates[0].certificate
                chain.removeAll { $0 === dropped }
            }
        case .sha1:
            builder.digest = .sha1
        case .rsa1024:
            key = try variants.weakKey()
        case .caAsLeaf:
            builder.extensions = [
                .basicConstraints(isCA: true, critical: true),
                .keyUsage([.keyCertSign, .cRLSign], critical: true),
                .subjectAlternativeNames([name.subjectAlternativeName]),
                .subjectKeyIdentifier,
                .authorityKeyIdentifier,
            ]
        case .nonStrict:
            builder.extensions.removeAll { $0 == .authorityKeyIdentifier }
            if !authority.intermediates.isEmpty {
                let sloppy = try variants.nonStrictIssuer()
                chain = chain.map { $0 === issuer.certificate ? sloppy.certificate : $0 }
                issuer = sloppy
            }
        case .expiredRoot:
            let expired = try variants.expiredRoot()
            chain = chain.map { $0 === authority.root.certificate ? expired : $0 }
            anchor = expired
        }

        if quirks.contains(where: \.changesACA) {
            // This host's CA quirks: the intermediates re-signed with them, under the same root.
            let originals = authority.intermediates.map(\.certificate)
            let resigned = try variants.intermediates(carrying: quirks.filter(\.changesACA))
            chain = chain.map { sent in originals.firstIndex { $0 === sent }.map { resigned[$0].certificate } ?? sent }
            if let index = originals.firstIndex(where: { $0 === issuer.certificate }) { issuer = resigned[index] }
        }
        if !profile.quirks.isEmpty || !quirks.isEmpty {  // keeps the issuer lookup off the textbook forge path
            builder.apply((profile.quirks + quirks).normalized, role: .leaf(parentHasKeyIdentifier: issuer.certificate.hasKeyIdentifier))
        }
        let leaf = try builder.sign(publicKey: key, signer: issuer.signer)
        return ForgedChain(serverName: name, failure: failure, leaf: leaf, leafKey: key, chain: chain, trustAnchor: anchor)
    }

    /// The strictly valid leaf: the certificate rules of DESIGN.md.
    private func leafBuilder(for name: ServerName, keyAlgorithm: KeyAlgorithm, now: Date) -> CertificateBuilder {
        let profile = authority.profile
        var attributes = profile.leafSubjectPrefix
        // ub-common-name is 64; longer names live in the SAN only.
        if name.text.utf8.count <= 64 { attributes.append(.init("CN", name.text)) }
        var usage: KeyUsage = [.digitalSignature]
        if case .rsa = keyAlgorithm { usage.insert(.keyEncipherment) }
        return CertificateBuilder(
            subject: DistinguishedName(attributes),
            notBefore: now - profile.leafBackdate,
            notAfter: now - profile.leafBackdate + profile.leafLifetime,
            extensions: [
                .basicConstraints(isCA: false, critical: true),
                .keyUsage(usage, critical: true),
                .serverAuthExtendedKeyUsage,
                .subjectAlternativeNames([name.subjectAlternativeName], critical: attributes.isEmpty),
                .subjectKeyIdentifier,
                .authorityKeyIdentifier,
            ])
    }
}

/// What a mimicked leaf copies from the real upstream certificate; the issuer and key stay the proxy's.
public struct LeafTemplate: Sendable, Equatable {
    public var subject: DistinguishedName
    public var subjectAlternativeNames: [SubjectAlternativeName]
    public var notBefore: Date
    public var notAfter: Date

    public init(copying certificate: Certificate) {
        subject = certificate.subject
        subjectAlternativeNames = certificate.subjectAlternativeNames
        notBefore = certificate.notBefore
        notAfter = certificate.notAfter
    }

    /// Overrides subject, SANs and validity; keeps the requested name reachable when the original
    /// certificate did not list it (the client asked for it, after all).
    func apply(to builder: inout CertificateBuilder, requested: ServerName) {
        builder.subject = subject
        builder.notBefore = notBefore
        builder.notAfter = notAfter
        var names = subjectAlternativeNames
        if names.isEmpty { names = [requested.subjectAlternativeName] }
        builder.extensions = builder.extensions.map {
            if case .subjectAlternativeNames = $0 { return .subjectAlternativeNames(names, critical: subject.attributes.isEmpty) }
            return $0
        }
    }
}

/// CA material that only failure modes need, made on first use and kept for the forge's lifetime.
private final class FailureVariants: Sendable {
    private let authority: CertificateAuthority
    private let identities = Locked<[String: SigningIdentity]>([:])
    private let weakKeyStore = Locked<PrivateKey?>(nil)
    private let resigned = Locked<[[Quirk]: [SigningIdentity]]>([:])

    init(authority: CertificateAuthority) {
        self.authority = authority
    }

    private func once(_ name: String, _ make: () throws -> SigningIdentity) throws -> SigningIdentity {
        try identities.withLock { store in
            if let existing = store[name] { return existing }
            let identity = try make()
            store[name] = identity
            return identity
        }
    }

    /// The intermediates carrying a host's CA quirks, made once per set.
    func intermediates(carrying quirks: [Quirk]) throws -> [SigningIdentity] {
        let set = quirks.normalized
        return try resigned.withLock { made in
            if let existing = made[set] { return existing }
            let intermediates = try authority.intermediates(carrying: set)
            if made.count < 64 { made[set] = intermediates }  // a bound: sets come from the command line
            return intermediates
        }
    }

    /// An RSA-1024 key: below every modern security level.
    func weakKey() throws -> PrivateKey {
        try weakKeyStore.withLock { stored in
            if let stored { return stored }
            let key = try PrivateKey.generate(.rsa(bits: 1024))
            stored = key
            return key
        }
    }

    /// For depth-1 profiles: an intermediate that is never sent, so the chain cannot be completed.
    func extraIntermediate() throws -> SigningIdentity {
        try once("extra-intermediate") {
            let key = try PrivateKey.generate(authority.profile.keyAlgorithm)
            var subject = authority.root.certificate.subject
            subject.attributes.append(.init("OU", "unsent intermediate (incomplete-chain)"))
            let builder = CertificateAuthority.caBuilder(
                AuthoritySpec(subject: subject, lifetime: ChainProfile.year), pathLength: 0, isRoot: false, now: Date())
            return SigningIdentity(certificate: try builder.sign(publicKey: key, signer: authority.root.signer), key: key)
        }
    }

    /// The issuing CA re-signed without the strictness OpenSSL's -x509_strict and Python 3.13 demand.
    func nonStrictIssuer() throws -> SigningIdentity {
        try once("non-strict-issuer") {
            let issuing = authority.issuing
            let intermediates = authority.intermediates
            let parent = intermediates.count >= 2 ? intermediates[intermediates.count - 2] : authority.root
            let builder = CertificateBuilder(
                subject: issuing.certificate.subject, notBefore: issuing.certificate.notBefore,
                notAfter: issuing.certificate.notAfter,
                extensions: [
                    .basicConstraints(isCA: true, critical: false),
                    .keyUsage([.keyCertSign, .cRLSign], critical: true),
                    .subjectKeyIdentifier,
                ])
            return SigningIdentity(certificate: try builder.sign(publicKey: issuing.key, signer: parent.signer), key: issuing.key)
        }
    }

    /// The root cross-signed by an older root that no client here trusts, both expired a year ago:
    /// same subject and key as the root, as the USERTrust cross-sign by AddTrust External CA Root that
    /// Sectigo chains kept sending after May 2020 (ISRG Root X1 cross-signed by the expired DST Root
    /// CA X3, 2021, is the same shape with only the issuer expired). A verifier that finds the trusted
    /// root first never needs it; one that follows the sent chain reaches an expired certificate.
    func expiredCrossSign() throws -> Certificate {
        try once("expired-cross-sign") {
            let root = authority.root
            let now = Date()
            let olderKey = try PrivateKey.generate(authority.profile.keyAlgorithm)
            var olderBuilder = CertificateAuthority.caBuilder(
                AuthoritySpec(subject: DistinguishedName(["O": "intercept-proxy", "CN": "Older Root CA (expired-cross-sign test)"]), lifetime: 0),
                pathLength: nil, isRoot: true, now: now)
            olderBuilder.notBefore = now - 20 * ChainProfile.year
            olderBuilder.notAfter = now - ChainProfile.year
            let older = try olderBuilder.sign(publicKey: olderKey, signer: .selfSigned(olderKey))
            var crossBuilder = CertificateAuthority.caBuilder(
                AuthoritySpec(subject: root.certificate.subject, lifetime: 0), pathLength: nil, isRoot: false, now: now)
            crossBuilder.notBefore = now - 5 * ChainProfile.year
            crossBuilder.notAfter = older.notAfter
            let cross = try crossBuilder.sign(publicKey: root.key, signer: .issuer(older, olderKey))
            return SigningIdentity(certificate: cross, key: root.key)
        }.certificate
    }

    /// The root with the same name and key but a validity period that has ended.
    func expiredRoot() throws -> Certificate {
        try once("expired-root") {
            let root = authority.root
            let now = Date()
            var builder = CertificateAuthority.caBuilder(
                AuthoritySpec(subject: root.certificate.subject, lifetime: 0), pathLength: nil, isRoot: true, now: now)
            builder.notBefore = now - 10 * ChainProfile.year
            builder.notAfter = now - ChainProfile.day
            return SigningIdentity(certificate: try builder.sign(publicKey: root.key, signer: .selfSigned(root.key)), key: root.key)
        }.certificate
    }
}

/// A key generated on a background queue; `value` waits for it.
private final class BackgroundKey: Sendable {
    private let outcome = Locked<Result<PrivateKey, any Error>?>(nil)
    private let ready = DispatchGroup()

    /// One per algorithm for the whole process: every forge without a key of its own shares it.
    private static let shared = Locked<[KeyAlgorithm: BackgroundKey]>([:])

    static func processWide(_ algorithm: KeyAlgorithm) -> BackgroundKey {
        shared.withLock { keys in
            if let key = keys[algorithm] { return key }
            let made = BackgroundKey(algorithm)
            keys[algorithm] = made
            return made
        }
    }

    init(ready key: PrivateKey) {
        outcome.withLock { $0 = .success(key) }
    }

    init(_ algorithm: KeyAlgorithm) {
        ready.enter()
        DispatchQueue.global(qos: .userInitiated).async { [self] in
            let result = Result { try PrivateKey.generate(algorithm) }
            outcome.withLock { $0 = result }
            ready.leave()
        }
    }

    func waitUntilDone() {
        ready.wait()
    }

    var value: PrivateKey {
        get throws {
            ready.wait()
            return try outcome.withLock { $0! }.get()
        }
    }
}
