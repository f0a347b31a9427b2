@testable import CertForge
import Foundation
import Synchronization
import Testing

@Suite struct LeafCacheTests {
    @Test func cacheHitsReturnTheSameChain() throws {
        let forge = try LeafForge(authority: Fixtures.authority(.plain))
        let first = try forge.chain(for: "hit.example")
        let second = try forge.chain(for: "HIT.example.")  // the same name once normalised
        #expect(first.leaf === second.leaf)
        #expect(forge.cachedCount == 1)
        let broken = try forge.chain(for: "hit.example", failure: .expired)
        #expect(broken.leaf !== first.leaf, "a failure mode is part of the cache key")
        #expect(forge.cachedCount == 2)
    }

    @Test func concurrentMissesForOneHostForgeOnce() throws {
        let forge = try Fixtures.forge(.plain)
        let cache = LeafCache<String>(capacity: 8)
        let forged = Atomic<Int>(0)
        let results = Locked<[ForgedChain]>([])
        DispatchQueue.concurrentPerform(iterations: 16) { _ in
            let chain = try? cache.value(for: "same", isFresh: { _ in true }) {
                forged.add(1, ordering: .relaxed)
                usleep(50_000)  // hold the flight open so the other threads pile up behind it
                return try forge.forge(ServerName("same.example"))
            }
            if let chain { results.withLock { $0.append(chain) } }
        }
        #expect(forged.load(ordering: .relaxed) == 1)
        let leaves = results.withLock { $0.map(\.leaf) }
        #expect(leaves.count == 16)
        #expect(leaves.allSatisfy { $0 === leaves[0] })
    }

    @Test func evictsTheLeastRecentlyUsed() throws {
        let forge = try Fixtures.forge(.plain)
        let cache = LeafCache<String>(capacity: 2)
        var made: [String] = []
        func get(_ key: String) throws -> ForgedChain {
            try cache.value(for: key, isFresh: { _ in true }) {
                made.append(key)
                return try forge.forge(ServerName("\(key).example"))
            }
        }
        _ = try get("a"); _ = try get("b")
        _ = try get("a")          // a is now the most recent
        _ = try get("c")          // evicts b
        #expect(cache.count == 2)
        _ = try get("a")          // still cached
        _ = try get("b")          // forged again
        #expect(made == ["a", "b", "c", "b"])
    }

    @Test func staleEntriesAreForgedAgainAndFailuresAreNotCached() throws {
        let forge = try Fixtures.forge(.plain)
        let cache = LeafCache<String>(capacity: 4)
        let first = try cache.value(for: "k", isFresh: { _ in true }) { try forge.forge(ServerName("k.example")) }
        let renewed = try cache.value(for: "k", isFresh: { _ in false }) { try forge.forge(ServerName("k.example")) }
        #expect(first.leaf !== renewed.leaf)
        struct Boom: Error {}
        #expect(throws: Boom.self) { try cache.value(for: "bad", isFresh: { _ in true }) { throw Boom() } }
        let recovered = try cache.value(for: "bad", isFresh: { _ in true }) { try forge.forge(ServerName("bad.example")) }
        #expect(recovered.serverName == .dns("bad.example"))
    }
}
