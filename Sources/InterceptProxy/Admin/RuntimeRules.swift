import CertForge
import FoundationEssentials
import EssentialsSupport

/// The failure-mode and map-remote rules in force, changeable while the proxy runs (the control
/// API, `InterceptProxy.failureRules`). Starts with the configuration's; `reset` goes back to them.
/// Thread-safe: every connection reads it when it forges or routes.
final class RuntimeRules: @unchecked Sendable {
    private let lock = PthreadMutex()
    private let initial: (failures: [FailureRule], mapRemote: [MapRemoteRule])
    private var failures: [FailureRule]
    private var mapRemote: [MapRemoteRule]

    /// Bound on the rules set at run time (each list): a harness sets a handful.
    static let maximumCount = 1000

    init(_ configuration: ProxyConfiguration) {
        initial = (configuration.failureRules, configuration.mapRemote)
        failures = configuration.failureRules
        mapRemote = configuration.mapRemote
    }

    var failureRules: [FailureRule] {
        get { lock.withLock { failures } }
        set { lock.withLock { failures = newValue } }
    }

    var mapRemoteRules: [MapRemoteRule] {
        get { lock.withLock { mapRemote } }
        set { lock.withLock { mapRemote = newValue } }
    }

    func failureMode(for host: String) -> FailureMode? {
        lock.withLock { failures.first { $0.matches(host) }?.mode }
    }

    func mapRemoteRule(host: String, port: Int) -> MapRemoteRule? {
        lock.withLock { mapRemote.first { $0.matches(host: host, port: port) } }
    }

    /// Back to the rules the proxy was started with.
    func reset() {
        lock.withLock { (failures, mapRemote) = initial }
    }
}
