import COpenSSL
import FoundationEssentials

/// keyUsage bits CertForge writes.
public struct KeyUsage: OptionSet, Hashable, Sendable {
    public let rawValue: UInt32
    public init(rawValue: UInt32) { self.rawValue = rawValue }

    public static let digitalSignature = KeyUsage(rawValue: 1 << 0)
    public static let keyEncipherment = KeyUsage(rawValue: 1 << 1)
    public static let keyCertSign = KeyUsage(rawValue: 1 << 2)
    public static let cRLSign = KeyUsage(rawValue: 1 << 3)

    init(openSSLBits bits: UInt32) {
        var usage: KeyUsage = []
        if bits & UInt32(KU_DIGITAL_SIGNATURE) != 0 { usage.insert(.digitalSignature) }
        if bits & UInt32(KU_KEY_ENCIPHERMENT) != 0 { usage.insert(.keyEncipherment) }
        if bits & UInt32(KU_KEY_CERT_SIGN) != 0 { usage.insert(.keyCertSign) }
        if bits & UInt32(KU_CRL_SIGN) != 0 { usage.insert(.cRLSign) }
        self = usage
    }

    /// The value in OpenSSL's extension configuration syntax.
    var configValue: String {
        var names: [String] = []
        if contains(.digitalSignature) { names.append("digitalSignature") }
        if contains(.keyEncipherment) { names.append("keyEncipherment") }
        if contains(.keyCertSign) { names.append("keyCertSign") }
        if contains(.cRLSign) { names.append("cRLSign") }
        return names.joined(separator: ",")
    }
}

/// The X.509 v3 extensions CertForge writes, in the order they are added.
public enum CertificateExtension: Hashable, Sendable {
    case basicConstraints(isCA: Bool, pathLength: Int? = nil, critical: Bool)
    case keyUsage(KeyUsage, critical: Bool)
    case serverAuthExtendedKeyUsage
    /// Critical when the subject is empty, as RFC 5280 requires.
    case subjectAlternativeNames([SubjectAlternativeName], critical: Bool = false)
    /// The SHA-1 hash of the subject public key (RFC 5280 method 1).
    case subjectKeyIdentifier
    /// The issuer's subject key identifier.
    case authorityKeyIdentifier
    /// The issuer's name and serial number instead (for an issuer without a subject key identifier).
    case authorityKeyIdentifierByIssuerName
    /// Both: the key id and the issuer's name and serial, as older CA software (Zscaler's and
    /// Netskope's roots) wrote it, even into self-signed roots.
    case authorityKeyIdentifierWithIssuerName
    /// anyPolicy; critical only in gateway quirks (RFC 5280 lets CAs mark it, some verifiers refuse).
    case certificatePolicies(critical: Bool)
    /// Critical: the names this CA (and every CA below it) may sign for.
    case nameConstraints(NameConstraints)

    var nid: Int32 {
        switch self {
        case .basicConstraints: return NID_basic_constraints
        case .keyUsage: return NID_key_usage
        case .serverAuthExtendedKeyUsage: return NID_ext_key_usage
        case .subjectAlternativeNames: return NID_subject_alt_name
        case .subjectKeyIdentifier: return NID_subject_key_identifier
        case .authorityKeyIdentifier, .authorityKeyIdentifierByIssuerName, .authorityKeyIdentifierWithIssuerName:
            return NID_authority_key_identifier
        case .certificatePolicies: return NID_certificate_policies
        case .nameConstraints: return NID_name_constraints
        }
    }

    /// The value in OpenSSL's extension configuration syntax. Names are validated before they get here.
    var configValue: String {
        switch self {
        case let .basicConstraints(isCA, pathLength, critical):
            var value = (critical ? "critical," : "") + (isCA ? "CA:TRUE" : "CA:FALSE")
            if isCA, let pathLength { value += ",pathlen:\(pathLength)" }
            return value
        case let .keyUsage(usage, critical):
            return (critical ? "critical," : "") + usage.configValue
        case .serverAuthExtendedKeyUsage:
            return "serverAuth"
        case let .subjectAlternativeNames(names, critical):
            return (critical ? "critical," : "") + names.map(\.description).joined(separator: ",")
        case .subjectKeyIdentifier:
            return "hash"
        case .authorityKeyIdentifier:
            return "keyid:always"
        case .authorityKeyIdentifierByIssuerName:
            return "issuer:always"
        case .authorityKeyIdentifierWithIssuerName:
            return "keyid:always,issuer:always"
        case let .certificatePolicies(critical):
            return (critical ? "critical," : "") + "2.5.29.32.0"
        case let .nameConstraints(constraints):
            return constraints.configValue
        }
    }
}

/// The digest a certificate is signed with.
public enum SignatureDigest: String, Hashable, Sendable {
    case sha256
    case sha1

    var evp: OpaquePointer? {
        switch self {
        case .sha256: return EVP_sha256()
        case .sha1: return EVP_sha1()
        }
    }
}

/// Who signs a certificate being built.
public enum Signer: Sendable {
    /// The certificate signs itself with the private half of its own key.
    case selfSigned(PrivateKey)
    /// An issuing CA signs it.
    case issuer(Certificate, PrivateKey)
}

/// Describes a certificate and signs it. A value type: copy it, change a field, sign again.
public struct CertificateBuilder: Sendable {
    public var subject: DistinguishedName
    public var notBefore: Date
    public var notAfter: Date
    public var extensions: [CertificateExtension]
    public var digest: SignatureDigest = .sha256
    /// X.509 v1 carries no extensions: set only to reproduce old roots (`extensions` must be empty).
    public var isVersion1 = false
    /// A negative serial (RFC 5280 forbids it; Go 1.23+ refuses it), to reproduce gateways that emit one.
    public var negativeSerial = false
    /// The issuer name written as PrintableString, while the issuer's own subject is UTF8String:
    /// the same name, encoded differently, which byte-comparing verifiers fail to chain.
    public var issuerAsPrintableString = false
    /// The subject written as PrintableString (where its characters allow), as CAs made before
    /// UTF8String became RFC 5280's choice wrote it; children copy the bytes into their issuer.
    public var subjectAsPrintableString = false

