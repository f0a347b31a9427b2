import CertForge
import FoundationEssentials
import EssentialsSupport
import Glibc

/// How an `InterceptProxy` listens, which CA it forges with, and where it records flows.
public struct ProxyConfiguration: Sendable {
    /// An IP literal, or `localhost` for both 127.0.0.1 and ::1. Loopback by default: the proxy
    /// holds a CA key, so exposing it is a decision to make on purpose.
    public var listenHost = "127.0.0.1"
    /// 0 picks a free port; read it back from `InterceptProxy.port`.
    public var port = 8080
    /// Client addresses served, as CIDR ranges or plain addresses (IPv4 and IPv6); others get `403`
    /// at accept time. Nil: everyone when listening on loopback, else loopback plus the private and
    /// link-local ranges (`ClientAllowList.privateNetworkEntries`), so a proxy on 0.0.0.0 in a
    /// container or on a CI runner is not open to a whole network.
    public var allowClients: [String]?
    /// Require `Proxy-Authorization: Basic` with these credentials on CONNECT and absolute-form
    /// requests; others get `407`. The header never goes upstream nor into flow events.
    public var proxyAuth: ProxyCredentials?
    public var profile: ChainProfile = .default
    /// Where generated CA material lives; the profile's CA is created there on first use.
    public var caDirectory = CADirectory.defaultPath
    /// A ready-made authority (e.g. a CA you bring); takes precedence over `caDirectory`.
    public var authority: CertificateAuthority?
    /// The test world's stand-in for the public web PKI, which signs what hosts the gateway does
    /// not inspect present (`bypassHosts`, the direct world). Nil: loaded from `caDirectory`'s
    /// `public` folder (created on first use), or generated in memory when `authority` is given.
    public var publicAuthority: CertificateAuthority?
    /// The file of `publicAuthority`'s root, to name in the ready file and in hints (the proxy knows
    /// its own when it loads the stand-in from `caDirectory`).
    public var publicCACertificateFile: String?
    /// The gateway world (hosts are intercepted but the bypassed ones) or the direct world (none is).
    public var world: World = .gateway
    /// Hosts the gateway does not inspect. Offline, or mapped by `mapRemote`, they present a leaf
    /// from the public stand-in root, as the real site would; otherwise they are spliced to the real
    /// upstream. Each tunnel's `tunnel_opened` event says `bypassed`.
    public var bypassHosts: [BypassRule] = []
    /// Accept connections the kernel redirected to the proxy (iptables/nftables `REDIRECT`, the
    /// original destination from `SO_ORIGINAL_DST`) beside explicit proxy requests on the same
    /// listener: TLS is intercepted for the name its ClientHello asks for (else the original
    /// address), plain HTTP goes to the `Host` it names. Requests on such connections cannot carry
    /// `Proxy-Authorization`, so `proxyAuth` does not apply to them.
    public var transparent = false
    /// With `transparent`: also listen on this port (0 picks one), to aim REDIRECT rules at a port
    /// of their own; redirected connections are recognised on either.
    public var transparentPort: Int?
    /// For a redirected connection whose TLS names no server: the host name its original address
    /// was handed out for (`verify --transparent`'s DNS stub), so the leaf names the host, not the address.
    public var redirectedAddressNames: (@Sendable (String) -> String?)?
    /// Offer h2 by ALPN to clients and, when they offered it, to upstreams. Off: HTTP/1.1 on both legs.
    public var http2 = true
    /// What the TLS server selects from the client's ALPN offer (see `ALPNPolicy`).
    public var alpn = ALPNPolicy.offer
    /// Answer every intercepted request locally instead of contacting upstreams.
    public var offline = false
    /// Connect upstream before answering the client's handshake and copy the real certificate's
    /// subject, SANs and validity into the forged leaf (the issuer stays the proxy's), as Zscaler
    /// and squid ssl-bump do.
    public var mimicUpstream = false
    /// Deliberate certificate defects for matching hosts (`*.example.com=expired`); the first match wins.
    /// Hosts under `badssl.test` carry their own (`expired.badssl.test`, ...) without a rule.
    public var failureRules: [FailureRule] = []
    /// Quirks (`Quirk`) only matching hosts' chains carry, besides the CA's own (`*.pypi.org=leaf-no-aki`):
    /// leaf quirks, and the intermediates' re-signed for those hosts; every matching rule adds its quirks.
    public var hostQuirks: [HostQuirkRule] = []
    /// Hosts the gateway's policy blocks: their requests get a vendor-shaped HTML block page with a
    /// 403 after the TLS handshake (the first match wins). Nothing is sent upstream for them.
    public var blockRules: [BlockRule] = []
    /// Regular expressions matched against `host:port` of each CONNECT; a match is spliced byte for
    /// byte, without TLS interception (the client sees the origin's own certificate).
    public var ignoreHosts: [String] = []
    /// Write a HAR 1.2 file here on shutdown (and when `writeHAR()` is called, e.g. on SIGUSR1).
    public var harPath: String?
    /// Send requests for some hosts to another address (a local origin), e.g. `pypi.org=127.0.0.1:8443`.
    public var mapRemote: [MapRemoteRule] = []
    /// Reach every upstream through this HTTP proxy (with CONNECT).
    public var upstreamProxy: UpstreamProxy?
    /// What happens when an upstream's certificate fails verification (see `UntrustedUpstreamPolicy`).
    /// Nil: what the profile's vendor does (`UntrustedUpstreamPolicy.vendorDefault`).
    public var untrustedUpstream: UntrustedUpstreamPolicy?
    /// Trust this CA file for upstream certificates, in addition to the system store.
    public var upstreamCAFile: String?
    /// Do not verify upstream certificates at all.
    public var upstreamInsecure = false
    /// One PEM file with a client certificate and its key, for upstreams that require mTLS.
    public var clientCertificateFile: String?
    /// Bound on DNS plus TCP connect (and the upstream proxy's answer); beyond it the client gets 504.
    public var connectTimeout: TimeInterval = 10
    /// Bound on waiting for upstream response bytes; beyond it the client gets 504.
    public var responseTimeout: TimeInterval = 60
    /// How many of the newest flow events `InterceptProxy.recordedEvents` keeps when no HAR is
    /// configured (with `harPath`, only `harHistoryBytes` bounds them).
    public var eventHistoryLimit = 10_000
    /// Bound on the memory of those events (`FlowEvent.estimatedBytes`) when no HAR is configured;
    /// the oldest go first when either bound is reached.
    public var eventHistoryBytes = 16 << 20
    /// Bound on the memory of the events kept for the HAR when `harPath` is set. Beyond it the
    /// oldest are dropped, a warning is logged once, and the HAR's `comment` says how many entries are missing.
    public var harHistoryBytes = 256 << 20
    /// Most client connections served at once; beyond it a new connection gets `503` and is closed.
    /// Nil: `ProxyConfiguration.defaultMaxConnections`, from the descriptor limit.
    public var maxConnections: Int?
    /// Append flow events as JSON lines to this file (`-` for stdout); an existing file is kept and extended.
    public var flowsPath: String?
    /// Bound on the flow events waiting for that file's writer, in bytes of JSON lines. A loop that
    /// finds it full waits up to 0.1 s for room, then the event is not written to the file (it stays
    /// in `recordedEvents` and `events`) and is counted in `InterceptProxy.droppedFlowLogEvents`.
    public var flowLogBufferBytes = FlowLogWriter.defaultCapacity
    /// An h2 client connection with no open stream and no frame received for this long gets GOAWAY
    /// (NO_ERROR) and is closed, recorded as an `idle_timeout` error event; 0 keeps idle ones open.
    public var http2IdleTimeout: TimeInterval = 120
    /// A client that has not finished its TLS handshake by then is dropped and recorded as `timeout`.
    public var handshakeTimeout: TimeInterval = 30
    /// Bound on receiving a whole HTTP/1.1 request head (the CONNECT, or a request in a tunnel),
    /// counted from the connection's start or the head's first byte; a connection that sends
    /// nothing counts too (slowloris). Then 408, or a plain close when nothing came; event
    /// `request_head_timeout`. nginx's client_header_timeout is the same 60 s.
    public var requestHeadTimeout: TimeInterval = 60
    /// How long an HTTP/1.1 connection may sit idle between a response and the next request; then it
    /// is closed with the event `idle_timeout` (nginx's keepalive_timeout is 75 s).
    public var keepAliveTimeout: TimeInterval = 75
    /// How long `stop()` waits for open connections to finish before closing them.
    public var shutdownGracePeriod: TimeInterval = 5
    /// The control API's `HOST:PORT` (or a bare PORT, on loopback; port 0 picks one): plain HTTP + JSON
    /// under /v1 (docs/ci-fixture.md, "Control API"). Nil: off. Beyond loopback it serves
    /// `allowClients`, or by default loopback and the private networks, as the proxy's port does.
    public var adminAddress: String?
    /// The root certificate's file to name in the ready file when `authority` is given directly
    /// (a CA you bring); with `caDirectory` the proxy knows its own.
    public var caCertificateFile: String?
    /// Event loops (serial queues, each with its epoll thread); see `defaultEventLoopCount`.
    public var eventLoopCount = ProxyConfiguration.defaultEventLoopCount

