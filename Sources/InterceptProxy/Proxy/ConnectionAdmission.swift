import FoundationEssentials
import EssentialsSupport
import Logging

/// Counts the client connections being served and refuses new ones beyond the limit, with a `503`
/// and a `connection_limit` event at most once a second (carrying how many were refused).
/// A connection counts from its accept, not its adoption on a loop, so a burst of accepts queued
/// for the loops cannot overshoot the limit. Before counting, a client outside the allow-list
/// (`--allow-clients`) gets a `403` and a `client_not_allowed` event (also at most once a second).
final class ConnectionAdmission: @unchecked Sendable {
    let limit: Int
    /// Nil: every client that can connect is served.
    let allowList: ClientAllowList?
    private let forbidden: BurstReporter
    private let lock = PthreadMutex()
    private var open = 0
    private let refusals: BurstReporter
    private let farewell: [UInt8]

    init(limit: Int, allowList: ClientAllowList? = nil, recorder: FlowRecorder, logger: Logger) throws {
        guard limit >= 1 else { throw ConfigurationError("--max-connections must be at least 1, got \(limit)") }
        self.limit = limit
        self.allowList = allowList
        forbidden = Self.reporter(cause: .clientNotAllowed, status: 403, recorder: recorder, logger: logger) { count, peer in
            "refused \(count) connection\(count == 1 ? "" : "s") with 403 from \(count == 1 ? "" : "clients such as ")\(peer?.host ?? "an unknown address"), outside --allow-clients"
        }
        farewell = HTTPResponse.text(503, "intercept-proxy: \(limit) connections are open, the most it serves at once (--max-connections); try again later", close: true).serialized()
        refusals = Self.reporter(cause: .connectionLimit, status: 503, recorder: recorder, logger: logger) { count, _ in
            "refused \(count) connection\(count == 1 ? "" : "s") with 503: \(limit) open, the limit (--max-connections)"
        }
    }

    /// One `error` event (connection 0, `count` refusals) and one warning per burst of refusals.
    private static func reporter(cause: FlowCause, status: Int, recorder: FlowRecorder, logger: Logger,
                                 detail: @escaping @Sendable (Int, SocketAddress?) -> String) -> BurstReporter {
        BurstReporter { count, peer in
            var event = FlowEvent(type: .error, connection: 0)
            event.client = peer?.description
            event.cause = cause
            event.status = status
            event.count = count
            event.detail = detail(count, peer)
            recorder.record(event)
            logger.warning("\(event.detail!)")
        }
    }

    /// Called on the accept queue for each new socket.
    func admit(_ peer: SocketAddress?) -> ListenerHandlers.Admission {
        if let allowList, !allowList.allows(peer?.host ?? "") {
            forbidden.note(peer)
            return .refuse(farewell: Self.forbiddenAnswer(peer, allowList))
        }
        let admitted = lock.withLock {
            guard open < limit else { return false }
            open += 1
            return true
        }
        if admitted { return .serve }
        refusals.note(peer)
        return .refuse(farewell: farewell)
    }

    /// The 403 a client outside the allow-list reads: who it is, and the flag that would let it in.
    static func forbiddenAnswer(_ peer: SocketAddress?, _ allowList: ClientAllowList) -> [UInt8] {
        let ranges = allowList.entries.count > 8 ? allowList.entries.prefix(8).joined(separator: ", ") + ", ..." : allowList.entries.joined(separator: ", ")
        return HTTPResponse.text(403, "intercept-proxy: clients from \(peer?.host ?? "this address") may not use this proxy; "
            + "allowed: \(ranges.isEmpty ? "none" : ranges). Allow them with --allow-clients CIDR (repeatable).", close: true).serialized()
    }

    /// An admitted connection has closed.
    func release() {
        lock.withLock { open -= 1 }
    }

    /// Connections admitted and not yet closed.
    var openConnections: Int { lock.withLock { open } }
}
