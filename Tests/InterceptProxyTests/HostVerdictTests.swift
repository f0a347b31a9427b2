import Foundation
@testable import InterceptProxy
import Testing

/// How `verify` reads a host's tunnels from the flow events.
@Suite struct HostVerdictTests {
    private func tunnel(_ connection: Int, host: String, _ kinds: [FlowEvent.Kind], cause: FlowCause? = nil,
                        interception: Interception = .intercepted) -> [FlowEvent] {
        kinds.map { kind in
            var event = FlowEvent(type: kind, connection: connection)
            event.host = host
            if kind == .tunnelOpened { event.interception = interception }
            if kind == .tlsFailed { event.cause = cause }
            return event
        }
    }

    @Test func eachWayATunnelEndsIsRead() {
        let events = tunnel(1, host: "trusted.test", [.tunnelOpened, .tlsEstablished, .request, .response, .tunnelClosed])
            + tunnel(2, host: "alert.test", [.tunnelOpened, .tlsFailed, .tunnelClosed], cause: .unknownCA)
            + tunnel(3, host: "hostname.test", [.tunnelOpened, .tlsEstablished, .tunnelClosed])
            + tunnel(4, host: "undecided.test", [.tunnelOpened, .tunnelClosed], interception: .direct)
            + tunnel(5, host: "spliced.test", [.tunnelOpened, .tunnelClosed], interception: .spliced)
        let verdicts = HostVerdict.summarise(events)
        #expect(verdicts.map { "\($0.host) \($0.outcome.rawValue) \($0.cause ?? "-")" } == [
            "trusted.test trusted -", "alert.test rejected unknown_ca", "hostname.test rejected closed_after_handshake",
            "undecided.test rejected handshake_incomplete",
        ])
        #expect(verdicts.last?.interception == .direct)
        #expect(HostVerdict.splicedHosts(events) == ["spliced.test"])
    }
}