    public init(subject: DistinguishedName, notBefore: Date, notAfter: Date, extensions: [CertificateExtension]) {
        self.subject = subject
        self.notBefore = notBefore
        self.notAfter = notAfter
        self.extensions = extensions
    }

    /// Signs a certificate for `publicKey` (only its public half is certified) with a random positive serial.
    public func sign(publicKey: PrivateKey, signer: Signer) throws -> Certificate {
        guard let x509 = X509_new() else { throw openSSLFailure("X509_new") }
        let certificate = Certificate(taking: x509)  // frees x509 on any throw below

        precondition(!isVersion1 || extensions.isEmpty, "a v1 certificate has no extensions")
        guard X509_set_version(x509, Int(isVersion1 ? X509_VERSION_1 : X509_VERSION_3)) == 1 else { throw openSSLFailure("X509_set_version") }
        try Self.setRandomSerial(x509, negative: negativeSerial)

        let subjectName = try subject.makeX509Name(stringType: subjectAsPrintableString ? .printable : .utf8)
        defer { X509_NAME_free(subjectName) }
        guard X509_set_subject_name(x509, subjectName) == 1 else { throw openSSLFailure("X509_set_subject_name") }

        let (issuerCertificate, signingKey): (OpaquePointer, PrivateKey)
        switch signer {
        case let .selfSigned(key): (issuerCertificate, signingKey) = (x509, key)
        case let .issuer(certificate, key): (issuerCertificate, signingKey) = (certificate.pointer, key)
        }
        if issuerAsPrintableString, case let .issuer(certificate, _) = signer {
            let issuerName = try certificate.subject.makeX509Name(stringType: .printable)
            defer { X509_NAME_free(issuerName) }
            guard X509_set_issuer_name(x509, issuerName) == 1 else { throw openSSLFailure("X509_set_issuer_name") }
        } else {
            guard X509_set_issuer_name(x509, X509_get_subject_name(issuerCertificate)) == 1 else {
                throw openSSLFailure("X509_set_issuer_name")
            }
        }
        guard ASN1_TIME_set(X509_getm_notBefore(x509), time_t(notBefore.timeIntervalSince1970)) != nil,
              ASN1_TIME_set(X509_getm_notAfter(x509), time_t(notAfter.timeIntervalSince1970)) != nil else {
            throw openSSLFailure("setting the validity period")
        }
        guard X509_set_pubkey(x509, publicKey.certificateKeyPointer) == 1 else { throw openSSLFailure("X509_set_pubkey") }

        var context = X509V3_CTX()
        X509V3_set_ctx(&context, issuerCertificate, x509, nil, nil, 0)
        for ext in extensions {
            if case let .certificatePolicies(critical) = ext {
                try Self.addAnyPolicy(to: x509, critical: critical)
                continue
            }
            guard let encoded = X509V3_EXT_nconf_nid(nil, &context, ext.nid, ext.configValue) else {
                throw CertForgeError.openSSL(
                    operation: "encoding extension \(String(cString: OBJ_nid2sn(ext.nid))) = \(ext.configValue)",
                    detail: openSSLErrorQueue())
            }
            defer { X509_EXTENSION_free(encoded) }
            guard X509_add_ext(x509, encoded, -1) == 1 else { throw openSSLFailure("X509_add_ext") }
        }

        guard X509_sign(x509, signingKey.pointer, digest.evp) > 0 else {
            throw openSSLFailure("signing the certificate for \(subject)")
        }
        return certificate
    }

    /// certificatePolicies { anyPolicy }, written as DER: OpenSSL's text form of this extension
    /// wants a configuration database.
    private static func addAnyPolicy(to x509: OpaquePointer, critical: Bool) throws {
        let der: [UInt8] = [0x30, 0x08, 0x30, 0x06, 0x06, 0x04, 0x55, 0x1D, 0x20, 0x00]
        guard let value = ASN1_OCTET_STRING_new() else { throw openSSLFailure("ASN1_OCTET_STRING_new") }
        defer { ASN1_OCTET_STRING_free(value) }
        guard ASN1_OCTET_STRING_set(value, der, Int32(der.count)) == 1,
              let encoded = X509_EXTENSION_create_by_NID(nil, NID_certificate_policies, critical ? 1 : 0, value) else {
            throw openSSLFailure("encoding certificatePolicies")
        }
        defer { X509_EXTENSION_free(encoded) }
        guard X509_add_ext(x509, encoded, -1) == 1 else { throw openSSLFailure("X509_add_ext") }
    }

    /// 127 random bits with the top bit set: positive, non-zero and always 16 DER bytes.
    private static func setRandomSerial(_ x509: OpaquePointer, negative: Bool) throws {
        guard let bn = BN_new() else { throw openSSLFailure("BN_new") }
        defer { BN_free(bn) }
        guard BN_rand(bn, 127, BN_RAND_TOP_ONE, BN_RAND_BOTTOM_ANY) == 1 else { throw openSSLFailure("generating a serial number") }
        if negative { BN_set_negative(bn, 1) }
        guard let serial = BN_to_ASN1_INTEGER(bn, nil) else { throw openSSLFailure("encoding the serial number") }
        defer { ASN1_INTEGER_free(serial) }
        guard X509_set_serialNumber(x509, serial) == 1 else { throw openSSLFailure("X509_set_serialNumber") }
    }
}
