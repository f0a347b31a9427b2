import COpenSSL
import FoundationEssentials

/// The forms in which a root certificate is handed to clients and trust stores.
public enum TrustAnchorFormat: String, CaseIterable, Sendable {
    /// PEM text.
    case pem
    /// PEM text; Debian's update-ca-certificates only reads files ending in `.crt`.
    case crt
    /// DER bytes (`.cer`), for Windows and keytool.
    case der
    /// The PEM as one line of base64, for a Docker build argument.
    case base64
    /// PEM text under OpenSSL's hashed name `<subject_hash>.0`, for an `SSL_CERT_DIR`.
    case hashed
    /// A certificate-only PKCS#12 trust store (password `changeit`) that Java lists as a trustedCertEntry.
    case p12

    /// The password of the PKCS#12 trust store: Java's conventional trust-store password.
    public static let pkcs12Password = "changeit"

    /// The file name the export gets next to the other CA files.
    public func fileName(for certificate: Certificate, base: String) -> String {
        switch self {
        case .pem: return "\(base).pem"
        case .crt: return "\(base).crt"
        case .der: return "\(base).cer"
        case .base64: return "\(base).pem.b64"
        case .hashed: return "\(certificate.subjectHash).0"
        case .p12: return "\(base).p12"
        }
    }

    /// The exported bytes.
    public func encode(_ certificate: Certificate, friendlyName: String) throws -> [UInt8] {
        switch self {
        case .pem, .crt, .hashed: return Array(certificate.pemString.utf8)
        case .der: return certificate.derBytes
        case .base64: return Array((Data(certificate.pemString.utf8).base64EncodedString() + "\n").utf8)
        case .p12: return try Self.pkcs12TrustStore(certificate, friendlyName: friendlyName)
        }
    }

    private static func pkcs12TrustStore(_ certificate: Certificate, friendlyName: String) throws -> [UInt8] {
        var bags: OpaquePointer?
        defer { if let bags { shim_sk_PKCS12_SAFEBAG_pop_free(bags) } }
        guard let bag = PKCS12_add_cert(&bags, certificate.pointer) else { throw openSSLFailure("PKCS12_add_cert") }
        guard PKCS12_add_friendlyname_utf8(bag, friendlyName, -1) == 1 else { throw openSSLFailure("PKCS12_add_friendlyname_utf8") }
        // Java (keytool, JSSE) only treats a certificate bag as trusted with Oracle's trusted-key-usage
        // attribute; the value anyExtendedKeyUsage means "trusted for everything".
        let oracleTrustedKeyUsage = "2.16.840.1.113894.746875.1.1"
        var nid = OBJ_txt2nid(oracleTrustedKeyUsage)
        if nid == NID_undef { nid = OBJ_create(oracleTrustedKeyUsage, "oracle-jdk-trustedkeyusage", "Oracle JDK trusted key usage") }
        guard nid != NID_undef else { throw openSSLFailure("OBJ_create for Oracle's trusted key usage") }
        guard let anyUsage = OBJ_txt2obj("2.5.29.37.0", 1) else { throw openSSLFailure("OBJ_txt2obj") }
        defer { ASN1_OBJECT_free(anyUsage) }
        guard PKCS12_add1_attr_by_NID(bag, nid, V_ASN1_OBJECT, UnsafeRawPointer(anyUsage).assumingMemoryBound(to: UInt8.self), -1) == 1 else {
            throw openSSLFailure("adding the Java trust attribute")
        }
        var safes: OpaquePointer?
        defer { if let safes { shim_sk_PKCS7_pop_free(safes) } }
        guard PKCS12_add_safe(&safes, bags, -1, 0, nil) == 1,  // -1: an unencrypted safe (certificates are public)
              let p12 = PKCS12_add_safes(safes, 0) else { throw openSSLFailure("building the PKCS#12 store") }
        defer { PKCS12_free(p12) }
        guard PKCS12_set_mac(p12, pkcs12Password, -1, nil, 0, 2048, EVP_sha256()) == 1 else {
            throw openSSLFailure("PKCS12_set_mac")
        }
        var der: UnsafeMutablePointer<UInt8>?
        let length = i2d_PKCS12(p12, &der)
        guard length > 0, let der else { throw openSSLFailure("i2d_PKCS12") }
        defer { shim_OPENSSL_free(der) }
        return Array(UnsafeBufferPointer(start: der, count: Int(length)))
    }
}
