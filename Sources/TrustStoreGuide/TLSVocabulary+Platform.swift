/// The platform verifiers: NSS (lib/util/secerr.h, SEC_ERROR_BASE -8192; SSL_ERROR_BASE -12288;
/// mozilla::pkix's MOZILLA_PKIX_ERROR_*, numbers left out), schannel/CryptoAPI (winerror.h
/// HRESULTs and their FormatMessage texts), .NET's X509ChainStatusFlags and SslPolicyErrors
/// (names as .NET prints them, text from their documentation), and curl's TLS exit codes
/// (libcurl-errors, curl_easy_strerror).
extension TLSVocabulary {
    static let nss: [TLSVocabularyEntry] = [
        .init(.nss, "SEC_ERROR_BAD_SIGNATURE", -8182, "Peer's certificate has an invalid signature", .staleRoot),
        .init(.nss, "SEC_ERROR_EXPIRED_CERTIFICATE", -8181, "Peer's Certificate has expired", .expired),
        .init(.nss, "SEC_ERROR_REVOKED_CERTIFICATE", -8180, "Peer's Certificate has been revoked", .revoked),
        .init(.nss, "SEC_ERROR_UNKNOWN_ISSUER", -8179, "Peer's Certificate issuer is not recognized", .untrustedUnknownShape),
        .init(.nss, "SEC_ERROR_UNTRUSTED_ISSUER", -8172, "Peer's certificate issuer has been marked as not trusted by the user", .untrustedUnknownShape),
        .init(.nss, "SEC_ERROR_UNTRUSTED_CERT", -8171, "Peer's certificate has been marked as not trusted by the user", .untrustedUnknownShape),
        .init(.nss, "SEC_ERROR_EXPIRED_ISSUER_CERTIFICATE", -8162, "Peer's certificate issuer has expired", .expired),
        .init(.nss, "SEC_ERROR_CRL_EXPIRED", -8161, "The CRL for the certificate's issuer has expired", .revocationUnchecked),
        .init(.nss, "SEC_ERROR_CA_CERT_INVALID", -8156, "Issuer certificate is invalid", .nonStrictCA),
        .init(.nss, "SEC_ERROR_UNKNOWN_CRITICAL_EXTENSION", -8151, "Certificate contains unknown critical extension", .nonStrictCA),
        .init(.nss, "SEC_ERROR_INADEQUATE_KEY_USAGE", -8102, "Certificate key usage inadequate for attempted operation", .nonStrictCA),
        .init(.nss, "SEC_ERROR_CERT_SIGNATURE_ALGORITHM_DISABLED", -8016, "The certificate was signed using a signature algorithm that is disabled because it is not secure", .nonStrictCA),
        .init(.nss, "SEC_ERROR_OCSP_SERVER_ERROR", nil, "The OCSP server experienced an internal error", .revocationUnchecked),
        .init(.nss, "SEC_ERROR_OCSP_UNKNOWN_CERT", nil, "The OCSP server has no status for the certificate", .revocationUnchecked),
        .init(.nss, "SSL_ERROR_BAD_CERT_DOMAIN", -12276, "requested domain name does not match the server's certificate", .hostnameMismatch),
        .init(.nss, "MOZILLA_PKIX_ERROR_SELF_SIGNED_CERT", nil, "The certificate is not trusted because it is self-signed", .selfSignedLeaf),
        .init(.nss, "MOZILLA_PKIX_ERROR_NOT_YET_VALID_CERTIFICATE", nil, "The server presented a certificate that is not yet valid", .notYetValid),
        .init(.nss, "MOZILLA_PKIX_ERROR_NOT_YET_VALID_ISSUER_CERTIFICATE", nil, "A certificate that is not yet valid was used to issue the server's certificate", .notYetValid),
        .init(.nss, "MOZILLA_PKIX_ERROR_CA_CERT_USED_AS_END_ENTITY", nil, "The server uses a certificate with a basic constraints extension identifying it as a certificate authority", .caUsedAsLeaf),
        .init(.nss, "MOZILLA_PKIX_ERROR_V1_CERT_USED_AS_CA", nil, "An X.509 version 1 certificate that is not a trust anchor was used to issue the server's certificate", .nonStrictCA),
        .init(.nss, "MOZILLA_PKIX_ERROR_INADEQUATE_KEY_SIZE", nil, "The server presented a certificate with a key size that is too small", .nonStrictCA),
    ]

