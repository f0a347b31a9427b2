import FoundationEssentials
import EssentialsSupport
import Glibc

/// The live half of `doctor --prove`: each runtime that can be probed makes one real handshake
/// through a fresh offline proxy, by this binary's own `verify`. On this machine once behind the
/// gateway and once with no gateway (`--worlds gateway,direct`: its sandbox gives the default stores
/// the public stand-in root). In a root filesystem or a mounted image the probe runs under `chroot`
/// (which shares this machine's loopback) with the target's own variables, behind the gateway only:
/// the target's stores hold the real public roots, not the stand-in, so no direct world is judged.
struct Prover {
    let caDirectory: String
    let profile: String
    /// The target's root for `chroot`, and the variables its runtimes get; nil: this machine.
    var chroot: (root: String, environment: [String: String])?

    struct Proof: Encodable, Equatable {
        let runtime: String
        /// `trusted` or `rejected` in each world; nil when the probe did not reach the proxy.
        let gateway: String?
        let direct: String?
        /// Whether the direct world was run (not for a chroot target).
        let directJudged: Bool
        var ok: Bool { gateway == "trusted" && (!directJudged || direct == "trusted") }
    }

    /// This program's own file (children are started through env, whose /proc/self is its own).
    static let ownBinary: String = {
        var buffer = [CChar](repeating: 0, count: 4096)
        let length = readlink("/proc/self/exe", &buffer, buffer.count - 1)
        return length > 0 ? String(decoding: buffer.prefix(length).map { UInt8(bitPattern: $0) }, as: UTF8.self) : CommandLine.arguments[0]
    }()

    /// The probes, by the runtime rows they prove.
    static let probes: [(runtime: String, command: [String])] = [
        ("curl", ["curl", "-sS", "-o", "/dev/null", "https://pypi.org/simple/"]),
        ("python3 (ssl)", ["python3", "-c", "import urllib.request; urllib.request.urlopen('https://pypi.org/simple/', timeout=20)"]),
    ]

    func run(_ findings: [TrustAudit.Finding]) -> [Proof] {
        Self.probes.filter { probe in findings.contains { $0.runtime == probe.runtime } }.map { probe in
            let arguments = [Self.ownBinary, "verify", "--ca-dir", caDirectory, "--profile", profile, "--offline",
                             "--worlds", chroot == nil ? "gateway,direct" : "gateway", "--json", "--"] + command(probe.command)
            guard let result = try? captureProcess(arguments, environment: ProcessInfo.processInfo.environment, timeout: 120),
                  let report = try? JSONDecoder().decode(VerifyJSON.self, from: Data(result.output.utf8)) else {
                return Proof(runtime: probe.runtime, gateway: nil, direct: nil, directJudged: chroot == nil)
            }
            let outcome = { (world: String) in report.worlds.first { $0.world == world }?.hosts.first?.outcome }
            return Proof(runtime: probe.runtime, gateway: outcome("gateway"), direct: outcome("direct"), directJudged: chroot == nil)
        }
    }

    /// The probe as run in the target: under chroot with only the target's variables and the
    /// proxy's (which verify sets for the chroot process, read by the shell inside).
    private func command(_ probe: [String]) -> [String] {
        guard let chroot else { return probe }
        let variables = chroot.environment.filter { !$0.key.lowercased().hasSuffix("_proxy") }.sorted { $0.key < $1.key }
            .map { "\($0.key)=\($0.value)" }
        let path = chroot.environment["PATH"] == nil ? ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"] : []
        return ["chroot", chroot.root, "/bin/sh", "-c", #"exec env -i HTTPS_PROXY="$HTTPS_PROXY" https_proxy="$HTTPS_PROXY" "$@""#, "probe"]
            + ["env"] + path + variables + probe
    }

    /// The part of `verify --json` a proof reads.
    private struct VerifyJSON: Decodable {
        struct World: Decodable {
            struct Host: Decodable { let outcome: String }
            let world: String
            let hosts: [Host]
        }
        let worlds: [World]
    }
}

/// `doctor`'s answer: a table (runtime, store, root present, note, fix) or JSON; healthy only when
/// every cell is green.
struct DoctorReport: Encodable {
    let target: String
    let root: String
    let findings: [TrustAudit.Finding]
    let proofs: [Prover.Proof]
    var healthy: Bool { !findings.isEmpty && findings.allSatisfy(\.ok) && proofs.allSatisfy(\.ok) }

    private enum CodingKeys: String, CodingKey { case target, root, findings, proofs, healthy }

    func encode(to encoder: Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(target, forKey: .target)
        try container.encode(root, forKey: .root)
        try container.encode(findings.map(EncodedFinding.init), forKey: .findings)
        try container.encode(proofs, forKey: .proofs)
        try container.encode(healthy, forKey: .healthy)
    }

    private struct EncodedFinding: Encodable {
        let runtime: String, store: String, rootPresent: Bool?, replaces: Bool, note: String?, fix: String?, ok: Bool
        init(_ finding: TrustAudit.Finding) {
            (runtime, store, rootPresent, replaces, note, fix, ok) =
                (finding.runtime, finding.store, finding.rootPresent, finding.replaces, finding.note, finding.ok ? nil : finding.fix, finding.ok)
        }
    }

    func printTable(image: Bool) {
        print("\(target): is \(root) trusted?")
        var rows = [["RUNTIME", "STORE", "ROOT", "NOTE"]]
        for finding in findings {
            let cell = finding.ok ? "yes" : finding.rootPresent == nil ? "unknown" : finding.rootPresent == true ? "yes, but" : "NO"
            rows.append([finding.runtime, finding.store, cell, finding.note ?? "-"])
        }
        print(alignedColumns(rows))
        if !proofs.isEmpty {
            var proofRows = [["PROBE", "GATEWAY WORLD", "DIRECT WORLD"]]
            for proof in proofs {
                proofRows.append([proof.runtime, proof.gateway ?? "no handshake", proof.directJudged ? proof.direct ?? "no handshake" : "not judged (the target's own public roots)"])
            }
            print(alignedColumns(proofRows))
        }
        let red = findings.filter { !$0.ok }
        var fixes: [String] = []
        for finding in red { if let fix = finding.fix, !fixes.contains(fix) { fixes.append(fix) } }
        if findings.isEmpty {
            print("FAIL: no runtime or store found to audit")
        } else if healthy {
            print("OK: every runtime trusts the root\(proofs.isEmpty ? "" : ", and the probes proved it in both worlds")")
        } else {
            print("FAIL: \(red.count) of \(findings.count) runtime\(findings.count == 1 ? "" : "s") do not trust the root"
                  + (proofs.contains { !$0.ok } ? "; a probe failed" : ""))
            for fix in fixes { print("fix: \(fix)") }
            if image { print("fix the Dockerfile in one go: intercept-proxy snippet --dockerfile Dockerfile --write") }
        }
    }
}
