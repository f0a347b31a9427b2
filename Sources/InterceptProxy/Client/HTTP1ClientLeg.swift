import CertForge
import FoundationEssentials
import EssentialsSupport
import Dispatch

/// The HTTP/1.1 client leg: plain proxy requests (CONNECT or absolute-form), or the requests inside
/// a tunnel whose client chose HTTP/1.1. Its job is framing: the wire becomes one `HTTPExchange`
/// at a time (forwarded over the connection's `UpstreamPool`, or answered locally), and what the
/// exchange writes becomes HTTP/1.1 bytes (`HTTP1ResponseWriter`). Pipelined requests wait in the
/// decoder, unread, until the response before them has ended (as nginx serves them), so responses
/// leave in request order and what waits is bounded. After `101 Switching Protocols` (and for a
/// spliced tunnel) it relays bytes both ways untouched. Held by its connection's state; confined
/// to its loop.
final class HTTP1ClientLeg: ExchangeResponder, UpstreamPoolOwner, UpstreamConnectionDelegate, @unchecked Sendable {
    /// The connection, through what a leg may ask of it. Strong, like the connection's state
    /// holding the leg: the cycle ends when the state moves on.
    let host: HTTP1LegHost
    private(set) var requests = HTTPRequestDecoder()
    /// The exchange whose request or response is under way; the next request waits for its end.
    private(set) var current: HTTPExchange?
    private var writer = HTTP1ResponseWriter()
    /// Whether a request arrived on this leg.
    private(set) var sawRequest = false
    /// The upstream bytes are relayed to and from, after a 101 or in a spliced tunnel.
    private(set) var relay: UpstreamTransport?
    /// Response bytes not yet handed to the client (see `batchForClient`); empty between reads.
    private var clientBatch: [UInt8] = []
    /// The one timer bounding how long the client keeps the proxy waiting (see HTTP1ClientLeg+Waiting.swift).
    var waiting: ClientWait?
    /// Armed for `waiting`'s timeout; made at the first wait.
    var waitTimer: LoopTimer?
    /// Set while client reading is paused because a pipelined request waits unread.
    private var heldBack = false
    /// Set once a plain-HTTP client half-closed: what it sent is answered, then the connection ends.
    private var clientDone = false

    /// Beyond this much of a pipelined request buffered, the client is not read until the
    /// response before it has ended.
    static let pipelineBuffer = 64 * 1024

    init(host: HTTP1LegHost) {
        self.host = host
    }

    /// Plaintext from the client (decrypted inside a tunnel).
    func receive(_ bytes: [UInt8]) {
        if let relay { return relay.send(bytes) }
        parseRequests(bytes)
    }

    /// The exchange whose request is being received (its head in, its body or trailers not yet):
    /// an error that refuses it is its end.
    var receiving: HTTPExchange? {
        guard requests.isInMessage, let current, !current.hasEnded else { return nil }
        return current
    }

    /// The exchanges in flight (at most one), for the connection's shutdown and drain checks.
    var outstanding: [HTTPExchange] { current.map { [$0] } ?? [] }

    /// The client connection is gone: so is the upstream, and no timer is left. A request whose
    /// response had not ended gets its end on record (the client left, the proxy stopped, or it
    /// refused another request here).
    func close() {
        waitTimer?.cancel()
        waiting = nil
        current?.connectionEnded()
        current = nil  // it holds its context (the connection) strongly
        relay?.delegate = nil
        relay?.close()
        relay = nil
    }

    // MARK: Requests

    private func parseRequests(_ bytes: [UInt8]) {
        var input = bytes
        do {
            var ended = false
            repeat {
                // One request at a time: what follows its end waits, buffered, for its response.
                let events = try requests.feed(input, oneMessage: true)
                input = []
                ended = false
                for event in events {
                    guard host.isServing(self), !host.isClosing else { return }
                    try handle(event)
                    if relay != nil || !host.isServing(self) { return }  // the rest belongs to the tunnel
                    if case .end = event { ended = true }
                }
                // A request answered at once (offline): the next one buffered may start now.
            } while ended && current == nil && requests.bufferedCount > 0 && host.isServing(self) && !host.isClosing
        } catch let refusal as RequestRefusal {
            host.reject(refusal)
        } catch let error as HTTPParseError {
            host.reject(RequestRefusal(status: error.status, cause: error.cause, reason: error.reason))
        } catch {
            host.reject(RequestRefusal(status: 400, cause: .badRequest, reason: "\(error)"))
        }
        holdBackPipelinedRequests()
    }