    static let schannel: [TLSVocabularyEntry] = [
        .init(.schannel, "SEC_E_UNTRUSTED_ROOT", 0x8009_0325, "The certificate chain was issued by an authority that is not trusted", .untrustedUnknownShape),
        .init(.schannel, "SEC_E_CERT_EXPIRED", 0x8009_0328, "The received certificate has expired", .expired),
        .init(.schannel, "SEC_E_WRONG_PRINCIPAL", 0x8009_0322, "The target principal name is incorrect", .hostnameMismatch),
        .init(.schannel, "SEC_E_CERT_UNKNOWN", 0x8009_0327, "An unknown error occurred while processing the certificate", .untrustedUnknownShape),
        // Ambiguous by design: CryptoAPI says the same before notBefore and after notAfter.
        .init(.schannel, "CERT_E_EXPIRED", 0x800B_0101, "A required certificate is not within its validity period when verifying against the current system clock", .expired),
        .init(.schannel, "CERT_E_VALIDITYPERIODNESTING", 0x800B_0102, "The validity periods of the certification chain do not nest correctly", .nonStrictCA),
        .init(.schannel, "CERT_E_ROLE", 0x800B_0103, "A certificate that can only be used as an end-entity is being used as a CA or vice versa", .nonStrictCA),
        .init(.schannel, "CERT_E_PATHLENCONST", 0x800B_0104, "A path length constraint in the certification chain has been violated", .nonStrictCA),
        .init(.schannel, "CERT_E_CRITICAL", 0x800B_0105, "A certificate contains an unknown extension that is marked 'critical'", .nonStrictCA),
        .init(.schannel, "CERT_E_PURPOSE", 0x800B_0106, "A certificate being used for a purpose other than the ones specified by its CA", .nonStrictCA),
        .init(.schannel, "CERT_E_UNTRUSTEDROOT", 0x800B_0109, "terminated in a root certificate which is not trusted by the trust provider", .untrustedUnknownShape),
        .init(.schannel, "CERT_E_CHAINING", 0x800B_010A, "A certificate chain could not be built to a trusted root authority", .untrustedUnknownShape),
        .init(.schannel, "CERT_E_REVOKED", 0x800B_010C, "A certificate was explicitly revoked by its issuer", .revoked),
        .init(.schannel, "CERT_E_UNTRUSTEDTESTROOT", 0x800B_010D, "The certification path terminates in the test root which is not trusted with the current policy settings", .untrustedUnknownShape),
        .init(.schannel, "CERT_E_REVOCATION_FAILURE", 0x800B_010E, "The revocation process could not continue - the certificate(s) could not be checked", .revocationUnchecked),
        .init(.schannel, "CERT_E_CN_NO_MATCH", 0x800B_010F, "The certificate's CN name does not match the passed value", .hostnameMismatch),
        .init(.schannel, "CERT_E_WRONG_USAGE", 0x800B_0110, "The certificate is not valid for the requested usage", .nonStrictCA),
        .init(.schannel, "CERT_E_INVALID_NAME", 0x800B_0114, "The certificate has an invalid name. The name is not included in the permitted list or is explicitly excluded", .nonStrictCA),
        .init(.schannel, "CRYPT_E_REVOKED", 0x8009_2010, "The certificate is revoked", .revoked),
        .init(.schannel, "CRYPT_E_NO_REVOCATION_CHECK", 0x8009_2012, "The revocation function was unable to check revocation for the certificate", .revocationUnchecked),
        .init(.schannel, "CRYPT_E_REVOCATION_OFFLINE", 0x8009_2013, "The revocation function was unable to check revocation because the revocation server was offline", .revocationUnchecked),
        .init(.schannel, "TRUST_E_CERT_SIGNATURE", 0x8009_6004, "The signature of the certificate cannot be verified", .staleRoot),
    ]

