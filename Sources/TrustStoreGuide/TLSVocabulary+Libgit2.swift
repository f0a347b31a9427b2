/// libgit2's certificate errors (cargo, the Rust git2 crate, pygit2, rugged, LibGit2Sharp, Julia's
/// package manager): each TLS stream sets its own message, with GIT_ECERTIFICATE (-17) as the
/// code (`class=Ssl (16); code=Certificate (-17)` in git2's Display). From libgit2's
/// src/libgit2/streams/{openssl,mbedtls,schannel}.c; the mbedTLS stream appends mbedTLS's own
/// verify-info sentence, listed here too because it is what names the reason.
extension TLSVocabulary {
    static let libgit2: [TLSVocabularyEntry] = [
        // The OpenSSL stream says only this for every verify failure.
        .init(.libgit2, "GIT_ECERTIFICATE", -17, "the SSL certificate is invalid", .untrustedUnknownShape),
        // The schannel stream: CertGetCertificateChain's trust status, then the SSL policy's error.
        .init(.libgit2, "CERT_TRUST_IS_NOT_TIME_VALID (libgit2)", nil, "certificate is expired or not yet valid", .expired),
        .init(.libgit2, "CERT_TRUST_IS_REVOKED (libgit2)", nil, "certificate is revoked", .revoked),
        .init(.libgit2, "CERT_TRUST_IS_UNTRUSTED_ROOT (libgit2)", nil, "certificate is not trusted", .untrustedUnknownShape),
        .init(.libgit2, "CERT_TRUST_REVOCATION_STATUS_UNKNOWN (libgit2)", nil, "certificate revocation status could not be verified", .revocationUnchecked),
        .init(.libgit2, "CERT_TRUST_IS_OFFLINE_REVOCATION (libgit2)", nil, "certificate revocation is offline or stale", .revocationUnchecked),
        .init(.libgit2, "CERT_TRUST_HAS_WEAK_SIGNATURE (libgit2)", nil, "certificate has a weak signature", .nonStrictCA),
        .init(.libgit2, "TRUST_E_CERT_SIGNATURE (libgit2)", nil, "the certificate cannot be verified", .staleRoot),
        .init(.libgit2, "CRYPT_E_REVOKED (libgit2)", nil, "the certificate or signature has been revoked", .revoked),
        .init(.libgit2, "CERT_E_UNTRUSTEDROOT (libgit2)", nil, "the certificate root is not trusted", .untrustedUnknownShape),
        .init(.libgit2, "CERT_E_UNTRUSTEDTESTROOT (libgit2)", nil, "the certificate root is a test certificate", .untrustedUnknownShape),
        .init(.libgit2, "CERT_E_CHAINING (libgit2)", nil, "the certificate chain is invalid", .untrustedUnknownShape),
        .init(.libgit2, "CERT_E_WRONG_USAGE (libgit2)", nil, "the certificate is not valid for this usage", .nonStrictCA),
        .init(.libgit2, "CERT_E_CN_NO_MATCH (libgit2)", nil, "certificate is not valid for this hostname", .hostnameMismatch),
        .init(.libgit2, "CERT_E_ROLE (libgit2)", nil, "certificate authority is not valid", .nonStrictCA),
        .init(.libgit2, "unknown certificate lookup failure", nil, "unknown certificate lookup failure", .untrustedUnknownShape),
        .init(.libgit2, "unknown certificate policy checking failure", nil, "unknown certificate policy checking failure", .untrustedUnknownShape),
        // The mbedTLS stream: "the SSL certificate is invalid: 0x08 - " + mbedTLS's verify info.
        .init(.libgit2, "MBEDTLS_X509_BADCERT_EXPIRED", nil, "The certificate validity has expired", .expired),
        .init(.libgit2, "MBEDTLS_X509_BADCERT_FUTURE", nil, "The certificate validity starts in the future", .notYetValid),
        .init(.libgit2, "MBEDTLS_X509_BADCERT_REVOKED", nil, "The certificate has been revoked (is on a CRL)", .revoked),
        .init(.libgit2, "MBEDTLS_X509_BADCERT_CN_MISMATCH", nil, "The certificate Common Name (CN) does not match with the expected CN", .hostnameMismatch),
        .init(.libgit2, "MBEDTLS_X509_BADCERT_NOT_TRUSTED", nil, "The certificate is not correctly signed by the trusted CA", .untrustedUnknownShape),
        .init(.libgit2, "MBEDTLS_X509_BADCERT_KEY_USAGE", nil, "Usage does not match the keyUsage extension", .nonStrictCA),
        .init(.libgit2, "MBEDTLS_X509_BADCERT_BAD_MD", nil, "The certificate is signed with an unacceptable hash", .nonStrictCA),
        .init(.libgit2, "MBEDTLS_X509_BADCERT_BAD_KEY", nil, "The certificate is signed with an unacceptable key (eg bad curve, RSA too short)", .nonStrictCA),
        .init(.libgit2, "failed to load CA certificates", nil, "failed to load CA certificates", .caFileUnusable),
    ]
}
