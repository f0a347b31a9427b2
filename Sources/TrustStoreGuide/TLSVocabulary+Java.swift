/// Java's PKIX validator and CertificateException messages (OpenJDK sun.security.provider.certpath,
/// sun.security.validator, sun.security.util.HostnameChecker, java.security.cert), with codes
/// that are the exception classes or the CertPathValidatorException reasons (BasicReason,
/// PKIXReason) where the message belongs to one.
extension TLSVocabulary {
    static let java: [TLSVocabularyEntry] = [
        .init(.java, "SunCertPathBuilderException", nil, "unable to find valid certification path to requested target", .untrustedUnknownShape),
        .init(.java, "ValidatorException", nil, "PKIX path building failed", .untrustedUnknownShape),
        .init(.java, "NO_TRUST_ANCHOR", nil, "Path does not chain with any of the trust anchors", .untrustedUnknownShape),
        .init(.java, "ValidatorException", nil, "No trusted certificate found", .untrustedUnknownShape),
        // PKIXParameters refuses an empty set: the JVM's cacerts (or javax.net.ssl.trustStore) holds no certificate.
        .init(.java, "PKIXParameters.setTrustAnchors", nil, "the trustAnchors parameter must be non-empty", .emptyTrustStore),
        // BasicChecker says "validity check failed" for either end of the validity (reason EXPIRED or
        // NOT_YET_VALID); the exception it wraps tells them apart by the date it names.
        .init(.java, "EXPIRED", nil, "validity check failed", .expired),
        .init(.java, "EXPIRED", nil, "timestamp check failed", .expired),
        // The message is only "NotAfter: <date>" / "NotBefore: <date>": with the class name, so that
        // openssl s_client's certificate listing ("v:NotBefore: ...; NotAfter: ...") is not read as one.
        .init(.java, "CertificateExpiredException", nil, "CertificateExpiredException: NotAfter:", .expired),
        .init(.java, "CertificateNotYetValidException", nil, "CertificateNotYetValidException: NotBefore:", .notYetValid),
        // X509CertImpl.verify: the issuer found by name did not make the signature (a rotated root).
        .init(.java, "SignatureException", nil, "Signature does not match", .staleRoot),
        .init(.java, "INVALID_SIGNATURE", nil, "signature check failed", .staleRoot),
        .init(.java, "REVOKED", nil, "Certificate has been revoked, reason:", .revoked),
        .init(.java, "UNDETERMINED_REVOCATION_STATUS", nil, "Could not determine revocation status", .revocationUnchecked),
        .init(.java, "ALGORITHM_CONSTRAINED", nil, "Algorithm constraints check failed", .nonStrictCA),
        .init(.java, "NOT_CA_CERT", nil, "basic constraints check failed: this is not a CA certificate", .nonStrictCA),
        .init(.java, "PATH_TOO_LONG", nil, "basic constraints check failed: pathLenConstraint violated", .nonStrictCA),
        .init(.java, "INVALID_KEY_USAGE", nil, "Extended key usage does not permit use for TLS server authentication", .nonStrictCA),
        .init(.java, "UNRECOGNIZED_CRIT_EXT", nil, "Unrecognized critical extension(s)", .nonStrictCA),
        .init(.java, "INVALID_NAME", nil, "name constraints check failed", .nonStrictCA),
        .init(.java, "INVALID_POLICY", nil, "certificate policies check failed", .nonStrictCA),
        .init(.java, "NAME_CHAINING", nil, "subject/issuer name chaining check failed", .nonStrictCA),
        // HostnameChecker's words for a certificate issued to another name.
        .init(.java, "HostnameChecker", nil, "No subject alternative DNS name matching", .hostnameMismatch),
        .init(.java, "HostnameChecker", nil, "No subject alternative names present", .hostnameMismatch),
        .init(.java, "HostnameChecker", nil, "No subject alternative names matching IP address", .hostnameMismatch),
        .init(.java, "HostnameChecker", nil, "No name matching", .hostnameMismatch),
        // A trust store file that javax.net.ssl.trustStore names but the JVM cannot open.
        .init(.java, "KeyStoreException", nil, "problem accessing trust store", .caFileUnusable),
        .init(.java, "UnrecoverableKeyException", nil, "Keystore was tampered with, or password was incorrect", .caFileUnusable),
        .init(.java, "JavaKeyStore", nil, "Invalid keystore format", .caFileUnusable),
    ]

    /// GnuTLS's gnutls_certificate_status_t flags and the words
    /// gnutls_certificate_verification_status_print gives them (lib/cert-session.c): what wget,
    /// git (libcurl-gnutls), apt and lynx print after "The certificate is NOT trusted."
    static let gnutls: [TLSVocabularyEntry] = [
        .init(.gnutls, "GNUTLS_CERT_SIGNER_NOT_FOUND", nil, "The certificate issuer is unknown", .untrustedUnknownShape),
        .init(.gnutls, "GNUTLS_CERT_REVOKED", nil, "The certificate chain is revoked", .revoked),
        .init(.gnutls, "GNUTLS_CERT_SIGNER_NOT_CA", nil, "The certificate issuer is not a CA", .nonStrictCA),
        .init(.gnutls, "GNUTLS_CERT_INSECURE_ALGORITHM", nil, "The certificate chain uses insecure algorithm", .nonStrictCA),
        .init(.gnutls, "GNUTLS_CERT_SIGNER_CONSTRAINTS_FAILURE", nil, "The certificate chain violates the signer's constraints", .nonStrictCA),
        .init(.gnutls, "GNUTLS_CERT_PURPOSE_MISMATCH", nil, "The certificate chain does not match the intended purpose", .nonStrictCA),
        .init(.gnutls, "GNUTLS_CERT_NOT_ACTIVATED", nil, "The certificate chain uses not yet valid certificate", .notYetValid),
        .init(.gnutls, "GNUTLS_CERT_EXPIRED", nil, "The certificate chain uses expired certificate", .expired),
        .init(.gnutls, "GNUTLS_CERT_SIGNATURE_FAILURE", nil, "The signature in the certificate is invalid", .staleRoot),
        .init(.gnutls, "GNUTLS_CERT_UNEXPECTED_OWNER", nil, "The name in the certificate does not match the expected", .hostnameMismatch),
        .init(.gnutls, "GNUTLS_CERT_REVOCATION_DATA_SUPERSEDED", nil, "The revocation or OCSP data are old and have been superseded", .revocationUnchecked),
        .init(.gnutls, "GNUTLS_CERT_REVOCATION_DATA_ISSUED_IN_FUTURE", nil, "The revocation or OCSP data are issued with a future date", .revocationUnchecked),
        .init(.gnutls, "GNUTLS_CERT_MISSING_OCSP_STATUS", nil, "The certificate requires the server to include an OCSP status in its response, but the OCSP status is missing", .revocationUnchecked),
        .init(.gnutls, "GNUTLS_CERT_INVALID_OCSP_STATUS", nil, "The received OCSP status response is invalid", .revocationUnchecked),
        .init(.gnutls, "GNUTLS_CERT_UNKNOWN_CRIT_EXTENSIONS", nil, "The certificate contains an unknown critical extension", .nonStrictCA),
        // The summary flag every failure sets: the specific flag, when printed, decides first (longer).
        .init(.gnutls, "GNUTLS_CERT_INVALID", nil, "The certificate is NOT trusted", .untrustedUnknownShape),
    ]
}
