extension ErrorExplanation {
    /// Why verification failed. The chain shapes: S1 leaf + intermediates without the root (the
    /// Zscaler shape), S2 the leaf alone, S3 the self-signed root sent along.
    public enum Cause: String, Sendable, CaseIterable {
        case untrustedRootNotSent = "root-not-sent"
        case untrustedRootSent = "root-sent"
        case leafAloneUntrusted = "leaf-alone"
        case untrustedUnknownShape = "untrusted"
        case onlyIntermediateTrusted = "only-intermediate"
        case selfSignedLeaf = "self-signed-leaf"
        case caUsedAsLeaf = "ca-as-leaf"
        case nonStrictCA = "non-strict-ca"
        case expired = "expired"
        case notYetValid = "not-yet-valid"
        case staleRoot = "stale-root"
        case emptyTrustStore = "empty-trust-store"
        case revoked = "revoked"
        case hostnameMismatch = "hostname-mismatch"
        case revocationUnchecked = "revocation-unchecked"
        case caFileUnusable = "ca-file-unusable"
        case blockedByPolicy = "blocked-by-policy"
        case packageIntegrity = "package-integrity"

        /// One sentence for people.
        public var summary: String {
            switch self {
            case .untrustedRootNotSent:
                return "the client does not trust the root that issued the chain, and the chain it got does not contain that root (shape S1/S2: what Zscaler and most gateways send)"
            case .untrustedRootSent:
                return "the client does not trust the root, which the server sent along (shape S3: self-signed root in the chain)"
            case .leafAloneUntrusted:
                return "the server sent its certificate alone and the client cannot find its issuer (shape S2)"
            case .untrustedUnknownShape:
                return "the client does not trust the CA that issued the certificate (its message does not tell the chain shape)"
            case .onlyIntermediateTrusted:
                return "only an intermediate is trusted: this client insists on a chain that ends in a self-signed root; install the root, not the intermediate"
            case .selfSignedLeaf:
                return "the server's certificate is self-signed (not issued by any CA)"
            case .caUsedAsLeaf:
                return "the server presented a CA certificate as its own certificate"
            case .nonStrictCA:
                return "a certificate of the gateway's CA carries a defect this verifier refuses even with the root trusted (RFC 5280 rules that strict verifiers enforce, Python 3.13+ VERIFY_X509_STRICT and openssl -x509_strict; a SHA-1 signature, a critical extension rustls does not implement, a negative serial for Go 1.23+): installing the root again does not fix it"
            case .expired:
                return "a certificate in the chain has expired, or this machine's clock is wrong"
            case .notYetValid:
                return "a certificate is not valid yet: this machine's clock is behind (a VM or container after sleep, a board without a clock battery), or the certificate was issued for a later date; no root fixes it"
            case .staleRoot:
                return "the root this client trusts has the issuer's name but another key: the gateway's CA was re-issued (rotated) and the old copy is still installed; installing the current root in place of the old one fixes it"
            case .emptyTrustStore:
                return "the client's trust store is empty or missing (Java's cacerts without certificates, no CA bundle where Go looks): no CA at all is trusted, so the store must be filled before a gateway root can be added to it"
            case .revoked:
                return "a certificate in the chain was revoked by its CA: the check worked and said no; no root or setting fixes it, the certificate must be replaced"
            case .hostnameMismatch:
                return "the certificate is valid for another name: behind a gateway, usually its own block or notice page, or a host it does not re-sign; trusting a CA does not fix this"
            case .revocationUnchecked:
                return "the chain is trusted but its revocation status could not be checked (the gateway blocks or does not serve the CRL/OCSP of its CA), and the client fails closed"
            case .caFileUnusable:
                return "the CA bundle the client is configured to use is missing, unreadable or not PEM"
            case .packageIntegrity:
                return "a downloaded package failed its checksum or signature check: TLS worked, and what arrived is not what the index promised (a gateway that put a block or warning page in its place, a cache that kept a broken copy) or the repository's signing key is missing; no certificate or root fixes it"
            case .blockedByPolicy:
                return "the gateway's policy blocked the request: TLS worked, and an HTML block page answered (with a 403, or a 200 that JSON clients cannot parse) where the client expected JSON or a package index; not a certificate problem"
            }
        }

