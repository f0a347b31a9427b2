import FoundationEssentials
import EssentialsSupport
import InterceptProxy

/// What one run of the command showed in one world, judged: intercepted hosts against `--expect`,
/// hosts that presented the site's own certificate against `trusted` (a fix must not lose the public roots).
struct WorldResult: Encodable {
    let world: World
    let bypass: [String]
    let commandStatus: Int32
    let hosts: [JudgedHost]
    /// Hosts relayed untouched to a real upstream: their handshakes are not seen.
    let spliced: [String]
    /// Every connection the command made through the proxy, one by one.
    let connections: [ConnectionCoverage]
    let matched: Bool

    struct JudgedHost: Encodable {
        let host: String
        let interception: Interception
        let outcome: HostVerdict.Outcome
        /// The client's alert (the `tls_failed` cause), or why the host counts as rejected.
        let cause: String?
        let requests: Int
        let expected: HostVerdict.Outcome
        /// False when the outcome could not be modelled (a client with compiled-in roots met the stand-in).
        let judged: Bool
        var matched: Bool { !judged || outcome == expected }
    }

    init(world: World, bypass: [String], commandStatus: Int32, events: [FlowEvent], expect: HostVerdict.Outcome,
         compiledIn: [CompiledInStore]) {
        self.world = world
        self.bypass = bypass
        self.commandStatus = commandStatus
        spliced = HostVerdict.splicedHosts(events)
        connections = ConnectionCoverage.summarise(events)
        hosts = HostVerdict.summarise(events).map { verdict in
            let intercepted = verdict.interception == .intercepted
            let expected = intercepted ? expect : .trusted
            let judged = intercepted || verdict.outcome == .trusted || compiledIn.isEmpty
            return JudgedHost(host: verdict.host, interception: verdict.interception, outcome: verdict.outcome, cause: verdict.cause,
                              requests: verdict.requests, expected: expected, judged: judged)
        }
        // Something must have been judged: a world whose every host met a client with compiled-in roots proves nothing.
        matched = hosts.contains(where: \.judged) && hosts.allSatisfy(\.matched)
    }

    /// The lines that say why the world did not pass (none when it did).
    var failures: [String] {
        if hosts.isEmpty {
            if !spliced.isEmpty {
                return ["nothing was observed: \(spliced.joined(separator: ", ")) went to the real upstream untouched; use --offline or --map-remote to see those handshakes"]
            }
            return ["nothing was intercepted; does the command honour HTTPS_PROXY?"]
        }
        if !hosts.contains(where: \.judged) {
            return ["nothing could be judged: every host met a client whose compiled-in roots cannot hold the stand-in root (see the limit on stderr)"]
        }
        return hosts.filter { !$0.matched }.map { host in
            if host.interception == .intercepted {
                return "\(host.host) was \(host.outcome.rawValue), expected \(host.expected.rawValue)"
            }
            let place = world == .direct ? "without a gateway" : "on a host the gateway does not inspect"
            return "\(host.host) (\(host.interception)) was \(host.outcome.rawValue)\(host.cause.map { " (\($0))" } ?? ""): \(place) the client rejected the site's own certificate, "
                + "so its store lost the public roots (a setting that replaces it, given the gateway root alone?)"
        }
    }
}

/// The report of a `verify` run over one or more worlds, as a table or JSON.
struct VerifyReport: Encodable {
    let expect: HostVerdict.Outcome
    let worlds: [WorldResult]
    /// Whether CMD ran in the transparent namespace (every connection seen) or with proxy variables.
    var transparent = false
    /// QUIC packets refused in the transparent namespace.
    var quicRefused: Int?
    var matched: Bool { worlds.allSatisfy(\.matched) }

    private enum CodingKeys: String, CodingKey { case expect, worlds, matched, commandStatus, hosts, mode, quicRefused }

