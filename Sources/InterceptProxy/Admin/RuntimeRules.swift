import CertForge
import FoundationEssentials
import EssentialsSupport

/// The failure-mode, map-remote and bypass rules and the world in force, changeable while the proxy
/// runs (the control API, `InterceptProxy.failureRules`). Starts with the configuration's; `reset`
/// goes back to them. Thread-safe: every connection reads it when it forges or routes.
final class RuntimeRules: @unchecked Sendable {
    private struct Rules {
        var failures: [FailureRule]
        var mapRemote: [MapRemoteRule]
        var bypass: [BypassRule]
        var world: World
    }

    private let lock = PthreadMutex()
    private let initial: Rules
    private var current: Rules

    /// Bound on the rules set at run time (each list): a harness sets a handful.
    static let maximumCount = 1000

    init(_ configuration: ProxyConfiguration) {
        initial = Rules(failures: configuration.failureRules, mapRemote: configuration.mapRemote,
                        bypass: configuration.bypassHosts, world: configuration.world)
        current = initial
    }

    var failureRules: [FailureRule] {
        get { lock.withLock { current.failures } }
        set { lock.withLock { current.failures = newValue } }
    }

    var mapRemoteRules: [MapRemoteRule] {
        get { lock.withLock { current.mapRemote } }
        set { lock.withLock { current.mapRemote = newValue } }
    }

    var bypassRules: [BypassRule] {
        get { lock.withLock { current.bypass } }
        set { lock.withLock { current.bypass = newValue } }
    }

    var world: World {
        get { lock.withLock { current.world } }
        set { lock.withLock { current.world = newValue } }
    }

    func failureMode(for host: String) -> FailureMode? {
        lock.withLock { current.failures.first { $0.matches(host) }?.mode }
    }

    func mapRemoteRule(host: String, port: Int) -> MapRemoteRule? {
        lock.withLock { current.mapRemote.first { $0.matches(host: host, port: port) } }
    }

    /// The world, and the bypass rule a host matches in it (none in the direct world: nothing is intercepted there).
    func interception(for host: String) -> (world: World, bypass: BypassRule?) {
        lock.withLock {
            (current.world, current.world == .gateway ? current.bypass.first { $0.matches(host) } : nil)
        }
    }

    /// Back to the rules the proxy was started with.
    func reset() {
        lock.withLock { current = initial }
    }
}
