import Glibc

/// Whose block page a blocked request gets: gateways answer a URL their policy forbids with an HTML
/// page of their own (most with a 403), after intercepting TLS, so a client that expects JSON or a
/// package index fails on HTML the way it does at work (npm, pip). The pages are shaped like the
/// vendors' (title, wording, what they show), written for this project.
public enum BlockPageVendor: String, CaseIterable, Sendable {
    case zscaler, netskope, fortinet, umbrella, forcepoint

    /// The vendor whose gateway a chain profile (by name) models; `plain` blocks as Zscaler does.
    public static func forProfile(_ name: String) -> BlockPageVendor {
        BlockPageVendor(rawValue: name) ?? .zscaler
    }

    var title: String {
        switch self {
        case .zscaler: return "Website blocked"
        case .netskope: return "Access to this site is blocked"
        case .fortinet: return "Web Page Blocked!"
        case .umbrella: return "This site is blocked"
        case .forcepoint: return "Access to this site is blocked"  // Websense's, as npm/npm#14619 logged it
        }
    }

    var explanation: String {
        switch self {
        case .zscaler: return "Your organization has selected Zscaler to protect you from internet threats. Access to this site is not allowed by your organization's Internet Security policy."
        case .netskope: return "Netskope has blocked your access to this site, as your organization's security policy requires."
        case .fortinet: return "The page you have requested has been blocked, because the URL is banned (FortiGuard web filtering)."
        case .umbrella: return "This site was blocked by Cisco Umbrella due to your organization's content filtering policy."
        case .forcepoint: return "Forcepoint (Websense) web security has blocked this site: the request is not allowed by your organization's Internet use policy."
        }
    }

    /// The status the page comes with. A 403 makes npm say `E403`; a page sent as 200 reaches the
    /// client as if it were the registry's answer, so npm reports "invalid json response body ...
    /// Unexpected token '<'". The one vendor public logs show doing that is Websense, now
    /// Forcepoint: npm/npm#14619 has `http 200 https://registry.npmjs.org/multer` followed by its
    /// "Access to this site is blocked" page as bad JSON. No public log we found shows the other
    /// vendors' status, so they keep 403.
    public var status: Int {
        switch self {
        case .zscaler, .netskope, .fortinet, .umbrella: return 403
        case .forcepoint: return 200
        }
    }
}

/// `HOSTPATTERN[=VENDOR]`: requests to matching hosts get the vendor's block page (the profile's
/// vendor when none is named).
public struct BlockRule: Sendable, Equatable {
    public var pattern: String
    public var vendor: BlockPageVendor?

    public init(pattern: String, vendor: BlockPageVendor? = nil) {
        self.pattern = pattern.lowercased()
        self.vendor = vendor
    }

    public init(parsing text: String) throws {
        let sides = text.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false).map(String.init)
        guard !sides[0].isEmpty, sides.count == 1 || !sides[1].isEmpty else {
            throw ConfigurationError("--block takes HOSTPATTERN or HOSTPATTERN=VENDOR, got '\(text)'")
        }
        var vendor: BlockPageVendor?
        if sides.count == 2 {
            guard let named = BlockPageVendor(rawValue: sides[1].lowercased()) else {
                throw ConfigurationError("--block \(text): unknown vendor '\(sides[1])'; choose one of: \(BlockPageVendor.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            vendor = named
        }
        self.init(pattern: sides[0], vendor: vendor)
    }

    func matches(_ host: String) -> Bool {
        fnmatch(pattern, host.lowercased(), 0) == 0
    }

    /// The page for a request to `host` (`url` as the client sent it), as `vendor` shows it.
    static func page(_ vendor: BlockPageVendor, host: String, url: String, keepAlive: Bool) -> HTTPResponse {
        let html = """
            <!DOCTYPE html>
            <html><head><meta charset="utf-8"><title>\(vendor.title)</title></head>
            <body>
            <h1>\(vendor.title)</h1>
            <p>\(vendor.explanation)</p>
            <p>URL: \(escaped(url))</p>
            <p>Host: \(escaped(host))</p>
            <p>(intercept-proxy --block: a \(vendor.rawValue)-style block page, HTTP \(vendor.status))</p>
            </body></html>
            """
        return HTTPResponse(status: vendor.status, headers: [("Content-Type", "text/html; charset=utf-8"), ("Cache-Control", "no-store")],
                            body: Array((html + "\n").utf8), closeConnection: !keepAlive)
    }

    static func escaped(_ text: String) -> String {
        var out = ""
        for character in text {
            switch character {
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "&": out += "&amp;"
            case "\"": out += "&quot;"
            case "'": out += "&#39;"
            default: out.append(character)
            }
        }
        return out
    }
}
