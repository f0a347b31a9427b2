import CertForge
import Dispatch
import Foundation

/// Forges leaves off the event loops and coalesces concurrent requests for one name: the first
/// asker starts the work, later askers only queue their completion.
final class ForgeCoordinator: @unchecked Sendable {
    let forge: LeafForge
    private let lock = NSLock()
    private var pending: [Key: [@Sendable (Result<ForgedChain, Error>) -> Void]] = [:]
    private let workers = DispatchQueue(label: "intercept-proxy.forge", qos: .userInitiated, attributes: .concurrent)
    /// Entered for each forge in flight, so that `waitUntilIdle` can wait for them.
    private let inFlight = DispatchGroup()

    private struct Key: Hashable {
        let name: ServerName
        let failure: FailureMode?
        let mimicked: [UInt8]?
    }

    init(forge: LeafForge) {
        self.forge = forge
    }

    /// The chain if it is cached (never blocks), else nil.
    func cached(_ name: ServerName, failure: FailureMode?, mimicking upstream: Certificate? = nil) -> ForgedChain? {
        forge.cachedChain(for: name, failure: failure, mimicking: upstream)
    }

    /// Calls `completion` on a worker thread once the chain exists.
    func chain(for name: ServerName, failure: FailureMode?, mimicking upstream: Certificate? = nil,
               completion: @escaping @Sendable (Result<ForgedChain, Error>) -> Void) {
        let key = Key(name: name, failure: failure, mimicked: upstream?.sha256Fingerprint)
        lock.lock()
        if pending[key] != nil {
            pending[key]!.append(completion)
            lock.unlock()
            return
        }
        pending[key] = [completion]
        lock.unlock()
        workers.async(group: inFlight) { [self] in
            let result = Result { try forge.chain(for: name, failure: failure, mimicking: upstream) }
            lock.lock()
            let waiting = pending.removeValue(forKey: key) ?? []
            lock.unlock()
            for completion in waiting { completion(result) }
        }
    }

    /// Blocks until no forge runs and the shared leaf key exists: after this, no thread of the
    /// forge touches OpenSSL (the process may exit).
    func waitUntilIdle() {
        inFlight.wait()
        forge.waitForBackgroundWork()
    }
}
