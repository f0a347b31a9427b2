import CertForge

/// A per-connection OpenSSL setting, as named in an error when OpenSSL refuses it.
enum TLSSetting: Equatable, CustomStringConvertible {
    /// The SNI host name offered to an upstream.
    case serverName(String)
    /// The ALPN protocols offered to an upstream.
    case alpn([String])
    /// The host name or IP address the upstream's certificate must match.
    case verifiedName(String)
    /// The session's back-reference that OpenSSL's callbacks find it by.
    case appData
    /// The forged leaf certificate, its key, or one of its chain certificates, presented to a client.
    case certificate(String)
    case privateKey(String)
    case chainCertificate(String)

    var description: String {
        switch self {
        case let .serverName(name): return "setting SNI \(name)"
        case let .alpn(protocols): return "offering ALPN \(protocols.joined(separator: ","))"
        case let .verifiedName(name): return "setting the name to verify (\(name))"
        case .appData: return "attaching the session to its SSL object"
        case let .certificate(name): return "using the certificate for \(name)"
        case let .privateKey(name): return "using the private key for \(name)"
        case let .chainCertificate(name): return "adding a chain certificate for \(name)"
        }
    }
}

enum TLSError: Error, CustomStringConvertible {
    /// A context-wide operation failed; the text is OpenSSL's queue when the error is shown.
    case openSSL(String)
    /// OpenSSL refused a setting of one connection; `reason` is its error queue at the time.
    case setting(TLSSetting, reason: String)

    var description: String {
        switch self {
        case let .openSSL(operation): return "\(operation) failed: \(openSSLErrorQueue())"
        case let .setting(setting, reason): return "\(setting) failed: \(reason)"
        }
    }
}
