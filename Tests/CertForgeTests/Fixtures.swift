import CertForge
import Foundation

/// Generated hierarchies shared across tests: key generation dominates test time otherwise.
enum Fixtures {
    private static let authorities = Locked<[String: CertificateAuthority]>([:])
    private static let forges = Locked<[String: LeafForge]>([:])

    static func authority(_ profile: ChainProfile) throws -> CertificateAuthority {
        try authorities.withLock { cache in
            if let existing = cache[profile.storageName] { return existing }
            let made = try CertificateAuthority.generate(profile: profile)
            cache[profile.storageName] = made
            return made
        }
    }

    static func forge(_ profile: ChainProfile) throws -> LeafForge {
        let authority = try authority(profile)
        return try forges.withLock { cache in
            if let existing = cache[profile.storageName] { return existing }
            let made = try LeafForge(authority: authority)
            cache[profile.storageName] = made
            return made
        }
    }

    /// Every preset in both key families: RSA-2048 and ECDSA P-256.
    static let presetsInBothFamilies: [ChainProfile] = ChainProfile.presets.flatMap { [$0, $0.with(keyAlgorithm: .ecdsaP256)] }
}
