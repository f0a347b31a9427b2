// Forge latency for new hosts and cache hits, RSA-2048 and ECDSA P-256, with `openssl speed`
// figures for the same algorithms beside them: a leaf costs one signature, so the two should be close.
import CertForge
import Foundation

func nanoseconds() -> UInt64 { DispatchTime.now().uptimeNanoseconds }

func percentile(_ sorted: [Double], _ p: Double) -> Double {
    sorted[min(sorted.count - 1, Int(Double(sorted.count) * p))]
}

/// Signatures per second from `openssl speed`, for the row whose label starts with `label`.
func opensslSignsPerSecond(_ algorithm: String, label: String) -> Double? {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    process.arguments = ["openssl", "speed", "-seconds", "2", algorithm]
    let pipe = Pipe()
    process.standardOutput = pipe
    process.standardError = FileHandle.nullDevice
    guard (try? process.run()) != nil else { return nil }
    let output = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
    process.waitUntilExit()
    // e.g. "rsa 2048 bits 0.000612s 0.000018s   1634.2  54321.0" -> sign/s is the second-to-last column.
    for line in output.split(separator: "\n") where line.trimmingCharacters(in: .whitespaces).hasPrefix(label) {
        let columns = line.split(separator: " ")
        if columns.count >= 2, let value = Double(columns[columns.count - 2]) { return value }
    }
    return nil
}

struct Row {
    let name: String
    let newP50: Double, newP99: Double, hitP50: Double, hitP99: Double
    let opensslSign: Double?
}

func measure(_ algorithm: KeyAlgorithm, newHosts: Int) throws -> (p50: Double, p99: Double, hitP50: Double, hitP99: Double) {
    let forge = try LeafForge(authority: CertificateAuthority.generate(profile: ChainProfile.plain.with(keyAlgorithm: algorithm)))
    _ = try forge.chain(for: "warm-up.example")
    var fresh: [Double] = []
    for index in 0..<newHosts {
        let start = nanoseconds()
        _ = try forge.chain(for: "host-\(index).bench.example")
        fresh.append(Double(nanoseconds() - start) / 1_000)
    }
    var hits: [Double] = []
    for index in 0..<100_000 {
        let host = "host-\(index % newHosts).bench.example"
        let start = nanoseconds()
        _ = try forge.chain(for: host)
        hits.append(Double(nanoseconds() - start) / 1_000)
    }
    fresh.sort()
    hits.sort()
    return (percentile(fresh, 0.5), percentile(fresh, 0.99), percentile(hits, 0.5), percentile(hits, 0.99))
}

// `--json` prints one object per algorithm for the benchmark harness; `--new-hosts N` scales the run.
let arguments = CommandLine.arguments
let json = arguments.contains("--json")
let scale = arguments.firstIndex(of: "--new-hosts").flatMap { Int(arguments[$0 + 1]) }
let cases: [(KeyAlgorithm, String, String, Int)] = [
    (.rsa2048, "rsa2048", "rsa 2048 bits", scale ?? 500),
    (.ecdsaP256, "ecdsap256", "256 bits ecdsa", (scale ?? 500) * 4),
]
// `--only rsa2048|ecdsap256` measures one algorithm (for profiling under callgrind).
let only = arguments.firstIndex(of: "--only").map { arguments[$0 + 1] }
var rows: [Row] = []
for (algorithm, speedName, speedLabel, count) in cases where only == nil || only == speedName {
    let result = try measure(algorithm, newHosts: count)
    let signs = opensslSignsPerSecond(speedName, label: speedLabel)
    rows.append(Row(name: algorithm.description, newP50: result.p50, newP99: result.p99,
                    hitP50: result.hitP50, hitP99: result.hitP99, opensslSign: signs.map { 1_000_000 / $0 }))
}

if json {
    var object: [String: Any] = [:]
    for (spec, row) in zip(cases.filter { only == nil || only == $0.1 }, rows) {
        object[spec.1] = ["newP50": row.newP50, "newP99": row.newP99, "hitP50": row.hitP50, "hitP99": row.hitP99,
                          "opensslSign": row.opensslSign.map { $0 as Any } ?? NSNull()]
    }
    print(String(decoding: try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys]), as: UTF8.self))
    exit(0)
}

func format(_ value: Double) -> String { String(format: "%9.1f", value) }
print("forge latency in microseconds (one thread, \(ProcessInfo.processInfo.activeProcessorCount) cores)")
print("algorithm     new p50   new p99   hit p50   hit p99   openssl sign")
for row in rows {
    let sign = row.opensslSign.map { format($0) } ?? "      n/a"
    print(row.name.padding(toLength: 12, withPad: " ", startingAt: 0), format(row.newP50), format(row.newP99),
          format(row.hitP50), format(row.hitP99), "  ", sign)
}