    /// One loop per two cores, at least one. A test proxy shares its machine with the clients and
    /// origins it serves: on 2 cores one loop cost 15% less CPU per keep-alive request and 10-20% less
    /// per repeat-host tunnel than two (a third fewer context switches), left the other core to curl
    /// and nginx, and moved 25-30% more repeat-host tunnels, at the same bulk and new-host rates.
    public static let defaultEventLoopCount = max(1, ProcessInfo.processInfo.activeProcessorCount / 2)

    /// Upper bound of `eventLoopCount` (each loop is a thread and a queue).
    public static let maximumEventLoopCount = 64

    public init() {}

    /// (RLIMIT_NOFILE soft limit − 64) / 2, at least 1: a client connection holds two descriptors
    /// (client and upstream), and 64 stay for the listeners, the flow log, the CA files and the like.
    public static var defaultMaxConnections: Int {
        var limit = rlimit()
        guard getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0 else { return 1 << 20 }
        return max(1, (Int(clamping: min(limit.rlim_cur, 1 << 22)) - 64) / 2)  // (RLIM_INFINITY is the all-ones value)
    }
}

/// `HOST[:PORT]=ADDRESS:PORT`: requests for HOST (on PORT, or any port) go to ADDRESS:PORT instead.
/// HOST may be a glob (`*.example.test`), as in `--failure`, so a whole test domain maps to one origin.
public struct MapRemoteRule: Sendable, Equatable {
    public var host: String
    public var port: Int?
    public var address: String
    public var addressPort: Int

