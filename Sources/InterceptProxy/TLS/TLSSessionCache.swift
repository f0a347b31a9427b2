import COpenSSL
import FoundationEssentials
import EssentialsSupport

/// The upstream leg's TLS sessions, one per (server name, ALPN offer), so that the next connection to
/// the same origin resumes (a TLS 1.3 ticket or a TLS 1.2 session) instead of paying a full handshake
/// (key exchange, and chain verification here; a signature at the origin). Bounded in entries (a
/// session with its peer's chain is a few KiB); the oldest name goes first. Thread-safe: loops store
/// and take concurrently. A resumed session was verified, for the same name, when it was made.
final class TLSSessionCache: @unchecked Sendable {
    static let defaultCapacity = 256

    private let lock = PthreadMutex()
    private let capacity: Int
    private var sessions: [String: OpaquePointer] = [:]
    /// Keys in insertion order, for eviction; `head` skips the ones already evicted.
    private var order: [String] = []
    private var head = 0

    init(capacity: Int = TLSSessionCache.defaultCapacity) {
        self.capacity = max(1, capacity)
    }

    deinit {
        for session in sessions.values { SSL_SESSION_free(session) }
    }

    /// Where one connection's new sessions go (the new-session callback's app data).
    final class Slot {
        let cache: TLSSessionCache
        let key: String

        init(cache: TLSSessionCache, key: String) {
            self.cache = cache
            self.key = key
        }

        /// Takes ownership of `session`; false when it cannot be resumed (OpenSSL keeps its reference).
        func store(_ session: OpaquePointer) -> Bool {
            guard SSL_SESSION_is_resumable(session) == 1 else { return false }
            cache.store(session, for: key)
            return true
        }
    }

    static func key(serverName: String, alpn: [String]?) -> String {
        serverName + "|" + (alpn ?? []).joined(separator: ",")
    }

    var count: Int {
        lock.lock()
        defer { lock.unlock() }
        return sessions.count
    }

    func holds(_ key: String) -> Bool {
        lock.lock()
        defer { lock.unlock() }
        return sessions[key] != nil
    }

    /// Takes ownership of `session` (one reference), replacing the one held for `key`.
    func store(_ session: OpaquePointer, for key: String) {
        lock.lock()
        var released: [OpaquePointer] = []
        if let old = sessions.updateValue(session, forKey: key) {
            released.append(old)
        } else {
            order.append(key)
            while sessions.count > capacity, head < order.count {
                let oldest = order[head]
                head += 1
                if let evicted = sessions.removeValue(forKey: oldest) { released.append(evicted) }
            }
            if head > 0 && head * 2 >= order.count {
                order.removeFirst(head)
                head = 0
            }
        }
        lock.unlock()
        for session in released { SSL_SESSION_free(session) }
    }

    /// Offers the session held for `key` to `ssl` (SSL_set_session takes its own reference).
    func offer(to ssl: OpaquePointer, for key: String) {
        lock.lock()
        defer { lock.unlock() }
        guard let session = sessions[key] else { return }
        if SSL_SESSION_is_resumable(session) == 1 { _ = SSL_set_session(ssl, session) }
    }
}
