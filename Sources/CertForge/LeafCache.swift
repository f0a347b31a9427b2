import FoundationEssentials
import EssentialsSupport

/// A bounded least-recently-used map of forged chains with single-flight filling:
/// concurrent misses for one key forge once, the other callers wait for that result.
final class LeafCache<Key: Hashable & Sendable>: @unchecked Sendable {
    private final class Node {
        let key: Key
        var value: ForgedChain
        var newer: Node?
        weak var older: Node?
        init(key: Key, value: ForgedChain) { self.key = key; self.value = value }
    }

    private let capacity: Int
    private let condition = PthreadCondition()  // guards everything below
    private var nodes: [Key: Node] = [:]
    private var oldest: Node?
    private var newest: Node?
    private var inFlight: Set<Key> = []

    init(capacity: Int) {
        precondition(capacity > 0, "cache capacity must be positive")
        self.capacity = capacity
    }

    var count: Int {
        condition.lock(); defer { condition.unlock() }
        return nodes.count
    }

    /// The cached value if present and fresh, without waiting or forging: the event-loop fast path.
    func peek(_ key: Key, isFresh: (ForgedChain) -> Bool) -> ForgedChain? {
        condition.lock()
        defer { condition.unlock() }
        guard let node = nodes[key], isFresh(node.value) else { return nil }
        touch(node)
        return node.value
    }

    /// The cached value for `key` if `isFresh` accepts it, else the result of `make`, stored.
    func value(for key: Key, isFresh: (ForgedChain) -> Bool, make: () throws -> ForgedChain) throws -> ForgedChain {
        condition.lock()
        while true {
            if let node = nodes[key] {
                if isFresh(node.value) {
                    touch(node)
                    condition.unlock()
                    return node.value
                }
                remove(node)
            }
            if !inFlight.contains(key) { break }
            condition.wait()
        }
        inFlight.insert(key)
        condition.unlock()

        let result = Result { try make() }

        condition.lock()
        inFlight.remove(key)
        if case let .success(value) = result { insert(key: key, value: value) }
        condition.broadcast()
        condition.unlock()
        return try result.get()
    }

    private func insert(key: Key, value: ForgedChain) {
        if let existing = nodes[key] { remove(existing) }
        let node = Node(key: key, value: value)
        nodes[key] = node
        append(node)
        while nodes.count > capacity, let victim = oldest { remove(victim) }
    }

    private func touch(_ node: Node) {
        guard newest !== node else { return }
        unlink(node)
        append(node)
    }

    private func remove(_ node: Node) {
        unlink(node)
        nodes[node.key] = nil
    }

    private func append(_ node: Node) {
        node.older = newest
        node.newer = nil
        newest?.newer = node
        newest = node
        if oldest == nil { oldest = node }
    }

    private func unlink(_ node: Node) {
        if let older = node.older { older.newer = node.newer } else { oldest = node.newer }
        if let newer = node.newer { newer.older = node.older } else { newest = node.older }
        node.newer = nil
        node.older = nil
    }
}
