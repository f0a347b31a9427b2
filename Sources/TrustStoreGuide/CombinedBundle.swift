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
    public static let path = directory + "/ca-bundle.pem"
    /// The bundle's path in PowerShell.
    public static let windowsPath = "$env:USERPROFILE\\gateway-ca-bundle.pem"

    /// The one-line warning that says why the setting gets a bundle rather than the root alone.
    public static func why(_ setting: String) -> String {
        "# \(setting) replaces the client's roots; with the gateway root alone, hosts the gateway does not inspect and CI without it fail: use a bundle of the usual roots plus the gateway root"
    }

    /// The directory the bundle is built in.
    public static let directory = "$HOME/.local/share/gateway-ca"

    /// The shell line that builds the bundle (rebuild it when the OS bundle or certifi updates). It
    /// writes nothing unless the base exists and holds something: a bundle of the gateway root
    /// alone is exactly what it exists to avoid, so then the setting names a missing file and the
    /// client says so.
    static func build(from base: Base) -> String {
        let start = "mkdir -p \"\(directory)\" && "
        switch base {
        case .osBundle:
            return start + "for base in /etc/ssl/certs/ca-certificates.crt /etc/pki/tls/certs/ca-bundle.crt /etc/ssl/cert.pem; do [ -s \"$base\" ] && break; done"
                + " && [ -s \"$base\" ] && cat \"$base\" {CA} > \"{COMBINED}\"   # the OS bundle (Debian, RHEL, macOS or Alpine) plus the gateway root"
        case .certifi:
            return start + "base=\"$(python3 -m certifi)\" && [ -s \"$base\" ] && cat \"$base\" {CA} > \"{COMBINED}\"   # certifi's roots (the ones the client reads now) plus the gateway root"
        }
    }

    /// The PowerShell line that builds it; Windows has no PEM bundle of its own, so certifi's roots
    /// are the base there (the Windows store, where IT deploys the gateway root, is the better fix).
    public static let windowsBuild = "$base = python -m certifi; if ($base -and (Test-Path $base)) { Get-Content $base, \"{CA}\" | Set-Content -Encoding ascii \"{COMBINED}\" }   # certifi's roots plus the gateway root"

    /// The warning, the bundle, then `settings` (lines naming `{COMBINED}`).
    static func fix(_ setting: String, from base: Base = .osBundle, _ settings: String...) -> [String] {
        [why(setting), build(from: base)] + settings
    }

    /// Fills in the bundle's path for a POSIX shell, or, for PowerShell, rewrites the build line.
    static func render(_ line: String, windows: Bool = false) -> String {
        guard windows else { return line.replacing("{COMBINED}", with: path) }
        if line.hasPrefix("mkdir -p \"\(directory)\""), line.contains("{COMBINED}") { return windowsBuild.replacing("{COMBINED}", with: windowsPath) }
        return line.replacing("\"{COMBINED}\"", with: "\"\(windowsPath)\"").replacing("{COMBINED}", with: windowsPath)
    }
}

/// The environment variables that name a CA file for some client: whether the file replaces the
/// client's roots or adds to them. One list for the fixes' check, the sandbox and the reports.
public enum CAVariable {
    /// The client reads only the file named (its default roots are dropped).
    public static let replacing = [
        "SSL_CERT_FILE", "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE", "PIP_CERT", "GIT_SSL_CAINFO", "AWS_CA_BUNDLE", "CARGO_HTTP_CAINFO",
        "npm_config_cafile", "NPM_CONFIG_CAFILE", "BUNDLE_SSL_CA_CERT", "HTTPLIB2_CA_CERTS", "CONDA_SSL_VERIFY",
        "GRPC_DEFAULT_SSL_ROOTS_FILE_PATH", "NIX_SSL_CERT_FILE", "CLOUDSDK_CORE_CUSTOM_CA_CERTS_FILE",
    ]
    /// The client adds the file's certificates to its default roots.
    public static let adding = ["NODE_EXTRA_CA_CERTS", "DENO_CERT"]
}

/// Settings that replace a client's roots with the file they name, and how to spot one set to the
/// gateway root alone: every printed fix is checked against this (a bundle-replacing fix is a bug).
public enum ReplacingSetting {
    /// The variables, and the option and configuration forms, whose file replaces the client's roots.
    public static let names = CAVariable.replacing + [
        "http.sslCAInfo", "global.cert", "ssl_verify", "cafile", "httpsCaFilePath", "--cacert", "-CAfile", "--ca-file", "--cert",
        "curl.cainfo", "openssl.cafile", "cainfo", "trustStore", "certificate-authority", ":ssl_ca_cert:", "Acquire::https::CaInfo",
    ]

    /// The settings in `line` that name exactly `caFile` (the gateway root alone); empty when none does.
    /// Names match whatever their case (apt's CaInfo, cargo's cainfo).
    public static func violations(in line: String, caFile: String) -> [String] {
        // Comments count: an alternative offered there is a fix too. A diagnostic of the root itself
        // (`openssl verify -CAfile ROOT ROOT`, `openssl x509 -in ROOT`) is not a client's setting.
        if line.contains("openssl verify") || line.contains("openssl x509") { return [] }
        let lowered = line.lowercased(), file = caFile.lowercased()
        return names.filter { name in
            [" ", "=", " = ", "=\"", " \"", " = \""].contains { separator in lowered.contains(name.lowercased() + separator + file) }
        }
    }
}