    public init(host: String, port: Int?, address: String, addressPort: Int) {
        self.host = host.lowercased()
        self.port = port
        self.address = address
        self.addressPort = addressPort
    }

    /// Parses the command-line form.
    public init(parsing text: String) throws {
        let sides = text.split(separator: "=", maxSplits: 1).map(String.init)
        guard sides.count == 2, let (address, addressPort) = splitHostPort(sides[1]) else {
            throw ConfigurationError("--map-remote takes HOST[:PORT]=ADDRESS:PORT, got '\(text)'")
        }
        if let (host, port) = splitHostPort(sides[0]) {
            self.init(host: host, port: port, address: address, addressPort: addressPort)
        } else if !sides[0].isEmpty, !sides[0].contains(":") || sides[0].hasPrefix("[") {
            self.init(host: sides[0].trimming(charactersIn: "[]"), port: nil, address: address, addressPort: addressPort)
        } else {
            throw ConfigurationError("--map-remote takes HOST[:PORT]=ADDRESS:PORT, got '\(text)'")
        }
    }

    public func matches(host: String, port: Int) -> Bool {
        (self.port == nil || self.port == port) && (self.host == host.lowercased() || fnmatch(self.host, host.lowercased(), 0) == 0)
    }
}

/// An HTTP proxy to chain through, from `http://HOST:PORT`.
public struct UpstreamProxy: Sendable, Equatable {
    public var host: String
    public var port: Int

