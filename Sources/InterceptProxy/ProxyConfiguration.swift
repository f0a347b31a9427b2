import CertForge
import Foundation

/// How an `InterceptProxy` listens, which CA it forges with, and where it records flows.
public struct ProxyConfiguration: Sendable {
    /// An IP literal, or `localhost` for both 127.0.0.1 and ::1. Loopback by default: the proxy
    /// holds a CA key, so exposing it is a decision to make on purpose.
    public var listenHost = "127.0.0.1"
    /// 0 picks a free port; read it back from `InterceptProxy.port`.
    public var port = 8080
    public var profile: ChainProfile = .default
    /// Where generated CA material lives; the profile's CA is created there on first use.
    public var caDirectory = CADirectory.defaultPath
    /// A ready-made authority (e.g. a CA you bring); takes precedence over `caDirectory`.
    public var authority: CertificateAuthority?
    /// Answer every intercepted request locally instead of contacting upstreams.
    public var offline = false
    /// Append flow events as JSON lines to this file (`-` for stdout).
    public var flowsPath: String?
    /// A client that has not finished its TLS handshake by then is dropped and recorded as `timeout`.
    public var handshakeTimeout: TimeInterval = 30
    /// How long `stop()` waits for open connections to finish before closing them.
    public var shutdownGracePeriod: TimeInterval = 5
    /// Event loops (serial queues), one per core by default.
    public var eventLoopCount = ProcessInfo.processInfo.activeProcessorCount

    public init() {}
}
