/// The public-key algorithms CertForge generates keys for.
public enum KeyAlgorithm: Hashable, Sendable, CustomStringConvertible {
    case rsa(bits: Int)
    case ecdsaP256
    case ecdsaP384

    public static let rsa2048 = KeyAlgorithm.rsa(bits: 2048)

    /// Algorithms offered on the command line, by their short names.
    public static let named: [(name: String, algorithm: KeyAlgorithm)] = [
        ("rsa2048", .rsa(bits: 2048)),
        ("rsa3072", .rsa(bits: 3072)),
        ("rsa4096", .rsa(bits: 4096)),
        ("p256", .ecdsaP256),
        ("p384", .ecdsaP384),
    ]

    /// Parses a short name such as `rsa2048` or `p256`.
    public init(name: String) throws {
        guard let match = Self.named.first(where: { $0.name == name.lowercased() }) else {
            throw CertForgeError.unknownName(kind: "key algorithm", name: name, known: Self.named.map(\.name))
        }
        self = match.algorithm
    }

    /// The short name used in directory names and on the command line.
    public var name: String {
        switch self {
        case let .rsa(bits): return "rsa\(bits)"
        case .ecdsaP256: return "p256"
        case .ecdsaP384: return "p384"
        }
    }

    public var description: String {
        switch self {
        case let .rsa(bits): return "RSA-\(bits)"
        case .ecdsaP256: return "ECDSA P-256"
        case .ecdsaP384: return "ECDSA P-384"
        }
    }
}
