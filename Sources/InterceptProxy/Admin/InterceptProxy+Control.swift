import CertForge
import FoundationEssentials
import EssentialsSupport
import Glibc
import Dispatch

/// A flow event with its number: `flows(since:)` with the highest number seen returns only newer ones.
public struct SequencedFlowEvent: Sendable, Equatable {
    public let sequence: Int
    public let event: FlowEvent
}

/// What `flows(since:wait:)` returns: events oldest first, and the number to ask from next time.
public struct FlowPage: Sendable, Equatable {
    public let events: [SequencedFlowEvent]
    /// The `since` of the next call: the last event's number, or the one asked for when there was none.
    public let next: Int
}

/// What the ready file and `GET /v1/ready` hold.
public struct ReadyInfo: Codable, Sendable, Equatable {
    public var pid: Int
    public var host: String
    public var port: Int
    public var caCertificate: String
    /// The public stand-in root's file: what bypassed hosts and the direct world present.
    public var publicCACertificate: String?
    public var profile: String
    /// The control API's `HOST:PORT`, when it listens.
    public var admin: String?
}

// The operations of the control API (issue #15), for in-process harnesses: the HTTP endpoints call these.
extension InterceptProxy {
    /// The longest a `flows` call may wait: a long poll that hangs longer looks like a dead proxy.
    public static let maximumFlowWait: TimeInterval = 60
    /// Bounds on one page of `flows`: ask again with `next` for the rest.
    public static let maximumFlowPageCount = 1000
    public static let maximumFlowPageBytes = 4 << 20

    /// The failure-mode rules in force (`--failure`); settable while running. New connections use them.
    public var failureRules: [FailureRule] {
        get { core.rules.failureRules }
        set { core.rules.failureRules = newValue }
    }

    /// The map-remote rules in force (`--map-remote`); settable while running. New requests use them.
    public var mapRemoteRules: [MapRemoteRule] {
        get { core.rules.mapRemoteRules }
        set { core.rules.mapRemoteRules = newValue }
    }

    /// Hosts the gateway does not inspect (`--bypass`); settable while running. New tunnels use them.
    public var bypassRules: [BypassRule] {
        get { core.rules.bypassRules }
        set { core.rules.bypassRules = newValue }
    }

    /// The world the proxy plays (`--world`); settable while running. New tunnels use it.
    public var world: World {
        get { core.rules.world }
        set { core.rules.world = newValue }
    }

    /// Per-test isolation without a restart: forgets the recorded events (`recordedEvents`, `flows`;
    /// not the flow log's file, and numbering goes on) and puts back the rules the proxy started with.
    public func reset() {
        core.recorder.reset()
        core.rules.reset()
    }

    /// The number of the newest flow event so far (0 before any).
    public var lastFlowSequence: Int { core.recorder.lastSequence }

    /// Flow events numbered after `since`; when there is none yet, waits up to `wait` seconds
    /// (at most `maximumFlowWait`) for one, unless `since` is past the newest sequence. A page holds at most `limit` events and
    /// `maximumFlowPageBytes` of them (at least one).
    public func flows(since: Int, wait: TimeInterval = 0, limit: Int = InterceptProxy.maximumFlowPageCount) async -> FlowPage {
        await withCheckedContinuation { continuation in
            flows(since: since, wait: wait, limit: limit) { continuation.resume(returning: $0) }
        }
    }

    /// `flows(since:wait:limit:)` with a completion, called once on some thread. It needs no Swift
    /// concurrency thread: a harness may block all of them while it waits.
    public func flows(since: Int, wait: TimeInterval = 0, limit: Int = InterceptProxy.maximumFlowPageCount,
                      completion: @escaping @Sendable (FlowPage) -> Void) {
        let deliver: @Sendable () -> Void = { [core] in
            let found = core.recorder.events(after: since, maxCount: max(1, min(limit, Self.maximumFlowPageCount)),
                                             maxBytes: Self.maximumFlowPageBytes)
            completion(FlowPage(events: found.map { SequencedFlowEvent(sequence: $0.sequence, event: $0.event) },
                                next: found.last?.sequence ?? since))
        }
        let wait = min(max(0, wait), Self.maximumFlowWait)
        // A `since` beyond the newest sequence comes from a reader of an earlier proxy: waiting
        // would keep it from learning (by `last`) that the numbering started again.
        guard wait > 0, since <= core.recorder.lastSequence else { return deliver() }
        let once = OnceFlag()
        let token = core.recorder.whenRecorded(after: since) { if once.claim() { deliver() } }
        DispatchQueue.global().asyncAfter(deadline: .now() + wait) { [core] in
            core.recorder.cancelWait(token)
            if once.claim() { deliver() }
        }
    }

    /// The root certificate in a form a client takes (`pem`, `crt`, `der`, `p12`, ...).
    public func rootCertificate(format: TrustAnchorFormat) throws -> [UInt8] {
        try format.encode(core.authority.rootCertificate, friendlyName: "intercept-proxy \(profile.storageName)")
    }

    /// The public stand-in root in a form a client takes.
    public func publicRootCertificate(format: TrustAnchorFormat) throws -> [UInt8] {
        try format.encode(core.publicAuthority.rootCertificate, friendlyName: "intercept-proxy public stand-in")
    }

    /// The control API's address once started with `ProxyConfiguration.adminAddress`; nil otherwise.
    public var adminAddress: SocketAddress? { control.address }

    /// What `POST /v1/shutdown` does; by default `stop()`, on a thread of its own (the Swift
    /// concurrency threads may all be blocked by a harness). A command sets one that also exits.
    public var onShutdownRequest: @Sendable () -> Void {
        get {
            control.shutdownHandler ?? { [weak self] in
                guard let proxy = self else { return }
                detachThread { proxy.stopAndWait() }
            }
        }
        set { control.shutdownHandler = newValue }
    }

    /// The ready file's content: pid, listening address, CA file, profile, control API address.
    public var readyInfo: ReadyInfo {
        ReadyInfo(pid: Int(getpid()), host: addresses.first?.host ?? configuration.listenHost, port: port,
                  caCertificate: rootCertificateFile ?? configuration.caCertificateFile ?? "(in memory)",
                  publicCACertificate: publicRootCertificateFile,
                  profile: profile.storageName, admin: adminAddress?.description)
    }

    /// `readyInfo` as the ready file's JSON (sorted keys).
    public var readyJSON: Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return (try? encoder.encode(readyInfo)) ?? Data("{}".utf8)
    }
}

/// True for the first caller only: a long poll answers once, whichever of a wake-up and its timeout comes first.
private final class OnceFlag: @unchecked Sendable {
    private let lock = PthreadMutex()
    private var claimed = false

    func claim() -> Bool {
        lock.withLock {
            defer { claimed = true }
            return !claimed
        }
    }
}
extension InterceptProxy {
    /// Checks a `--admin` value (`HOST:PORT` with an IP address, or a bare PORT for loopback).
    public static func parseAdminAddress(_ text: String) throws -> SocketAddress {
        try AdminServer.parseAddress(text)
    }
}