    /// A pipelined request beyond `pipelineBuffer` waits in the socket, not in memory.
    private func holdBackPipelinedRequests() {
        let hold = current != nil && !requests.isInMessage && requests.bufferedCount > Self.pipelineBuffer
        guard hold != heldBack else { return }
        heldBack = hold
        if hold { host.pauseClientReading() } else { host.resumeClientReading() }
    }

    private func handle(_ event: HTTPRequestDecoder.Event) throws {
        switch event {
        case let .head(head):
            if !host.isTunnel, !host.authorizesProxyRequest(head) { return }  // --proxy-auth
            if !host.isTunnel && head.method == "CONNECT" {
                // Earlier requests have been answered: the decoder stops after each one.
                waitTimer?.cancel()
                waiting = nil
                return try host.openTunnel(head, early: requests.takeBuffered())
            }
            try begin(head)
        case let .body(bytes):
            guard let current, !current.hasEnded else { return }
            current.requestBody(bytes)
            if current.requestBacklog > ClientConnection.backpressureLimit { host.pauseClientReading() }
        case .end:
            guard let current else { return }
            if host.answersLocally {
                if !current.hasEnded { current.answer(current.localAnswer) }
            } else {
                current.requestEnded()
            }
        }
    }

    /// Starts a request: records it and, when forwarding, sends it upstream.
    private func begin(_ received: HTTPRequestHead) throws {
        sawRequest = true
        host.requestArrived()
        var head = received
        var target = head.target
        var pool: UpstreamPool?
        if !host.isTunnel {
            // A plain proxy request must name its origin: http://host[:port]/path.
            let explicit = Self.absoluteHTTP(head.target)
            if explicit != nil { host.redirectedRoute = nil }  // an absolute URL goes where it names
            guard let (name, port, path) = explicit ?? host.redirectedOrigin(head) else {
                throw RequestRefusal(status: 400, cause: .badRequest,
                                     reason: "this is a proxy: send CONNECT host:port or an absolute http:// URL, not '\(head.method) \(head.target.prefix(200))'")
            }
            pool = try host.plainRequest(to: name, port: port, what: "\(head.method) \(head.target.prefix(200))")
            target = path
            // Meant for this proxy: neither the origin nor the flow events see it (credentials).
            head.headers.removeAll { $0.name.equalsIgnoringASCIICase("Proxy-Authorization") || $0.name.equalsIgnoringASCIICase("Proxy-Connection") }
            // The URL names the origin; a proxy replaces Host with its authority (RFC 9112 3.2.2), so
            // the origin reads the same host as the proxy did, and a request without Host gets one.
            head.headers.removeAll { $0.name.equalsIgnoringASCIICase("Host") }
            head.headers.insert((name: "Host", value: HTTPWire.authority(host: name, port: port, defaultPort: 80)), at: 0)
        } else {
            try checkTunnelRequest(head)
            pool = host.tunnelPool
        }
        // The request event shows what goes upstream, Host as rewritten.
        let exchange = HTTPExchange(context: host, method: head.method, url: url(for: head), clientVersion: head.version,
                                    keepAlive: head.keepAlive, requestHeaders: FlowHeaders(head.headers))
        exchange.responder = self
        current = exchange
        writer = HTTP1ResponseWriter()
        if host.answersLocally {
            if head.headerContains("Expect", token: "100-continue") { host.sendToClient(Array("HTTP/1.1 100 Continue\r\n\r\n".utf8)) }
            return
        }
        guard let pool else { return exchange.answer(exchange.localAnswer) }
        pool.owner = self
        exchange.forward(upstreamRequest(head, target: target), pool: pool)
    }

