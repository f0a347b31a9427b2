/// Go's crypto/x509 (verify.go, root.go, x509.go): the error types and the
/// CertificateInvalidError reasons with the words their Error() prints (the stable part, before
/// the names and dates filled in), and the signature errors of crypto/rsa and crypto/ecdsa that
/// show inside UnknownAuthorityError's "possibly because of" hint. Codes are the Go identifiers.
extension TLSVocabulary {
    static let go: [TLSVocabularyEntry] = [
        .init(.go, "UnknownAuthorityError", nil, "x509: certificate signed by unknown authority", .untrustedUnknownShape),
        .init(.go, "SystemRootsError", nil, "x509: failed to load system roots and no roots provided", .emptyTrustStore),
        .init(.go, "HostnameError", nil, "x509: certificate is valid for", .hostnameMismatch),
        .init(.go, "HostnameError", nil, "x509: certificate is not valid for any names, but wanted to match", .hostnameMismatch),
        .init(.go, "HostnameError", nil, "because it doesn't contain any IP SANs", .hostnameMismatch),
        // Go 1.15+: a certificate with only a Common Name (the GODEBUG setting that once allowed it names the case).
        .init(.go, "x509ignoreCN", nil, "x509: certificate relies on legacy Common Name field", .nonStrictCA),
        // CertificateInvalidError reasons (InvalidReason constants).
        .init(.go, "NotAuthorizedToSign", nil, "x509: certificate is not authorized to sign other certificates", .nonStrictCA),
        // Expired covers both ends of the validity; ErrorExplanation reads "is before" / "is after" in its detail.
        .init(.go, "Expired", nil, "x509: certificate has expired or is not yet valid", .expired),
        .init(.go, "CANotAuthorizedForThisName", nil, "x509: a root or intermediate certificate is not authorized to sign for this name", .nonStrictCA),
        .init(.go, "TooManyIntermediates", nil, "x509: too many intermediates for path length constraint", .nonStrictCA),
        .init(.go, "IncompatibleUsage", nil, "x509: certificate specifies an incompatible key usage", .nonStrictCA),
        .init(.go, "NameMismatch", nil, "x509: issuer name does not match subject from issuing certificate", .nonStrictCA),
        .init(.go, "NameConstraintsWithoutSANs", nil, "x509: issuer has name constraints but leaf doesn't have a SAN extension", .nonStrictCA),
        .init(.go, "UnconstrainedName", nil, "x509: issuer has name constraints but leaf contains unknown or unconstrained name", .nonStrictCA),
        .init(.go, "CANotAuthorizedForExtKeyUsage", nil, "x509: a root or intermediate certificate is not authorized for an extended key usage", .nonStrictCA),
        .init(.go, "NoValidChains", nil, "x509: no valid chains built", .nonStrictCA),
        // Other verify errors.
        .init(.go, "ConstraintViolationError", nil, "x509: invalid signature: parent certificate cannot sign this kind of certificate", .nonStrictCA),
        .init(.go, "InsecureAlgorithmError", nil, "x509: cannot verify signature: insecure algorithm", .nonStrictCA),
        .init(.go, "UnhandledCriticalExtension", nil, "x509: unhandled critical extension", .nonStrictCA),
        .init(.go, "ErrUnsupportedAlgorithm", nil, "x509: cannot verify signature: algorithm unimplemented", .nonStrictCA),
        // A candidate issuer with the right name whose key did not make the signature: a rotated root.
        .init(.go, "ErrVerification", nil, "crypto/rsa: verification error", .staleRoot),
        .init(.go, "CheckSignature", nil, "x509: ECDSA verification failure", .staleRoot),
        .init(.go, "CheckSignature", nil, "x509: Ed25519 verification failure", .staleRoot),
    ]