    public init(host: String, port: Int) {
        self.host = host
        self.port = port
    }

    public init(parsing text: String) throws {
        var rest = Substring(text)
        if rest.hasPrefix("http://") { rest = rest.dropFirst(7) }
        if rest.hasSuffix("/") { rest = rest.dropLast() }
        guard let (host, port) = splitHostPort(String(rest)) else {
            throw ConfigurationError("--upstream-proxy takes http://HOST:PORT, got '\(text)'")
        }
        self.init(host: host, port: port)
    }
}

/// A configuration value that cannot be used; the message names the option.
public struct ConfigurationError: Error, CustomStringConvertible, Sendable {
    public let description: String
    public init(_ description: String) { self.description = description }
}

/// `host:port` or `[v6]:port`.
func splitHostPort(_ text: String) -> (String, Int)? {
    guard let colon = text.lastIndex(of: ":"), let port = Int(text[text.index(after: colon)...]), (1...65535).contains(port) else {
        return nil
    }
    var host = String(text[..<colon])
    if host.hasPrefix("[") && host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) } else if host.contains(":") { return nil }
    return host.isEmpty ? nil : (host, port)
}

/// `HOSTPATTERN=MODE`: a glob over host names (`*` matches any run of characters) and a failure mode.
/// `HOSTPATTERN=QUIRK[,QUIRK...]`: matching hosts' chains carry these quirks (`--host-quirk`).
public struct HostQuirkRule: Sendable, Equatable {
    public var pattern: String
    public var quirks: [Quirk]

    public init(pattern: String, quirks: [Quirk]) {
        self.pattern = pattern.lowercased()
        self.quirks = quirks
    }

    public init(parsing text: String) throws {
        let sides = text.split(separator: "=", maxSplits: 1).map(String.init)
        guard sides.count == 2, !sides[0].isEmpty, !sides[1].isEmpty else {
            throw ConfigurationError("--host-quirk takes HOSTPATTERN=QUIRK[,QUIRK...], got '\(text)'")
        }
        do {
            self.init(pattern: sides[0], quirks: try Quirk.parse(sides[1]))
        } catch let error as CertForgeError {
            throw ConfigurationError("--host-quirk \(text): \(error.description)")
        }
    }

    func matches(_ host: String) -> Bool {
        fnmatch(pattern, host.lowercased(), 0) == 0
    }
}

public struct FailureRule: Sendable, Equatable {
    public var pattern: String
    public var mode: FailureMode

    public init(pattern: String, mode: FailureMode) {
        self.pattern = pattern.lowercased()
        self.mode = mode
    }

    public init(parsing text: String) throws {
        let sides = text.split(separator: "=", maxSplits: 1).map(String.init)
        guard sides.count == 2, !sides[0].isEmpty else {
            throw ConfigurationError("--failure takes HOSTPATTERN=MODE, got '\(text)'")
        }
        do {
            self.init(pattern: sides[0], mode: try FailureMode(name: sides[1]))
        } catch let error as CertForgeError {
            throw ConfigurationError("--failure \(text): \(error.description)")
        }
    }

    func matches(_ host: String) -> Bool {
        fnmatch(pattern, host.lowercased(), 0) == 0
    }
}
