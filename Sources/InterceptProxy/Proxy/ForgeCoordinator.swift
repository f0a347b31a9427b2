import CertForge
import Dispatch
import FoundationEssentials
import EssentialsSupport

/// Forges leaves off the event loops and coalesces concurrent requests for one name: the first
/// asker starts the work, later askers only queue their completion.
final class ForgeCoordinator: @unchecked Sendable {
    let forge: LeafForge
    private let lock = PthreadMutex()
    private var pending: [Key: [@Sendable (Result<ForgedChain, Error>) -> Void]] = [:]
    private let workers = DispatchQueue(label: "intercept-proxy.forge", qos: .userInitiated, attributes: .concurrent)
    /// Entered for each forge in flight, so that `waitUntilIdle` can wait for them.
    private let inFlight = DispatchGroup()

    private struct Key: Hashable {
        let name: ServerName
        let failure: FailureMode?
        let quirks: [Quirk]
        let mimicked: [UInt8]?
    }

    /// Told, once per host, of a leaf outside the CA's name constraints (`ca init --name-constraints`).
    private let outsideConstraints: (@Sendable (_ host: String, _ reason: String) -> Void)?
    private let checksConstraints: Bool
    /// Hosts already reported, with the reason; bounded, then reset (a host may then be reported again).
    private var reported: [String: String] = [:]

    init(forge: LeafForge, outsideConstraints: (@Sendable (_ host: String, _ reason: String) -> Void)? = nil) {
        self.forge = forge
        self.outsideConstraints = outsideConstraints
        let authority = forge.authority
        checksConstraints = ([authority.root] + authority.intermediates).contains { $0.certificate.nameConstraintsText != nil }
    }

    /// Forging outside the constraints still works (the client sees what a real gateway would
    /// send), but clients that enforce them will refuse the leaf: say so once per host.
    private func checkConstraints(_ result: Result<ForgedChain, Error>, failure: FailureMode?) {
        guard checksConstraints, failure == nil, let outsideConstraints, case let .success(chain) = result,
              let reason = forge.authority.nameConstraintViolation(of: chain.leaf) else { return }
        let host = chain.serverName.text
        let isNew = lock.withLock {
            if reported.count >= 4_096 { reported.removeAll() }
            return reported.updateValue(reason, forKey: host) == nil
        }
        if isNew { outsideConstraints(host, reason) }
    }

    /// Why the leaf forged for this host breaks the CA's name constraints, if it does (and was reported).
    func constraintViolation(for host: String?) -> String? {
        guard checksConstraints, let host else { return nil }
        return lock.withLock { reported[host] }
    }

    /// The chain if it is cached (never blocks), else nil.
    func cached(_ name: ServerName, failure: FailureMode?, quirks: [Quirk] = [], mimicking upstream: Certificate? = nil) -> ForgedChain? {
        forge.cachedChain(for: name, failure: failure, quirks: quirks, mimicking: upstream)
    }

    /// Calls `completion` on a worker thread once the chain exists.
    func chain(for name: ServerName, failure: FailureMode?, quirks: [Quirk] = [], mimicking upstream: Certificate? = nil,
               completion: @escaping @Sendable (Result<ForgedChain, Error>) -> Void) {
        let key = Key(name: name, failure: failure, quirks: quirks, mimicked: upstream?.sha256Fingerprint)
        lock.lock()
        if pending[key] != nil {
            pending[key]!.append(completion)
            lock.unlock()
            return
        }
        pending[key] = [completion]
        lock.unlock()
        workers.async(group: inFlight) { [self] in
            let result = Result { try forge.chain(for: name, failure: failure, quirks: quirks, mimicking: upstream) }
            checkConstraints(result, failure: failure)
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