    /// rustls's CertificateError (rustls/src/error.rs) and webpki's Error (rustls-webpki
    /// src/error.rs), as rustls prints them: "invalid peer certificate: NAME", or
    /// "Other(OtherError(NAME))" for webpki's that rustls does not name itself.
    static let rustls: [TLSVocabularyEntry] = {
        let certificateError: [(String, ErrorExplanation.Cause)] = [
            ("BadEncoding", .nonStrictCA), ("Expired", .expired), ("ExpiredContext", .expired), ("NotValidYet", .notYetValid),
            ("NotValidYetContext", .notYetValid), ("Revoked", .revoked), ("UnhandledCriticalExtension", .nonStrictCA),
            ("UnknownIssuer", .untrustedUnknownShape), ("UnknownRevocationStatus", .revocationUnchecked), ("ExpiredRevocationList", .revocationUnchecked),
            ("ExpiredRevocationListContext", .revocationUnchecked), ("BadSignature", .staleRoot), ("UnsupportedSignatureAlgorithm", .nonStrictCA),
            ("NotValidForName", .hostnameMismatch), ("NotValidForNameContext", .hostnameMismatch), ("InvalidPurpose", .nonStrictCA),
            ("InvalidPurposeContext", .nonStrictCA), ("ApplicationVerificationFailure", .untrustedUnknownShape),
        ]
        let webpkiError: [(String, ErrorExplanation.Cause)] = [
            ("BadDer", .nonStrictCA), ("BadDerTime", .nonStrictCA), ("CaUsedAsEndEntity", .caUsedAsLeaf), ("CertExpired", .expired),
            ("CertNotValidForName", .hostnameMismatch), ("CertNotValidYet", .notYetValid), ("CertRevoked", .revoked), ("CrlExpired", .revocationUnchecked),
            ("EndEntityUsedAsCa", .nonStrictCA), ("ExtensionValueInvalid", .nonStrictCA), ("InvalidCertValidity", .nonStrictCA),
            ("InvalidCrlNumber", .revocationUnchecked), ("InvalidNetworkMaskConstraint", .nonStrictCA), ("InvalidSerialNumber", .nonStrictCA),
            ("InvalidCrlSignatureForPublicKey", .revocationUnchecked), ("InvalidSignatureForPublicKey", .staleRoot), ("IssuerNotCrlSigner", .revocationUnchecked),
            ("MalformedDnsIdentifier", .hostnameMismatch), ("MalformedExtensions", .nonStrictCA), ("MalformedNameConstraint", .nonStrictCA),
            ("MaximumNameConstraintComparisonsExceeded", .nonStrictCA), ("MaximumPathBuildCallsExceeded", .nonStrictCA),
            ("MaximumPathDepthExceeded", .nonStrictCA), ("MaximumSignatureChecksExceeded", .nonStrictCA), ("NameConstraintViolation", .nonStrictCA),
            ("PathLenConstraintViolated", .nonStrictCA), ("RequiredEkuNotFound", .nonStrictCA), ("SignatureAlgorithmMismatch", .nonStrictCA),
            ("TrailingData", .nonStrictCA), ("UnknownRevocationStatus", .revocationUnchecked), ("UnsupportedCertVersion", .nonStrictCA),
            ("UnsupportedCriticalExtension", .nonStrictCA), ("UnsupportedCrlIssuingDistributionPoint", .revocationUnchecked),
            ("UnsupportedCrlVersion", .revocationUnchecked), ("UnsupportedDeltaCrl", .revocationUnchecked), ("UnsupportedIndirectCrl", .revocationUnchecked),
            ("UnsupportedNameType", .nonStrictCA), ("UnsupportedRevocationReason", .revocationUnchecked),
            ("UnsupportedRevocationReasonsPartitioning", .revocationUnchecked), ("UnsupportedCrlSignatureAlgorithm", .revocationUnchecked),
            ("UnsupportedSignatureAlgorithmForPublicKey", .nonStrictCA), ("UnsupportedCrlSignatureAlgorithmForPublicKey", .revocationUnchecked),
        ]
        return certificateError.map { .init(.rustls, $0.0, nil, "invalid peer certificate: \($0.0)", $0.1) }
            + webpkiError.map { .init(.rustls, $0.0, nil, "invalid peer certificate: Other(OtherError(\($0.0)))", $0.1) }
    }()
}
