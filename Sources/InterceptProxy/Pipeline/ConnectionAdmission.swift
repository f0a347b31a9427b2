import Foundation
import Logging

/// Counts the client connections being served and refuses new ones beyond the limit, with a `503`
/// and a `connection_limit` event at most once a second (carrying how many were refused).
/// A connection counts from its accept, not its adoption on a loop, so a burst of accepts queued
/// for the loops cannot overshoot the limit.
final class ConnectionAdmission: @unchecked Sendable {
    let limit: Int
    private let lock = NSLock()
    private var open = 0
    private let refusals: BurstReporter
    private let farewell: [UInt8]

    init(limit: Int, recorder: FlowRecorder, logger: Logger) throws {
        guard limit >= 1 else { throw ConfigurationError("--max-connections must be at least 1, got \(limit)") }
        self.limit = limit
        farewell = HTTPResponse.text(503, "intercept-proxy: \(limit) connections are open, the most it serves at once (--max-connections); try again later", close: true).serialized()
        refusals = BurstReporter { count, peer in
            var event = FlowEvent(type: .error, connection: 0)
            event.client = peer?.description
            event.cause = "connection_limit"
            event.status = 503
            event.count = count
            event.detail = "refused \(count) connection\(count == 1 ? "" : "s") with 503: \(limit) open, the limit (--max-connections)"
            recorder.record(event)
            logger.warning("\(event.detail!)")
        }
    }

    /// Called on the accept queue for each new socket.
    func admit(_ peer: SocketAddress?) -> ListenerHandlers.Admission {
        let admitted = lock.withLock {
            guard open < limit else { return false }
            open += 1
            return true
        }
        if admitted { return .serve }
        refusals.note(peer)
        return .refuse(farewell: farewell)
    }

    /// An admitted connection has closed.
    func release() {
        lock.withLock { open -= 1 }
    }

    /// Connections admitted and not yet closed.
    var openConnections: Int { lock.withLock { open } }
}