        /// Whether the gateway's root is part of the fix: not when a block page answered (the
        /// client trusted the connection, or it would never have read the page), nor when the
        /// chain was trusted and its certificate revoked.
        public var involvesTheRoot: Bool { self != .blockedByPolicy && self != .revoked && self != .packageIntegrity }
    }

    /// One way an error text reveals its cause, and the client it implies when nothing else names one.
    struct CauseSignature: Sendable {
        let needles: [String]
        let cause: @Sendable (ExplainText) -> Cause
        let impliedClient: String?

        init(_ needles: [String], _ cause: Cause, client: String? = nil) {
            self.needles = needles
            self.cause = { _ in cause }
            self.impliedClient = client
        }

        init(_ needles: [String], client: String? = nil, _ cause: @escaping @Sendable (ExplainText) -> Cause) {
            self.needles = needles
            self.cause = cause
            self.impliedClient = client
        }
    }

    /// Most decisive first: a strict-verifier complaint or a revocation failure explains the
    /// error even when the same log also says "certificate verify failed".
    static let causeSignatures: [CauseSignature] = [
        CauseSignature(["basic constraints of ca cert not marked critical", "missing authority key identifier",
                        "ca cert does not include key usage extension", "path length given without key usage",
                        "missing subject key identifier", "authority and subject key identifier mismatch"],
                       .nonStrictCA, client: "python"),
        // The same kind of defect as other verifiers word it (the gateway quirks' rejections).
        CauseSignature(["unsupportedcriticalextension", "unsupportedsignaturealgorithm", "unsupportedcertversion"], .nonStrictCA, client: "rustls"),
        CauseSignature(["insecure algorithm sha1", "x509: negative serial number", "parent certificate cannot sign this kind of certificate"],
                       .nonStrictCA, client: "go"),
        CauseSignature(["does not have keycertsign bit set"], .nonStrictCA, client: "java"),
        // A leaf whose key usage lacks digitalSignature (a CA certificate served as the leaf, or a
        // forged leaf with the wrong bits): Java's and GnuTLS's words.
        CauseSignature(["keyusage does not allow digital signatures"], .nonStrictCA, client: "java"),
        CauseSignature(["key usage violation in certificate has been detected"], .nonStrictCA),
        // wget on GnuTLS (GNUTLS_CERT_INSECURE_ALGORITHM): a SHA-1 or MD5 signature in the chain.
        CauseSignature(["was signed using an insecure algorithm"], .nonStrictCA, client: "wget"),
        CauseSignature(["key usage does not include certificate signing", "ca signature digest algorithm too weak", "ca_md_too_weak",
                        "invalid ca certificate"], .nonStrictCA),
        CauseSignature(["error setting certificate verify locations", "problem with the ssl ca cert",
                        "invalid ca file", "cadata does not contain a certificate",
                        "no system certificates available", "calling stat(/etc/ssl/certs)", "calling stat(/etc/ssl/cert.pem)",
                        // OpenSSL loading a missing or empty file (s_client -CAfile, Python's load_verify_locations),
                        // requests' and pip's check of the path, a Python traceback that stopped while loading it.
                        "no certificate or crl found", "bio_new_file:no such file", "could not find a suitable tls ca certificate bundle",
                        "load_verify_locations("], .caFileUnusable),
        CauseSignature(["failed to open cert "], .caFileUnusable, client: "wget"),
        CauseSignature(["(cainfo option)"], .caFileUnusable, client: "apt"),
        // node warns, then fails with the issuer error the missing file caused.
        CauseSignature(["ignoring extra certs from"], .caFileUnusable, client: "node"),
        CauseSignature(["crypt_e_no_revocation_check", "0x80092012", "0x80092013", "revocation function was unable to check revocation",
                        "cert_trust_revocation_status_unknown", "revocationstatusunknown", "offlinerevocation"], .revocationUnchecked),
        CauseSignature(["certificate is valid for", "doesn't match either of", "doesn't match any of", "hostname mismatch",
                        "notvalidforname", "no certificate subject alternative name matches", "the name in the certificate does not match",
                        "err_tls_cert_altname_invalid", "no alternative certificate subject name matches", "remotecertificatenamemismatch",
                        "sec_e_wrong_principal", "cert_cn_no_match", "does not match target host name",
                        // urllib3's warning and the match_hostname error older urllib3 (pip's vendored copy) raises.
                        "certificate did not match expected hostname", "' doesn't match '",
                        // rustls 0.23's words for NotValidForNameContext.
                        "certificate not valid for name"], .hostnameMismatch),
        // wget built on GnuTLS (Debian's): its own words for a certificate that does not name the host.
        CauseSignature(["certificate's owner does not match hostname"], .hostnameMismatch, client: "wget"),
        // CryptoAPI's and .NET's names that contain a shorter one below (nottimevalid, untrustedroot).
        CauseSignature(["ctlnottimevalid", "cert_e_untrustedroot"], .untrustedUnknownShape),
        CauseSignature(["certificate has expired", "certexpired", "cert_has_expired", "uses expired certificate", "certificate expired",
                        "has expired or is not yet valid", "nottimevalid", "sec_e_cert_expired"], .expired),
        // wget's own words (GnuTLS and OpenSSL builds) for GNUTLS_CERT_NOT_ACTIVATED / X509_V_ERR_CERT_NOT_YET_VALID.
        CauseSignature(["is not yet activated", "has not yet been activated", "issued certificate not yet valid"], .notYetValid),
        // rustls 0.23's words for NotValidYetContext ("certificate not valid yet: verification time ...").
        CauseSignature(["certificate not valid yet"], .notYetValid, client: "rustls"),
        CauseSignature(["causedasendentity"], .caUsedAsLeaf, client: "rustls"),
        CauseSignature(["depth_zero_self_signed_cert"], .selfSignedLeaf, client: "node"),
        CauseSignature(["self_signed_cert_in_chain"], .untrustedRootSent, client: "node"),
        CauseSignature(["unable_to_verify_leaf_signature"], .leafAloneUntrusted, client: "node"),
        CauseSignature(["unable_to_get_issuer_cert_locally"], .untrustedRootNotSent, client: "node"),
        CauseSignature(["unable_to_get_issuer_cert"], .onlyIntermediateTrusted, client: "node"),
        CauseSignature(["ssl verification error at depth"], client: "gem") { text in
            if text.contains("(19)") { return .untrustedRootSent }
            if text.contains("at depth 0") { return .leafAloneUntrusted }
            return opensslShape(text)
        },
        CauseSignature(["untrustedroot"], .untrustedRootSent, client: "dotnet"),
        CauseSignature(["partialchain", "cert_trust_is_partial_chain"], .untrustedRootNotSent, client: "dotnet"),
        CauseSignature(["sec_e_untrusted_root", "0x80090325", "-2146762487", "root certificate which is not trusted"], .untrustedUnknownShape),
        CauseSignature(["unable to locally verify the issuer's authority"], .untrustedRootNotSent, client: "wget"),
        CauseSignature(["self-signed certificate in certificate chain", "self signed certificate in certificate chain",
                        "unable to verify the first certificate", "unable to get local issuer certificate",
                        "unable to get issuer certificate", "self-signed certificate", "self signed certificate"],
                       client: "openssl-client", opensslShape),
    ]