    /// The request as it goes upstream: Host is the authority, the body as the client framed it.
    private func upstreamRequest(_ head: HTTPRequestHead, target: String) -> UpstreamRequest {
        let authority = head.header("Host") ?? host.target.map { HTTPWire.authority(host: $0.host, port: $0.port, defaultPort: host.isTunnel ? 443 : 80) } ?? ""
        let body: UpstreamRequest.Body
        if head.headerContains("Transfer-Encoding", token: "chunked") {
            body = .unknown
        } else if let length = head.header("Content-Length").flatMap(Int.init), length > 0 {
            body = .length(length)
        } else {
            body = .none
        }
        return UpstreamRequest(method: head.method, scheme: host.isTunnel ? "https" : "http", authority: authority, target: target,
                               version: head.version, fields: head.headers.filter { !$0.name.equalsIgnoringASCIICase("Host") }, body: body)
    }

    // MARK: ExchangeResponder

    func write(_ write: ExchangeWrite, for exchange: HTTPExchange) {
        switch write {
        case let .local(response):
            flushClientBatch()
            host.sendToClient(response.serialized(forHEAD: exchange.isHEAD))
        case .abort:
            flushClientBatch()
            host.abortClient()  // a truncated transfer: the client must not take it for whole
        case .flush:
            flushClientBatch()
        default:
            if let bytes = writer.bytes(for: write), !bytes.isEmpty { batchForClient(bytes) }
            if case .end = write { flushClientBatch() }  // before anything else may write, close or change state
        }
    }

    func exchangeEnded(_ exchange: HTTPExchange, closeConnection: Bool) {
        guard exchange === current else { return }
        current = nil
        flushClientBatch()
        if closeConnection || writer.closesConnection { return host.closeClient() }
        host.closeIfDrained()
        guard !host.isClosing else { return }
        holdBackPipelinedRequests()
        if requests.bufferedCount > 0 { parseRequests([]) }  // the next pipelined request
        if clientDone && current == nil { return finishAfterHalfClose() }
        updateClientWait()
    }

    /// The client half-closed after sending its requests (plain HTTP): they are answered first.
    func clientFinishedSending() {
        clientDone = true
        if current == nil { finishAfterHalfClose() }
    }

    private func finishAfterHalfClose() {
        guard !host.isClosing else { return }
        if let cut = requests.truncation {
            host.reject(RequestRefusal(status: 400, cause: .badRequest, reason: cut))  // never a half request taken as whole
        } else {
            host.closeClient()
        }
    }

    func switchProtocols(_ exchange: HTTPExchange, upstream: UpstreamTransport, early: [UInt8]) {
        current = nil
        flushClientBatch()
        relay = upstream
        upstream.delegate = self
        host.beginRelaying(self)
        if !early.isEmpty { host.sendToClient(early) }
        let pending = requests.takeBuffered()
        if !pending.isEmpty { upstream.send(pending) }
        if heldBack {
            heldBack = false
            host.resumeClientReading()
        }
    }

    /// Starts relaying a spliced tunnel's bytes to `upstream`, with what the client sent already.
    func splice(to upstream: UpstreamTransport, early: [UInt8]) {
        relay = upstream
        upstream.delegate = self
        if !early.isEmpty { upstream.send(early) }
    }

    var clientBacklogged: Bool { host.clientPendingOutbound > 0 }

    func requestBodyDrained(_ exchange: HTTPExchange) {
        if !heldBack { host.resumeClientReading() }
    }

    /// The client took what was queued: the upstream may be read again.
    func clientDrained() {
        current?.clientTakesResponse(true)
        relay?.resumeReading()
    }

    /// The client's queue is full: the upstream is not read until it drains.
    func clientBackedUp() {
        current?.clientTakesResponse(false)
        relay?.pauseReading()
    }

    func upstreamPoolInputProcessed() {
        flushClientBatch()
    }

