/// The networking half of intercept-proxy: listener, event loops, TLS termination, HTTP, flow recording.
/// The certificate half lives in CertForge.
public enum InterceptProxyVersion {
    /// Reported by `intercept-proxy --version` and written into HAR `creator` entries.
    public static let current = "0.1.0"
}