    /// Wordings that say only that verification failed, or that the issuer is unknown without
    /// why: read after every stack's vocabulary (TLSVocabulary), which may name the reason.
    static let catchAllSignatures: [CauseSignature] = [
        CauseSignature(["unknownissuer", "invalid peer certificate", "invalid certificate: unknown"], .untrustedUnknownShape, client: "rustls"),
        CauseSignature(["certificate signed by unknown authority"], .untrustedUnknownShape, client: "go"),
        CauseSignature(["pkix path building failed", "unable to find valid certification path"], .untrustedUnknownShape, client: "java"),
        CauseSignature(["server certificate verification failed"], .untrustedUnknownShape, client: "git"),
        CauseSignature(["certificate verification failed: the certificate is not trusted"], .untrustedUnknownShape, client: "apt"),
        CauseSignature(["doesn't have a known issuer", "hasn't got a known issuer", "is not trusted"], .untrustedUnknownShape, client: "wget"),
        CauseSignature(["could not verify the ssl certificate", "certificatefailureerror"], .untrustedUnknownShape, client: "bundler"),
        CauseSignature(["the remote certificate is invalid", "the ssl connection could not be established"], .untrustedUnknownShape, client: "dotnet"),
        CauseSignature(["peer certificate cannot be authenticated", "ssl peer certificate or ssh remote key was not ok"],
                       .untrustedUnknownShape, client: "libcurl"),
        CauseSignature(["certificate verify failed", "certificate_verify_failed", "verify error:num="], client: "openssl-client", opensslShape),
    ]

