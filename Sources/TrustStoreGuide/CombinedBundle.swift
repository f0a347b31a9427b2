/// The roots a client already trusts plus the gateway root, in one file. Settings such as
/// SSL_CERT_FILE, REQUESTS_CA_BUNDLE, PIP_CERT or git's http.sslCAInfo replace the client's roots
/// with the file they name: pointed at the gateway root alone they break every host the gateway
/// does not inspect (exempt categories, pinned apps) and every host where there is no gateway (CI,
/// home). So every fix that sets one builds this bundle first and points the setting at it.
///
/// In lines, `{COMBINED}` stands for the bundle's path (`path` in a shell, `windowsPath` in
/// PowerShell) and `{CA}` for the gateway root's file.
public enum CombinedBundle {
    /// Which roots the bundle starts from.
    public enum Base: Sendable {
        /// The OS bundle (Debian's path; the comment names the others).
        case osBundle
        /// certifi's, for the Python clients that read certifi (requests, httpx, poetry, conda).
        case certifi
    }

    /// The bundle's path in a POSIX shell (quoted where it is used).
    public static let path = "$HOME/.local/share/gateway-ca/ca-bundle.pem"
    /// The bundle's path in PowerShell.
    public static let windowsPath = "$env:USERPROFILE\\gateway-ca-bundle.pem"

    /// The one-line warning that says why the setting gets a bundle rather than the root alone.
    public static func why(_ setting: String) -> String {
        "# \(setting) replaces the client's roots; with the gateway root alone, hosts the gateway does not inspect and CI without it fail: use a bundle of the usual roots plus the gateway root"
    }

    /// The shell line that builds the bundle (rebuild it when the OS bundle or certifi updates).
    static func build(from base: Base) -> String {
        let directory = "mkdir -p \"$HOME/.local/share/gateway-ca\""
        switch base {
        case .osBundle:
            return "\(directory) && cat /etc/ssl/certs/ca-certificates.crt {CA} > \"{COMBINED}\"   # RHEL family: /etc/pki/tls/certs/ca-bundle.crt; macOS: /etc/ssl/cert.pem"
        case .certifi:
            return "\(directory) && cat \"$(python3 -m certifi)\" {CA} > \"{COMBINED}\"   # certifi's roots (the ones the client reads now) plus the gateway root"
        }
    }

    /// The PowerShell line that builds it; Windows has no PEM bundle of its own, so certifi's roots
    /// are the base there (the Windows store, where IT deploys the gateway root, is the better fix).
    public static let windowsBuild = "Get-Content (python -m certifi), \"{CA}\" | Set-Content -Encoding ascii \"{COMBINED}\"   # certifi's roots plus the gateway root"

    /// The warning, the bundle, then `settings` (lines naming `{COMBINED}`).
    static func fix(_ setting: String, from base: Base = .osBundle, _ settings: String...) -> [String] {
        [why(setting), build(from: base)] + settings
    }

    /// Fills in the bundle's path for a POSIX shell, or, for PowerShell, rewrites the build line.
    static func render(_ line: String, windows: Bool = false) -> String {
        guard windows else { return line.replacing("{COMBINED}", with: path) }
        if line.hasPrefix("mkdir -p \"$HOME/.local/share/gateway-ca\"") { return windowsBuild.replacing("{COMBINED}", with: windowsPath) }
        return line.replacing("\"{COMBINED}\"", with: "\"\(windowsPath)\"").replacing("{COMBINED}", with: windowsPath)
    }
}

/// Settings that replace a client's roots with the file they name, and how to spot one set to the
/// gateway root alone: every printed fix is checked against this (a bundle-replacing fix is a bug).
public enum ReplacingSetting {
    /// `NAME=` and `NAME ` forms whose file replaces the client's roots.
    public static let names = [
        "SSL_CERT_FILE", "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE", "PIP_CERT", "GIT_SSL_CAINFO", "AWS_CA_BUNDLE", "CARGO_HTTP_CAINFO",
        "npm_config_cafile", "NPM_CONFIG_CAFILE", "BUNDLE_SSL_CA_CERT", "HTTPLIB2_CA_CERTS", "http.sslCAInfo", "global.cert",
        "ssl_verify", "cafile", "httpsCaFilePath", "--cacert", "-CAfile", "--ca-file", "--cert", "curl.cainfo", "openssl.cafile",
        "cainfo", "trustStore", "certificate-authority", ":ssl_ca_cert:",
    ]

    /// The settings in `line` that name exactly `caFile` (the gateway root alone); empty when none does.
    public static func violations(in line: String, caFile: String) -> [String] {
        // Comments count: an alternative offered there is a fix too. A diagnostic of the root itself
        // (`openssl verify -CAfile ROOT ROOT`, `openssl x509 -in ROOT`) is not a client's setting.
        if line.contains("openssl verify") || line.contains("openssl x509") { return [] }
        return names.filter { name in
            [" ", "=", " = ", "=\"", " \"", " = \""].contains { separator in line.contains(name + separator + caFile) }
        }
    }
}
