import CertForge

/// What the gateway does when the real site's certificate fails verification (expired,
/// self-signed, another name). Gateways differ, and a client with verification turned off sees
/// something else again than one with a good fix, so the proxy does what the profile's vendor does.
public enum UntrustedUpstreamPolicy: Sendable, Equatable {
    /// Re-sign with a separate CA nobody trusts (Palo Alto "Forward Untrust",
    /// `Fortinet_CA_Untrusted`, squid): a client with a good fix still sees an error, one with
    /// verification off gets the site.
    case resignUntrusted
    /// Intercept as usual and answer with the vendor's certificate-error page, with the status its
    /// block pages have (Zscaler, Netskope, Cisco Umbrella); nil: the profile's vendor.
    case block(BlockPageVendor?)
    /// Do not intercept: relay the client's handshake to the site, so it sees the site's own bad
    /// certificate (Zscaler's pass-through).
    case pass
    /// Intercept as usual and answer each request with a 502 naming the verification error (mitmproxy).
    case reject

    /// The vendor's default for a profile (by name): Zscaler and Netskope block untrusted server
    /// certificates, FortiGate deep inspection allows them re-signed by `Fortinet_CA_Untrusted`;
    /// the textbook `plain` profile answers 502.
    public static func vendorDefault(forProfile name: String) -> UntrustedUpstreamPolicy {
        switch name {
        case ChainProfile.zscaler.name, ChainProfile.netskope.name: return .block(nil)
        case ChainProfile.fortinet.name: return .resignUntrusted
        default: return .reject
        }
    }

    public static let names = ["resign-untrusted", "block", "block=VENDOR", "pass", "reject"]

    /// `resign-untrusted`, `block`, `block=VENDOR`, `pass` or `reject`.
    public init(parsing text: String) throws {
        let lowered = text.lowercased()
        switch lowered {
        case "resign-untrusted": self = .resignUntrusted
        case "block": self = .block(nil)
        case "pass": self = .pass
        case "reject": self = .reject
        default:
            if lowered.hasPrefix("block="), let vendor = BlockPageVendor(rawValue: String(lowered.dropFirst(6))) {
                self = .block(vendor)
                return
            }
            throw ConfigurationError("--untrusted-upstream takes one of \(Self.names.joined(separator: ", ")) "
                + "(VENDOR: \(BlockPageVendor.allCases.map(\.rawValue).joined(separator: ", "))), got '\(text)'")
        }
    }

    public var name: String {
        switch self {
        case .resignUntrusted: return "resign-untrusted"
        case let .block(vendor): return vendor.map { "block=\($0.rawValue)" } ?? "block"
        case .pass: return "pass"
        case .reject: return "reject"
        }
    }

    /// Whether the upstream's verdict is needed before the client's handshake ends: the leaf's
    /// signer, or whether to intercept at all, depends on it.
    var decidesBeforeHandshake: Bool {
        switch self {
        case .resignUntrusted, .pass: return true
        case .block, .reject: return false
        }
    }
}

extension BlockPageVendor {
    /// The page's title when the site's certificate failed verification.
    var certificateErrorTitle: String {
        switch self {
        case .zscaler: return "Untrusted server certificate"
        case .netskope: return "Certificate error: access to this site is blocked"
        case .fortinet: return "Invalid server certificate"
        case .umbrella: return "Upstream certificate error"
        case .forcepoint: return "Certificate error: the site's certificate is not trusted"
        }
    }

    /// The certificate-error page for a request to `host`: as the vendor words it, with the
    /// verification error the proxy met and what a developer can do.
    func certificateErrorPage(host: String, url: String, reason: String, keepAlive: Bool) -> HTTPResponse {
        let html = """
            <!DOCTYPE html>
            <html><head><meta charset="utf-8"><title>\(certificateErrorTitle)</title></head>
            <body>
            <h1>\(certificateErrorTitle)</h1>
            <p>The certificate presented by \(BlockRule.escaped(host)) could not be verified, so your organization's security policy blocks this site.</p>
            <p>URL: \(BlockRule.escaped(url))</p>
            <p>Reason: \(BlockRule.escaped(reason))</p>
            <p>(intercept-proxy --untrusted-upstream block: a \(rawValue)-style certificate-error page, HTTP \(status). The upstream's own certificate is bad; no trust-store change on the client fixes this. To reach a local origin, pass --upstream-ca FILE.)</p>
            </body></html>
            """
        return HTTPResponse(status: status, headers: [("Content-Type", "text/html; charset=utf-8"), ("Cache-Control", "no-store")],
                            body: Array((html + "\n").utf8), closeConnection: !keepAlive)
    }
}