    /// Not TLS at all: a package's checksum or signature, read after everything else (a certificate
    /// error in the same log came first and is the one to fix).
    static let packageSignatures: [CauseSignature] = [
        CauseSignature(["integrity checksum failed when using", "eintegrity"], .packageIntegrity, client: "npm"),
        CauseSignature(["no_pubkey", "the following signatures couldn't be verified", "the following signatures were invalid"], .packageIntegrity, client: "apt"),
        CauseSignature(["do not match the hashes from the requirements file"], .packageIntegrity, client: "pip"),
    ]

    static let blockPageSignatures: [CauseSignature] = [
        // Last: a client reads a block page only over a connection it trusted, so any certificate
        // error in the same log came first and is the one to fix. HTML where JSON was expected:
        // npm's E403 on a GET (a refused publish is a PUT), its "invalid json response body ...
        // Unexpected token '<'" for a page sent as 200, npm 6 and older's "registry error parsing json".
        CauseSignature(["403 forbidden - get https://", "reason: unexpected token '<'", "reason: unexpected token <",
                        "registry error parsing json", "unexpected token < in json at position 0", "\"<!doctype \"... is not valid json"],
                       .blockedByPolicy, client: "npm"),
        CauseSignature(["err_pnpm_fetch_403"], .blockedByPolicy, client: "pnpm"),
        CauseSignature(["request failed \"403 forbidden\""], .blockedByPolicy, client: "yarn"),
        // pip finds no links in the page; the same words mean a package or version that does not
        // exist, which the fix tells apart.
        CauseSignature(["(from versions: none)", "http error 403 while getting"], .blockedByPolicy, client: "pip"),
        // The page itself, as curl prints it: the titles of --block's pages, and of the certificate-error
        // pages gateways answer with when the site's own certificate is bad (--untrusted-upstream block).
        CauseSignature(["<title>website blocked</title>", "<title>access to this site is blocked</title>", "<title>web page blocked!</title>",
                        "<title>this site is blocked</title>", "intercept-proxy --block:",
                        "<title>untrusted server certificate</title>", "<title>upstream certificate error</title>",
                        "<title>invalid server certificate</title>", "<title>certificate error: ", "intercept-proxy --untrusted-upstream block:"],
                       .blockedByPolicy, client: "curl"),
    ]

    /// OpenSSL's wording tells the chain shape for every OpenSSL-based client.
    static func opensslShape(_ text: ExplainText) -> Cause {
        if text.contains("self-signed certificate in certificate chain") || text.contains("self signed certificate in certificate chain")
            || text.contains("num=19") { return .untrustedRootSent }
        if text.contains("unable to verify the first certificate") || text.contains("num=21") { return .leafAloneUntrusted }
        if text.contains("self-signed certificate") || text.contains("self signed certificate") { return .selfSignedLeaf }
        if text.contains("unable to get local issuer certificate") || text.contains("num=20") { return .untrustedRootNotSent }
        if text.contains("unable to get issuer certificate") || text.contains("num=2:") { return .onlyIntermediateTrusted }
        return .untrustedUnknownShape
    }
}
