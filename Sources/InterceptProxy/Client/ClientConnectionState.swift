import CertForge
import Dispatch
import FoundationEssentials

extension ClientConnection {
    /// Where a client connection is in its life; each case carries what only it needs.
    enum State {
        /// A new connection: the first proxy request (CONNECT or absolute-form) is awaited by the leg.
        case awaitingRequest(HTTP1ClientLeg)
        /// Plain-HTTP proxy requests: HTTP/1.1 exchanges without TLS.
        case plainHTTP(HTTP1ClientLeg)
        /// CONNECT answered: the client's TLS handshake runs (ClientConnection+Tunnel.swift).
        case handshaking(Handshake)
        /// TLS is up and the client speaks HTTP/1.1 inside the tunnel.
        case http1(HTTP1ClientLeg)
        /// TLS is up and the client negotiated h2: its leg carries the streams.
        case http2(HTTP2ClientLeg)
        /// Bytes flow both ways untouched between the client and the leg's upstream: a spliced
        /// tunnel (--ignore-hosts), or after `101 Switching Protocols`.
        case relaying(HTTP1ClientLeg)
        /// The proxy ended the connection: what is queued drains, then the socket closes. The leg
        /// stays until the socket is gone, when its upstreams close and its open exchanges or
        /// streams are abandoned (and recorded).
        case closing(ClientLeg?)
        /// The socket is gone.
        case closed

        var isHandshaking: Bool { if case .handshaking = self { return true } else { return false } }
        var isRelaying: Bool { if case .relaying = self { return true } else { return false } }

        /// Decrypted client bytes go to an HTTP/1.1 or h2 leg (not to a handshake or a relay).
        var feedsALeg: Bool {
            switch self {
            case .awaitingRequest, .plainHTTP, .http1, .http2: return true
            default: return false
            }
        }

        /// Closing or closed: nothing new is read or started.
        var isClosing: Bool {
            switch self {
            case .closing, .closed: return true
            default: return false
            }
        }

        /// HTTP/1.1 exchanges are under way: plain-HTTP requests, or inside the tunnel.
        var exchangesHTTP1: Bool {
            switch self {
            case .plainHTTP, .http1: return true
            default: return false
            }
        }

        /// The HTTP/1.1 leg, while it serves or relays, or its connection is closing.
        var http1Leg: HTTP1ClientLeg? {
            switch self {
            case let .awaitingRequest(leg), let .plainHTTP(leg), let .http1(leg), let .relaying(leg), let .closing(.http1(leg)?): return leg
            default: return nil
            }
        }

        /// The h2 leg, while it serves or its connection is closing.
        var http2Leg: HTTP2ClientLeg? {
            switch self {
            case let .http2(leg), let .closing(.http2(leg)?): return leg
            default: return nil
            }
        }

        /// The leg serving now, whichever it is.
        var leg: ClientLeg? {
            if let leg = http1Leg { return .http1(leg) }
            return http2Leg.map { .http2($0) }
        }
    }

    /// The client leg a connection has, by the protocol its client speaks.
    enum ClientLeg {
        case http1(HTTP1ClientLeg)
        case http2(HTTP2ClientLeg)
    }

    /// The client's TLS handshake in a tunnel, bounded by `timer`.
    struct Handshake {
        let timer: LoopTimer
        /// Whether the first bytes were a TLS record (anything else is plaintext in a tunnel).
        var sawTLSRecord = false
        /// Set while the handshake waits for the upstream dialled first: its certificate shapes
        /// the leaf (--mimic-upstream), or its verdict decides who signs it, if anyone
        /// (--untrusted-upstream resign-untrusted or pass).
        var upstreamFirst: UpstreamFirst?
        /// That upstream connection, handed to the client leg once ALPN has chosen it.
        var dial: UpstreamConnection?
        /// What the dialled upstream sent meanwhile, for the client leg that takes it over.
        var heldInput: [UInt8] = []
        /// The client's bytes as they came, kept while `pass` may still relay them to the site
        /// (nil otherwise, or once beyond `ClientConnection.backpressureLimit`).
        var clientBytes: [UInt8]?
        /// Whether the proxy's TLS already answered (then the client's handshake cannot be relayed).
        var answered = false
        /// The client's bytes until its ClientHello is read for the tunnel's fingerprint (nil after).
        var helloBytes: [UInt8]? = []
        var helloAttempts = 0
    }

    /// What the handshake waits for from the upstream dialled first.
    struct UpstreamFirst {
        let name: ServerName
        let failure: FailureMode?
        /// Copy the upstream's certificate into the leaf (--mimic-upstream).
        let copiesCertificate: Bool
    }

    /// A CONNECT tunnel, from its `200 Connection established` to its `tunnelClosed` event.
    struct Tunnel {
        let opened = Date()
        /// Intercepted, shown the site's own (public stand-in) certificate, or spliced.
        var treatment: TunnelTreatment
        /// The world it was opened in (the control API may change it for later tunnels).
        let world: World
        /// The TLS session with the client; nil for a spliced tunnel.
        var tls: TLSServerSession?
        var handshakeCompleted = false
        /// Whether a request arrived inside the tunnel (if not, the client may have rejected the certificate).
        var sawRequest = false
        /// What the client's ClientHello says about its TLS stack.
        var fingerprint: ClientFingerprint?
        /// The upstream's certificate failed verification and the leaf came from the untrusted CA
        /// (resign-untrusted): its connections are not verified again.
        var upstreamUnverified = false
    }
}
