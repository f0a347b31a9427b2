import COpenSSL

/// What `ChainLint` reads from a certificate: the fields strict verifiers judge.
extension Certificate {
    /// 1 or 3 (X.509 v1 or v3).
    public var version: Int { Int(X509_get_version(pointer)) + 1 }

    /// RFC 5280 wants a positive serial; Go 1.23+ refuses a negative one.
    public var hasNegativeSerial: Bool {
        guard let serial = X509_get0_serialNumber(pointer) else { return false }
        return ASN1_STRING_type(serial) == V_ASN1_NEG_INTEGER
    }

    /// basicConstraints' pathLenConstraint, nil when absent.
    public var pathLength: Int? {
        let length = X509_get_pathlen(pointer)
        return length < 0 ? nil : Int(length)
    }

    /// Whether an extendedKeyUsage extension is present at all (absent means any use).
    public var hasExtendedKeyUsage: Bool { X509_get_extension_flags(pointer) & UInt32(EXFLAG_XKUSAGE) != 0 }

    /// The DER bytes of the subject and issuer names, for byte-comparing verifiers.
    public var subjectDER: [UInt8] { Self.der(of: X509_get_subject_name(pointer)) }
    public var issuerDER: [UInt8] { Self.der(of: X509_get_issuer_name(pointer)) }

    /// Whether `other`'s subject is this certificate's issuer, compared as OpenSSL does (canonical form).
    public func namesAsIssuer(_ other: Certificate) -> Bool {
        X509_NAME_cmp(X509_get_issuer_name(pointer), X509_get_subject_name(other.pointer)) == 0
    }

    /// Whether both certify the same public key (a root and a cross-certificate of it do).
    func hasSamePublicKey(as other: Certificate) -> Bool {
        guard let mine = X509_get0_pubkey(pointer), let theirs = X509_get0_pubkey(other.pointer) else { return false }
        return EVP_PKEY_eq(mine, theirs) == 1
    }

    /// Short names of the extensions marked critical.
    public var criticalExtensions: [String] {
        (0..<X509_get_ext_count(pointer)).compactMap { index in
            guard let ext = X509_get_ext(pointer, index), X509_EXTENSION_get_critical(ext) == 1 else { return nil }
            let nid = OBJ_obj2nid(X509_EXTENSION_get_object(ext))
            return nid == NID_undef ? "unknown" : String(cString: OBJ_nid2sn(nid))
        }
    }

    private static func der(of name: OpaquePointer?) -> [UInt8] {
        guard let name else { return [] }
        var buffer: UnsafeMutablePointer<UInt8>?
        let length = i2d_X509_NAME(name, &buffer)
        guard length > 0, let buffer else { return [] }
        defer { shim_OPENSSL_free(buffer) }
        return Array(UnsafeBufferPointer(start: buffer, count: Int(length)))
    }
}
