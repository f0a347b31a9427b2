import COpenSSL

/// Why a client's TLS handshake with the proxy failed, in the words of the TLS alert where there is one.
/// Its flow event's cause is `cause` (the same names, documented on FlowCause).
public enum HandshakeFailure: Sendable, CaseIterable {
    case unknownCA
    case badCertificate
    case certificateUnknown
    case certificateExpired
    case closedDuringHandshake
    case noSharedCipher
    case protocolVersion
    case notTLS
    case timeout
    /// Anything else; the event carries OpenSSL's text.
    case other

    /// The `tls_failed` event's cause.
    public var cause: FlowCause {
        switch self {
        case .unknownCA: return .unknownCA
        case .badCertificate: return .badCertificate
        case .certificateUnknown: return .certificateUnknown
        case .certificateExpired: return .certificateExpired
        case .closedDuringHandshake: return .closedDuringHandshake
        case .noSharedCipher: return .noSharedCipher
        case .protocolVersion: return .protocolVersion
        case .notTLS: return .notTLS
        case .timeout: return .timeout
        case .other: return .other
        }
    }

    /// Classifies the error OpenSSL left on the queue after a failed handshake step.
    static func classify(reason: Int32) -> HandshakeFailure {
        let alertOffset = Int32(SSL_AD_REASON_OFFSET)
        if reason > alertOffset && reason < alertOffset + 256 {
            switch reason - alertOffset {
            case Int32(SSL3_AD_BAD_CERTIFICATE): return .badCertificate
            case Int32(SSL3_AD_CERTIFICATE_UNKNOWN): return .certificateUnknown
            case Int32(SSL3_AD_CERTIFICATE_EXPIRED): return .certificateExpired
            case Int32(TLS1_AD_UNKNOWN_CA): return .unknownCA
            case Int32(TLS1_AD_PROTOCOL_VERSION): return .protocolVersion
            default: return .other
            }
        }
        switch reason {
        case SSL_R_NO_SHARED_CIPHER: return .noSharedCipher
        case SSL_R_UNSUPPORTED_PROTOCOL, SSL_R_WRONG_VERSION_NUMBER, SSL_R_VERSION_TOO_LOW: return .protocolVersion
        case SSL_R_HTTP_REQUEST, SSL_R_HTTPS_PROXY_REQUEST: return .notTLS
        default: return .other
        }
    }

    /// For a host the gateway does not inspect: the client rejected the site's own certificate, so
    /// its store lost the public roots (a setting that replaces the store with the gateway root alone).
    func publicSiteHint(rootFile: String?) -> String {
        switch self {
        case .unknownCA, .closedDuringHandshake, .certificateUnknown, .badCertificate:
            return "the host is not intercepted, so the client saw the site's own certificate (public stand-in root \(rootFile ?? "in memory")) and rejected it: "
                + "its store no longer holds the public roots; a setting that replaces the store (SSL_CERT_FILE, REQUESTS_CA_BUNDLE, CURL_CA_BUNDLE, PIP_CERT, cafile ...) "
                + "must point at a bundle of the OS roots plus the gateway root (intercept-proxy snippet --client NAME)"
        default: return hint(rootFile: rootFile)
        }
    }

    /// What the user should do, for the log line.
    func hint(rootFile: String?) -> String {
        let root = rootFile ?? "the proxy's root CA"
        switch self {
        case .unknownCA, .closedDuringHandshake, .certificateUnknown, .badCertificate:
            return "the client does not trust \(root); install it (intercept-proxy ca export --format crt) or point the client at it"
        case .certificateExpired: return "the client rejected an expired certificate (a failure mode, or a clock far off)"
        case .noSharedCipher, .protocolVersion: return "the client and the proxy share no TLS version or cipher"
        case .notTLS: return "the client sent plaintext into a TLS tunnel; use https:// or drop the proxy for http"
        case .timeout: return "the client stopped mid-handshake"
        case .other: return "see the OpenSSL reason"
        }
    }
}
