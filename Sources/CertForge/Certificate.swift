import COpenSSL
import FoundationEssentials
import EssentialsSupport

/// A subject alternative name entry that CertForge writes and reads.
public enum SubjectAlternativeName: Hashable, Sendable, CustomStringConvertible {
    case dnsName(String)
    case ipAddress(String)

    public var description: String {
        switch self {
        case let .dnsName(name): return "DNS:\(name)"
        case let .ipAddress(address): return "IP:\(address)"
        }
    }
}

/// An X.509 certificate. Immutable once created, so it may be shared across threads.
public final class Certificate: @unchecked Sendable, CustomStringConvertible {
    package let pointer: OpaquePointer

    /// Takes ownership of one reference to `pointer`.
    package init(taking pointer: OpaquePointer) {
        self.pointer = pointer
    }

    deinit { X509_free(pointer) }

    /// Parses one DER-encoded certificate.
    public convenience init(derBytes: [UInt8], source: String = "certificate") throws {
        let parsed: OpaquePointer? = derBytes.withUnsafeBufferPointer { buffer in
            var cursor: UnsafePointer<UInt8>? = buffer.baseAddress
            return d2i_X509(nil, &cursor, buffer.count)
        }
        guard let parsed else {
            throw CertForgeError.invalidEncoding(what: "DER certificate", source: source, detail: openSSLErrorQueue())
        }
        self.init(taking: parsed)
    }

    /// Parses every certificate in a PEM text, in order. Throws when there is none.
    public static func parsePEM(_ pem: String, source: String = "certificate") throws -> [Certificate] {
        let bio = try MemoryBIO(bytes: Array(pem.utf8))
        var certificates: [Certificate] = []
        while let parsed = PEM_read_bio_X509(bio.pointer, nil, nil, nil) {
            certificates.append(Certificate(taking: parsed))
        }
        let detail = openSSLErrorQueue()  // the last read always ends with "no start line"
        guard !certificates.isEmpty else {
            throw CertForgeError.invalidEncoding(what: "PEM certificate", source: source, detail: detail)
        }
        return certificates
    }

    public var subject: DistinguishedName { DistinguishedName(x509Name: X509_get_subject_name(pointer)) }
    public var issuer: DistinguishedName { DistinguishedName(x509Name: X509_get_issuer_name(pointer)) }

    /// True when subject and issuer are the same name (a root, or a self-signed leaf).
    public var isSelfIssued: Bool { X509_NAME_cmp(X509_get_subject_name(pointer), X509_get_issuer_name(pointer)) == 0 }

    /// The serial number as lowercase hex, without leading zeros.
    public var serialNumberHex: String {
        guard let serial = X509_get0_serialNumber(pointer), let bn = ASN1_INTEGER_to_BN(serial, nil) else { return "" }
        defer { BN_free(bn) }
        guard let hex = BN_bn2hex(bn) else { return "" }
        defer { shim_OPENSSL_free(hex) }
        return String(cString: hex).lowercased()
    }

    /// Whether the serial number is a positive integer, as RFC 5280 requires.
    public var hasPositiveSerialNumber: Bool {
        guard let serial = X509_get0_serialNumber(pointer), let bn = ASN1_INTEGER_to_BN(serial, nil) else { return false }
        defer { BN_free(bn) }
        return BN_is_negative(bn) == 0 && BN_is_zero(bn) == 0
    }

    public var notBefore: Date { Self.date(X509_get0_notBefore(pointer)) }
    public var notAfter: Date { Self.date(X509_get0_notAfter(pointer)) }

    /// Whether basicConstraints says CA:TRUE.
    public var isCertificateAuthority: Bool { X509_get_extension_flags(pointer) & UInt32(EXFLAG_CA) != 0 }

    /// Whether its signature uses SHA-1 (what security level 1 and above refuse).
    public var isSignedWithSHA1: Bool {
        let nid = X509_get_signature_nid(pointer)
        return nid == NID_sha1WithRSAEncryption || nid == NID_ecdsa_with_SHA1
    }

    /// Whether it carries a subject key identifier (children can then name it by key id).
    var hasKeyIdentifier: Bool { isCritical(NID_subject_key_identifier) != nil }

    /// Whether the extension with this NID is present and marked critical; nil when absent.
    func isCritical(_ nid: Int32) -> Bool? {
        let index = X509_get_ext_by_NID(pointer, nid, -1)
        guard index >= 0, let ext = X509_get_ext(pointer, index) else { return nil }
        return X509_EXTENSION_get_critical(ext) == 1
    }

    /// Criticality of basicConstraints; nil when the extension is absent.
    public var basicConstraintsCritical: Bool? { isCritical(NID_basic_constraints) }

    /// Criticality of keyUsage; nil when the extension is absent.
    public var keyUsageCritical: Bool? { isCritical(NID_key_usage) }

    /// The keyUsage bits, or nil when the extension is absent.
    public var keyUsage: KeyUsage? {
        guard X509_get_extension_flags(pointer) & UInt32(EXFLAG_KUSAGE) != 0 else { return nil }
        return KeyUsage(openSSLBits: X509_get_key_usage(pointer))
    }

    /// Whether extendedKeyUsage includes serverAuth.
    public var allowsServerAuthentication: Bool {
        X509_get_extension_flags(pointer) & UInt32(EXFLAG_XKUSAGE) != 0
            && X509_get_extended_key_usage(pointer) & UInt32(XKU_SSL_SERVER) != 0
    }

    public var subjectKeyIdentifier: [UInt8]? { Self.bytes(X509_get0_subject_key_id(pointer)) }
    public var authorityKeyIdentifier: [UInt8]? { Self.bytes(X509_get0_authority_key_id(pointer)) }