    // MARK: The relay's UpstreamConnectionDelegate

    func upstream(_ upstream: UpstreamTransport, received plaintext: [UInt8]) {
        host.sendToClient(plaintext)
    }

    func upstreamDrained(_ upstream: UpstreamTransport) {
        host.resumeClientReading()
    }

    func upstreamClosed(_ upstream: UpstreamTransport, failure: UpstreamFailure?) {
        if let failure { host.recordError(failure.cause, failure.message, status: nil, url: host.target.map { "\($0.host):\($0.port)" }, streamId: nil) }
        relay = nil
        host.closeClient()
    }

    // MARK: Writing

    /// Response bytes for the client, gathered while one upstream read is relayed (up to 4 KiB: a
    /// head and a small body leave as one TLS record; a bulk body goes out as it comes, uncopied).
    private func batchForClient(_ bytes: [UInt8]) {
        if clientBatch.count + bytes.count <= 4 * 1024 {
            clientBatch.append(contentsOf: bytes)
        } else {
            flushClientBatch()
            host.sendToClient(bytes)
        }
    }

    private func flushClientBatch() {
        guard !clientBatch.isEmpty else { return }
        let batch = clientBatch
        clientBatch = []
        host.sendToClient(batch)
    }

    // MARK: What a request may name

    /// A request inside a tunnel goes to the tunnel's origin, whatever it names: one naming another
    /// origin in absolute form would be logged under a host it never reached, so it is refused (421).
    private func checkTunnelRequest(_ head: HTTPRequestHead) throws {
        if head.version == "HTTP/1.1" && head.header("Host") == nil {  // two of them the decoder refused
            throw RequestRefusal(status: 400, cause: .badRequest, reason: "an HTTP/1.1 request needs a Host header field")
        }
        let lowered = head.target.lowercased()
        guard lowered.hasPrefix("https://") || lowered.hasPrefix("http://"), let target = host.target else { return }
        let rest = head.target.dropFirst(lowered.hasPrefix("https://") ? 8 : 7)
        let authority = String(rest[..<(rest.firstIndex { $0 == "/" || $0 == "?" } ?? rest.endIndex)])
        let named = splitHostPort(authority) ?? (authority.trimming(charactersIn: "[]"), target.port)
        guard named.0.lowercased() == target.host.lowercased(), named.1 == target.port else {
            throw RequestRefusal(status: 421, cause: .misdirectedRequest,
                                 reason: "this tunnel leads to \(HTTPWire.authority(host: target.host, port: target.port)), not to \(authority.prefix(200))")
        }
    }

    private func url(for head: HTTPRequestHead) -> String {
        if head.target.hasPrefix("https://") || head.target.hasPrefix("http://") { return head.target }
        guard let target = host.target else { return head.target }
        // Outside a tunnel, an origin-form request came on a redirected plain-HTTP connection.
        let scheme = host.isTunnel ? "https" : "http"
        return "\(scheme)://\(HTTPWire.authority(host: target.host, port: target.port, defaultPort: host.isTunnel ? 443 : 80))\(head.target)"
    }

    /// Splits `http://host[:port]/path` into its parts.
    static func absoluteHTTP(_ target: String) -> (String, Int, String)? {
        guard target.lowercased().hasPrefix("http://") else { return nil }
        let rest = target.dropFirst(7)
        let slash = rest.firstIndex(of: "/") ?? rest.endIndex
        let authority = String(rest[..<slash])
        let path = slash == rest.endIndex ? "/" : String(rest[slash...])
        let parsed: (String, Int)
        if let (host, port) = splitHostPort(authority) {
            parsed = (host, port)
        } else {
            guard !authority.isEmpty, !authority.contains(":") || authority.hasPrefix("[") else { return nil }
            parsed = (authority.trimming(charactersIn: "[]"), 80)
        }
        // The host must be one a strict origin reads the same way: no userinfo, spaces or odd bytes.
        guard let name = try? ServerName(parsed.0) else { return nil }
        return (name.text, parsed.1, path)
    }
}