    static let dotnet: [TLSVocabularyEntry] = [
        .init(.dotnet, "NotTimeValid", nil, "Specifies that the X509 chain is not valid due to an invalid time value, such as a value that indicates an expired certificate", .expired),
        .init(.dotnet, "NotTimeNested", nil, "Deprecated. Specifies that the CA (certificate authority) certificate and the issued certificate have validity periods that are not nested", .nonStrictCA),
        .init(.dotnet, "Revoked", nil, "Specifies that the X509 chain is invalid due to a revoked certificate", .revoked),
        .init(.dotnet, "NotSignatureValid", nil, "Specifies that the X509 chain is invalid due to an invalid certificate signature", .staleRoot),
        .init(.dotnet, "NotValidForUsage", nil, "Specifies that the key usage is not valid", .nonStrictCA),
        .init(.dotnet, "UntrustedRoot", nil, "Specifies that the X509 chain is invalid due to an untrusted root certificate", .untrustedRootSent),
        .init(.dotnet, "RevocationStatusUnknown", nil, "Specifies that it is not possible to determine whether the certificate has been revoked", .revocationUnchecked),
        .init(.dotnet, "Cyclic", nil, "Specifies that the X509 chain could not be built", .nonStrictCA),
        .init(.dotnet, "InvalidExtension", nil, "Specifies that the X509 chain is invalid due to an invalid extension", .nonStrictCA),
        .init(.dotnet, "InvalidPolicyConstraints", nil, "Specifies that the X509 chain is invalid due to invalid policy constraints", .nonStrictCA),
        .init(.dotnet, "InvalidBasicConstraints", nil, "Specifies that the X509 chain is invalid due to invalid basic constraints", .nonStrictCA),
        .init(.dotnet, "InvalidNameConstraints", nil, "Specifies that the X509 chain is invalid due to invalid name constraints", .nonStrictCA),
        .init(.dotnet, "HasNotSupportedNameConstraint", nil, "Specifies that the certificate does not have a supported name constraint or has a name constraint that is unsupported", .nonStrictCA),
        .init(.dotnet, "HasNotDefinedNameConstraint", nil, "Specifies that the certificate has an undefined name constraint", .nonStrictCA),
        .init(.dotnet, "HasNotPermittedNameConstraint", nil, "Specifies that the certificate has an impermissible name constraint", .nonStrictCA),
        .init(.dotnet, "HasExcludedNameConstraint", nil, "Specifies that the X509 chain is invalid because a certificate has excluded a name constraint", .nonStrictCA),
        .init(.dotnet, "PartialChain", nil, "Specifies that the X509 chain could not be built up to the root certificate", .untrustedRootNotSent),
        .init(.dotnet, "CtlNotTimeValid", nil, "Specifies that the certificate trust list (CTL) is not valid because of an invalid time value", .untrustedUnknownShape),
        .init(.dotnet, "CtlNotSignatureValid", nil, "Specifies that the certificate trust list (CTL) contains an invalid signature", .untrustedUnknownShape),
        .init(.dotnet, "CtlNotValidForUsage", nil, "Specifies that the certificate trust list (CTL) is not valid for this use", .untrustedUnknownShape),
        .init(.dotnet, "HasWeakSignature", nil, "Specifies that the certificate was signed with a weak signature", .nonStrictCA),
        .init(.dotnet, "OfflineRevocation", nil, "Specifies that the online certificate revocation list (CRL) the X509 chain relies on is currently offline", .revocationUnchecked),
        .init(.dotnet, "NoIssuanceChainPolicy", nil, "Specifies that there is no certificate policy extension in the certificate", .nonStrictCA),
        .init(.dotnet, "ExplicitDistrust", nil, "Specifies that the certificate is explicitly distrusted", .untrustedUnknownShape),
        .init(.dotnet, "HasNotSupportedCriticalExtension", nil, "Specifies that the certificate does not support a critical extension", .nonStrictCA),
        .init(.dotnet, "RemoteCertificateNameMismatch", nil, "Certificate name mismatch", .hostnameMismatch),
    ]

    /// curl's exit codes for TLS: they wrap the TLS library's own words, which decide first.
    static let curl: [TLSVocabularyEntry] = [
        // A handshake that did not complete; behind a gateway mostly schannel's revocation check or a refused hello.
        .init(.curl, "CURLE_SSL_CONNECT_ERROR", 35, "SSL connect error", .untrustedUnknownShape),
        // Before curl 7.62 51 was the failed name check; curl.h now calls it CURLE_OBSOLETE51.
        .init(.curl, "CURLE_OBSOLETE51", 51, "SSL: no alternative certificate subject name matches target host name", .hostnameMismatch),
        .init(.curl, "CURLE_SSL_CERTPROBLEM", 58, "Problem with the local SSL certificate", .caFileUnusable),
        // 60 was CURLE_SSL_CACERT ("Peer certificate cannot be authenticated with given CA certificates") before 7.62.
        .init(.curl, "CURLE_PEER_FAILED_VERIFICATION", 60, "SSL peer certificate or SSH remote key was not OK", .untrustedUnknownShape),
        .init(.curl, "CURLE_SSL_CACERT", 60, "Peer certificate cannot be authenticated with given CA certificates", .untrustedUnknownShape),
        .init(.curl, "CURLE_SSL_CACERT_BADFILE", 77, "Problem with the SSL CA cert (path? access rights?)", .caFileUnusable),
        .init(.curl, "CURLE_SSL_ISSUER_ERROR", 83, "SSL Issuer check failed", .untrustedUnknownShape),
    ]
}