    /// `worlds` for every run; a run in one world also keeps the keys of the report before worlds
    /// (`commandStatus`, `hosts`), which scripts read.
    func encode(to encoder: Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(expect, forKey: .expect)
        try container.encode(worlds, forKey: .worlds)
        try container.encode(matched, forKey: .matched)
        try container.encode(transparent ? "transparent" : "explicit", forKey: .mode)
        try container.encodeIfPresent(quicRefused, forKey: .quicRefused)
        if worlds.count == 1 {
            try container.encode(worlds[0].commandStatus, forKey: .commandStatus)
            try container.encode(worlds[0].hosts, forKey: .hosts)
        }
    }

    /// One table per world; a plain gateway run without bypass rules prints as it always has
    /// (host, handshake, cause, requests).
    func printTable(caFile: String?) {
        let plain = worlds.count == 1 && worlds[0].world == .gateway && worlds[0].bypass.isEmpty
        for result in worlds {
            if !plain {
                let bypass = result.bypass.isEmpty ? "" : " (bypass: \(result.bypass.joined(separator: ", ")))"
                print("world \(result.world.rawValue)\(bypass)")
            }
            var rows = [plain ? ["HOST", "HANDSHAKE", "CAUSE", "REQUESTS"] : ["HOST", "INTERCEPTION", "HANDSHAKE", "CAUSE", "REQUESTS"]]
            for host in result.hosts {
                let outcome = host.judged ? host.outcome.rawValue : "\(host.outcome.rawValue) (not judged)"
                rows.append(plain ? [host.host, outcome, host.cause ?? "-", String(host.requests)]
                                  : [host.host, host.interception.rawValue, outcome, host.cause ?? "-", String(host.requests)])
            }
            if !plain { rows += result.spliced.map { [$0, "spliced", "not observed", "-", "-"] } }
            print(alignedColumns(rows))
            if !result.connections.isEmpty {
                var lines = [["CONNECTION", "DESTINATION", "SNI", "ALPN", "HANDSHAKE", "ALERT", "REQUESTS", "TLS STACK", "JA4"]]
                for connection in result.connections {
                    let destination = connection.destination ?? "\(connection.host):\(connection.port.map(String.init) ?? "?") (CONNECT)"
                    lines.append([String(connection.connection), destination, connection.sni ?? "-", connection.alpn ?? "-",
                                  connection.outcome?.rawValue ?? connection.interception.rawValue, connection.cause ?? "-",
                                  String(connection.requests), connection.tlsStack ?? "unknown", connection.ja4 ?? "-"])
                }
                print(alignedColumns(lines))
            }
            print("command exited with status \(result.commandStatus)")
            if result.matched {
                let unjudged = result.hosts.filter { !$0.judged }.count
                var summary = result.world == .direct ? "every host trusted the site's own certificate"
                    : "intercepted hosts \(expect.rawValue)" + (result.hosts.contains { $0.interception == .bypassed } ? ", bypassed hosts trusted" : "")
                if unjudged > 0 { summary += " (\(unjudged) not judged: a client with compiled-in roots, see the limit on stderr)" }
                print(plain ? "OK: every host was \(expect.rawValue)" : "OK in the \(result.world.rawValue) world: \(summary)")
            } else if plain, !result.hosts.isEmpty {
                print("FAIL: expected every host to be \(expect.rawValue) (root CA: \(caFile ?? "the proxy's"))")
            } else {
                for failure in result.failures { print("FAIL\(plain ? "" : " in the \(result.world.rawValue) world"): \(failure)") }
            }
        }
        if let quicRefused, quicRefused > 0 {
            print("QUIC (UDP 443) refused \(quicRefused) time\(quicRefused == 1 ? "" : "s") with ICMP port unreachable, as Zscaler recommends: the client fell back to TCP, where it was judged")
        }
        if !transparent {  // what this run could not see, whatever it saw
            print("note: explicit mode sees only clients that honour HTTPS_PROXY; one that goes around the proxy is not seen here but is intercepted at work: run verify --offline --transparent")
        }
        if !plain {
            print(matched ? "OK: the command passed in every world (\(worlds.map(\.world.rawValue).joined(separator: ", ")))"
                          : "FAIL: the command did not pass in every world")
        }
    }
}
