import CertForge
import FoundationEssentials

/// `http://intercept-proxy.test/ca.pem` (`.crt`, `.der`, `.p12`), answered by the proxy itself, the
/// way mitm.it is: a container that can reach only the proxy fetches its trust anchor through it.
/// The name is under .test (RFC 2606), so it never names a real origin.
enum TrustAnchorSite {
    static let host = "intercept-proxy.test"

    static func contains(_ host: String) -> Bool {
        host.lowercased() == Self.host || host.lowercased() == Self.host + "."
    }

    /// The answer for a request to the site: the root in the asked format, `/health`, or an index.
    static func response(method: String, url: String, authority: CertificateAuthority, keepAlive: Bool) -> HTTPResponse {
        guard method == "GET" || method == "HEAD" else {
            return HTTPResponse.text(405, "\(Self.host) answers GET and HEAD only", close: !keepAlive)
        }
        let path = Self.path(of: url)
        if path == "/health" { return HTTPResponse.text(200, "ok", close: !keepAlive) }
        if let (format, type) = AdminRoutes.certificateFormats[String(path.dropFirst())] {
            let name = "intercept-proxy \(authority.profile.storageName)"
            guard let body = try? format.encode(authority.rootCertificate, friendlyName: name) else {
                return HTTPResponse.text(502, "encoding the root certificate as \(format.rawValue) failed", close: !keepAlive)
            }
            return HTTPResponse(status: 200, headers: [("Content-Type", type), ("Content-Disposition", "attachment; filename=\"intercept-proxy\(path.dropFirst(3))\""),
                                                       ("Cache-Control", "no-store")],
                                body: body, closeConnection: !keepAlive)
        }
        let index = """
            intercept-proxy (profile \(authority.profile.storageName)): the root certificate clients must trust.
              http://\(Self.host)/ca.pem   PEM
              http://\(Self.host)/ca.crt   PEM, named for update-ca-certificates
              http://\(Self.host)/ca.der   DER
              http://\(Self.host)/ca.p12   PKCS#12 trust store for Java (password \(TrustAnchorFormat.pkcs12Password))
            """
        return HTTPResponse.text(path == "/" ? 200 : 404, index, close: !keepAlive)
    }

    /// The path of an absolute URL (or an origin-form target), without its query.
    static func path(of url: String) -> String {
        var rest = Substring(url)
        if let scheme = rest.firstRange(of: "://") {
            rest = rest[scheme.upperBound...]
            rest = rest[(rest.firstIndex(of: "/") ?? rest.endIndex)...]
        }
        let path = rest.prefix { $0 != "?" && $0 != "#" }
        return path.isEmpty ? "/" : String(path)
    }
}