    public var subjectAlternativeNames: [SubjectAlternativeName] {
        guard let raw = X509_get_ext_d2i(pointer, NID_subject_alt_name, nil, nil) else { return [] }
        let names = OpaquePointer(raw)
        defer { GENERAL_NAMES_free(names) }
        var result: [SubjectAlternativeName] = []
        for index in 0..<OPENSSL_sk_num(names) {
            guard let entry = OPENSSL_sk_value(names, index)?.assumingMemoryBound(to: GENERAL_NAME.self) else { continue }
            switch entry.pointee.type {
            case GEN_DNS:
                if let bytes = Self.bytes(entry.pointee.d.dNSName) {
                    result.append(.dnsName(String(decoding: bytes, as: UTF8.self)))
                }
            case GEN_IPADD:
                if let bytes = Self.bytes(entry.pointee.d.iPAddress), let text = IPAddress.text(fromBytes: bytes) {
                    result.append(.ipAddress(text))
                }
            default:
                continue
            }
        }
        return result
    }

    /// The signature algorithm's long name, e.g. `sha256WithRSAEncryption`.
    public var signatureAlgorithm: String {
        String(cString: OBJ_nid2ln(X509_get_signature_nid(pointer)))
    }

    /// The algorithm of the certified public key, when CertForge knows it.
    public var publicKeyAlgorithm: KeyAlgorithm? {
        guard let key = X509_get_pubkey(pointer) else { return nil }
        defer { EVP_PKEY_free(key) }
        switch EVP_PKEY_get_base_id(key) {
        case EVP_PKEY_RSA: return .rsa(bits: Int(EVP_PKEY_get_bits(key)))
        case EVP_PKEY_EC: return EVP_PKEY_get_bits(key) == 384 ? .ecdsaP384 : .ecdsaP256
        default: return nil
        }
    }

    /// The certified public key as DER SubjectPublicKeyInfo: the same key re-encoded, or re-issued
    /// in another certificate, has the same bytes here (how a store is searched for a root).
    public var subjectPublicKeyInfoDER: [UInt8] {
        guard let key = X509_get0_pubkey(pointer) else { return [] }
        var der: UnsafeMutablePointer<UInt8>?
        let length = i2d_PUBKEY(key, &der)
        guard length > 0, let der else { return [] }
        defer { shim_OPENSSL_free(der) }
        return Array(UnsafeBufferPointer(start: der, count: Int(length)))
    }

    /// The DER encoding.
    public var derBytes: [UInt8] {
        var der: UnsafeMutablePointer<UInt8>?
        let length = i2d_X509(pointer, &der)
        guard length > 0, let der else { return [] }
        defer { shim_OPENSSL_free(der) }
        return Array(UnsafeBufferPointer(start: der, count: Int(length)))
    }

    /// The PEM encoding, ending in a newline.
    public var pemString: String {
        let base64 = Data(derBytes).base64EncodedString(options: [.lineLength64Characters, .endLineWithLineFeed])
        return "-----BEGIN CERTIFICATE-----\n\(base64)\n-----END CERTIFICATE-----\n"
    }

    /// SHA-256 over the DER encoding.
    public var sha256Fingerprint: [UInt8] {
        var digest = [UInt8](repeating: 0, count: Int(EVP_MAX_MD_SIZE))
        var length: UInt32 = 0
        // Fails only when out of memory; the DER itself then stands in, still unique per certificate.
        guard X509_digest(pointer, EVP_sha256(), &digest, &length) == 1 else { return derBytes }
        return Array(digest.prefix(Int(length)))
    }

    /// The fingerprint as colon-separated uppercase hex, as `openssl x509 -fingerprint` prints it.
    public var sha256FingerprintText: String {
        sha256Fingerprint.map { $0.hex(width: 2, uppercase: true) }.joined(separator: ":")
    }

    /// OpenSSL's subject hash; `<hash>.0` is the file name the certificate needs in an `SSL_CERT_DIR`.
    public var subjectHash: String {
        X509_subject_name_hash(pointer).hex(width: 8)
    }

    /// Whether `issuer`'s key made this certificate's signature.
    public func isSigned(by issuer: Certificate) -> Bool {
        guard let key = X509_get0_pubkey(issuer.pointer) else { return false }
        defer { ERR_clear_error() }
        return X509_verify(pointer, key) == 1
    }

    /// One line for people: subject, issuer, key, signature, validity.
    public var summary: String {
        let day = Date.ISO8601FormatStyle().year().month().day()
        let key = publicKeyAlgorithm?.description ?? "unknown key"
        return "subject: \(subject) | issuer: \(issuer) | \(key), \(signatureAlgorithm) | valid \(notBefore.formatted(day)) to \(notAfter.formatted(day))"
    }

    public var description: String { "Certificate(\(subject))" }

    private static func date(_ time: UnsafePointer<ASN1_TIME>?) -> Date {
        var parts = tm()
        guard let time, ASN1_TIME_to_tm(time, &parts) == 1 else { return .distantPast }
        return Date(timeIntervalSince1970: TimeInterval(timegm(&parts)))
    }

    private static func bytes(_ string: UnsafePointer<ASN1_STRING>?) -> [UInt8]? {
        guard let string, let data = ASN1_STRING_get0_data(string) else { return nil }
        return Array(UnsafeBufferPointer(start: data, count: Int(ASN1_STRING_length(string))))
    }

    private static func bytes(_ string: UnsafeMutablePointer<ASN1_STRING>?) -> [UInt8]? {
        bytes(UnsafePointer(string))
    }
}
