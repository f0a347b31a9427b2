import FoundationEssentials
import Dispatch

/// One control API client: requests parsed with the proxy's strict HTTP/1.1 decoder, one at a time
/// (a long poll holds the connection; reading pauses meanwhile), answered by `AdminRoutes`.
/// Bounded: a body of `maximumBodySize`, `idleTimeout` between requests and for a whole request.
/// Confined to its connection's loop.
final class AdminConnection: ConnectionDelegate, @unchecked Sendable {
    static let maximumBodySize = 1 << 20
    static let idleTimeout: TimeInterval = 30

    private let connection: Connection
    private let routes: AdminRoutes
    private let closed: (AdminConnection) -> Void
    private var decoder = HTTPRequestDecoder()
    private var head: HTTPRequestHead?
    private var body: [UInt8] = []
    private var busy = false
    private var timer: LoopTimer?
    /// Run once the connection is gone (after a shutdown request's answer is sent).
    private var afterClose: (@Sendable () -> Void)?

    init(connection: Connection, routes: AdminRoutes, closed: @escaping (AdminConnection) -> Void) {
        self.connection = connection
        self.routes = routes
        self.closed = closed
    }

    func start() {
        connection.delegate = self
        connection.start()
        armTimer()
    }

    /// From any thread: closes on the connection's loop.
    func closeFromOutside() {
        connection.loop.execute { [self] in connection.close() }
    }

    private func armTimer() {
        timer?.cancel()
        timer = connection.loop.schedule(after: Self.idleTimeout) { [weak self] in
            guard let self, !busy else { return }
            // Silence gets a plain close; a request begun and not finished gets 408.
            if decoder.isIdle && head == nil { connection.close() } else {
                send(AdminReply.error(408, field: "request", "the request did not arrive within \(Int(Self.idleTimeout)) s"), keepAlive: false)
            }
        }
    }

    func connection(_ connection: Connection, received bytes: [UInt8]) {
        guard !busy else { return }
        do {
            let events = try decoder.feed(bytes)
            for (index, event) in events.enumerated() {
                switch event {
                case .head(let parsed):
                    // Refused before the body arrives: no point reading a mebibyte to discard it.
                    if let length = parsed.header("Content-Length").flatMap(Int.init), length > Self.maximumBodySize {
                        send(AdminReply.error(413, field: "body", "request bodies are at most \(Self.maximumBodySize) bytes"), keepAlive: false)
                        return
                    }
                    head = parsed
                    body = []
                case .body(let piece):
                    guard body.count + piece.count <= Self.maximumBodySize else {
                        send(AdminReply.error(413, field: "body", "request bodies are at most \(Self.maximumBodySize) bytes"), keepAlive: false)
                        return
                    }
                    body += piece
                case .end:
                    guard let request = head else { continue }
                    head = nil
                    // One at a time: a client that pipelines gets its first answer, then a close.
                    let more = index < events.count - 1 || decoder.bufferedCount > 0
                    dispatch(request, keepAlive: request.keepAlive && !more && request.method != "CONNECT")
                    return
                }
            }
        } catch let error as HTTPParseError {
            send(AdminReply.error(error.status, field: "request", error.reason), keepAlive: false)
        } catch {
            send(AdminReply.error(400, field: "request", "\(error)"), keepAlive: false)
        }
    }

    private func dispatch(_ request: HTTPRequestHead, keepAlive: Bool) {
        busy = true
        connection.pauseReading()
        timer?.cancel()
        let loop = connection.loop
        // Held until answered: a long poll's answer comes from another thread, at most its wait later.
        routes.handle(request, body: body) { [self] reply, afterClose in
            loop.execute {
                self.busy = false
                self.afterClose = afterClose
                self.send(reply, keepAlive: keepAlive && afterClose == nil)
            }
        }
        body = []
    }

    private func send(_ reply: AdminReply, keepAlive: Bool) {
        connection.write(reply.serialized(keepAlive: keepAlive))
        if keepAlive {
            armTimer()
            connection.resumeReading()
        } else {
            timer?.cancel()
            connection.closeWhenDrained()
        }
    }

    func connectionReadEOF(_ connection: Connection) {
        if !busy { connection.closeWhenDrained() }
    }

    func connectionDrained(_ connection: Connection) {}

    func connectionClosed(_ connection: Connection, error: SocketError?) {
        timer?.cancel()
        closed(self)
        afterClose?()
        afterClose = nil
    }
}
