import COpenSSL
import FoundationEssentials

/// A private key (and its public half). Immutable once created, so it may be shared across threads:
/// OpenSSL 3 allows concurrent signing with one EVP_PKEY.
public final class PrivateKey: @unchecked Sendable {
    package let pointer: OpaquePointer
    /// The same key as a legacy EVP_PKEY, for `X509_set_pubkey`: with a provider key OpenSSL 3.0
    /// round-trips it through an encoder and a decoder on every certificate (see the shim).
    package let certificateKeyPointer: OpaquePointer

    private init(taking pointer: OpaquePointer) {
        self.pointer = pointer
        certificateKeyPointer = shim_legacy_copy_of_key(pointer) ?? pointer  // other key types: the slow path
    }

    deinit {
        if certificateKeyPointer != pointer { EVP_PKEY_free(certificateKeyPointer) }
        EVP_PKEY_free(pointer)
    }

    /// Generates a fresh key.
    public static func generate(_ algorithm: KeyAlgorithm) throws -> PrivateKey {
        let key: OpaquePointer?
        switch algorithm {
        case let .rsa(bits): key = shim_EVP_RSA_gen(UInt32(bits))
        case .ecdsaP256: key = shim_EVP_EC_gen("P-256")
        case .ecdsaP384: key = shim_EVP_EC_gen("P-384")
        }
        guard let key else { throw openSSLFailure("generating a \(algorithm) key") }
        return PrivateKey(taking: key)
    }

    /// Parses a PEM private key (PKCS#8, traditional RSA/EC, encrypted or not).
    /// - Parameter source: names the input in error messages, typically the file path.
    public convenience init(pem: String, passphrase: String? = nil, source: String = "private key") throws {
        let encrypted = pem.contains("ENCRYPTED")
        if encrypted && passphrase == nil {
            throw CertForgeError.encryptedKeyWithoutPassphrase(source: source)
        }
        let bio = try MemoryBIO(bytes: Array(pem.utf8))
        // A callback that never prompts: OpenSSL's default one would read the terminal.
        let key: OpaquePointer? = (passphrase ?? "").withCString { phrase in
            PEM_read_bio_PrivateKey(bio.pointer, nil, { buffer, size, _, userData in
                guard let buffer, let userData else { return -1 }
                let phrase = userData.assumingMemoryBound(to: CChar.self)
                let length = min(Int(size), strlen(phrase))
                memcpy(buffer, phrase, length)
                return Int32(length)
            }, UnsafeMutableRawPointer(mutating: phrase))
        }
        guard let key else {
            let detail = openSSLErrorQueue()
            if encrypted { throw CertForgeError.wrongPassphrase(source: source) }
            throw CertForgeError.invalidEncoding(what: "PEM private key", source: source, detail: detail)
        }
        self.init(taking: key)
    }

    /// The key as unencrypted PKCS#8 PEM. Store it with mode 0600.
    public var pemString: String {
        get throws {
            let bio = try MemoryBIO()
            guard PEM_write_bio_PrivateKey(bio.pointer, pointer, nil, nil, 0, nil, nil) == 1 else {
                throw openSSLFailure("PEM_write_bio_PrivateKey")
            }
            return bio.string
        }
    }

    /// Writes the key as PEM to a new file of mode 0600, atomically: it is never readable by others.
    public func writePEM(toFile path: String) throws {
        try SecureFile.write(pemString, to: URL(fileURLWithPath: path), mode: 0o600)
    }

    /// The algorithm and size of this key, as far as CertForge knows them.
    public var algorithm: KeyAlgorithm? {
        switch EVP_PKEY_get_base_id(pointer) {
        case EVP_PKEY_RSA:
            return .rsa(bits: Int(EVP_PKEY_get_bits(pointer)))
        case EVP_PKEY_EC:
            var name = [CChar](repeating: 0, count: 64)
            var length = 0
            guard EVP_PKEY_get_group_name(pointer, &name, name.count, &length) == 1 else { return nil }
            switch String(cBuffer: name) {
            case "prime256v1", "P-256": return .ecdsaP256
            case "secp384r1", "P-384": return .ecdsaP384
            default: return nil
            }
        default:
            return nil
        }
    }

    /// The SHA-256 digest of the DER SubjectPublicKeyInfo; equal for a key and its certificate.
    public var publicKeyFingerprint: [UInt8] {
        var der: UnsafeMutablePointer<UInt8>?
        let length = i2d_PUBKEY(pointer, &der)
        guard length > 0, let der else { return [] }
        defer { shim_OPENSSL_free(der) }
        var digest = [UInt8](repeating: 0, count: Int(EVP_MAX_MD_SIZE))
        var digestLength: UInt32 = 0
        EVP_Digest(der, Int(length), &digest, &digestLength, EVP_sha256(), nil)
        return Array(digest.prefix(Int(digestLength)))
    }

    /// Whether this key is the private half of the certificate's public key.
    public func matches(_ certificate: Certificate) -> Bool {
        defer { ERR_clear_error() }  // a mismatch leaves an entry on the queue
        return X509_check_private_key(certificate.pointer, pointer) == 1
    }
}
