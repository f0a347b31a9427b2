import FoundationEssentials
import Glibc
import EssentialsSupport
import InterceptProxy

/// `verify --transparent`'s network: this process's main thread (and so the proxy's listeners and
/// the command it starts) moves to a new network namespace whose only way out is the proxy. All
/// TCP beyond loopback is redirected to it (as a laptop agent intercepts), names resolve through a DNS stub to
/// addresses of 198.18.0.0/15 that exist only here, UDP 443 (QUIC) is refused with ICMP port
/// unreachable as Zscaler recommends so clients fall back to TCP, and nothing else leaves: the
/// namespace has its loopback alone.
final class TransparentNetwork {
    let dns: DNSStub
    /// The resolv.conf the command sees (bind-mounted over /etc/resolv.conf in its mount namespace).
    let resolvConf: String
    private let scratch: String

    struct Unavailable: Error, CustomStringConvertible {
        let description: String
    }

    static let stubAddress = "127.0.0.53"

    /// Moves the calling thread to a new network namespace and sets up its loopback, routes and DNS.
    init() throws {
        if let reason = NetworkNamespace.enterNew() {
            throw Unavailable(description: "verify --transparent needs a network namespace of its own: unshare(CLONE_NEWNET) failed "
                              + "(\(reason)); run it as root (or with CAP_SYS_ADMIN and CAP_NET_ADMIN)")
        }
        try Self.run(["ip", "link", "set", "lo", "up"])
        // Every stub address is local to the namespace, so a connect reaches the redirect.
        try Self.run(["ip", "route", "add", "local", "198.18.0.0/15", "dev", "lo"])
        // A directory of our own (mkdtemp: 0700, a fresh name), as root: nothing another user made in advance.
        var template = Array((FileManager.default.temporaryDirectory.path + "/intercept-proxy-transparent-XXXXXX").utf8CString)
        guard let made = mkdtemp(&template) else {
            throw Unavailable(description: "verify --transparent: mkdtemp failed: \(String(cString: strerror(errno)))")
        }
        scratch = String(cString: made)
        resolvConf = scratch + "/resolv.conf"
        do {
            try "nameserver \(Self.stubAddress)\noptions attempts:1 timeout:2\n".write(toFile: resolvConf, atomically: true, encoding: .utf8)
            dns = try DNSStub(host: Self.stubAddress)
        } catch {
            try? FileManager.default.removeItem(atPath: scratch)
            throw Unavailable(description: "verify --transparent: the DNS stub could not start: \(error)")
        }
    }

    /// Sends all TCP to the proxy's `port`, but what stays on loopback (the proxy itself, the DNS
    /// stub, a local service: a laptop agent never sees those either), and refuses QUIC.
    /// Rules of an earlier run (another world's proxy, on another port) are flushed first.
    func redirect(toPort port: Int) throws {
        for tool in ["iptables", "ip6tables"] {
            try Self.run([tool, "-t", "nat", "-F", "OUTPUT"])
            try Self.run([tool, "-F", "OUTPUT"])
            let loopback = tool == "iptables" ? "127.0.0.0/8" : "::1"
            let unreachable = tool == "iptables" ? "icmp-port-unreachable" : "icmp6-port-unreachable"
            try Self.run([tool, "-t", "nat", "-A", "OUTPUT", "-p", "tcp", "-d", loopback, "-j", "RETURN"])
            try Self.run([tool, "-t", "nat", "-A", "OUTPUT", "-p", "tcp", "-j", "REDIRECT", "--to-ports", String(port)])
            try Self.run([tool, "-A", "OUTPUT", "-p", "udp", "--dport", "443", "-j", "REJECT", "--reject-with", unreachable])
        }
    }

    /// How many QUIC packets were refused (both families), from the REJECT rules' counters.
    func quicAttempts() -> Int {
        ["iptables", "ip6tables"].reduce(0) { total, tool in
            guard let listing = try? captureProcess([tool, "-L", "OUTPUT", "-v", "-x", "-n"], environment: ProcessInfo.processInfo.environment),
                  listing.status == 0 else { return total }
            let rows = listing.output.split(separator: "\n").filter { $0.contains("REJECT") && $0.contains("dpt:443") }
            return total + rows.compactMap { $0.split(separator: " ").first.flatMap { Int($0) } }.reduce(0, +)
        }
    }

    /// `command` in a mount namespace of its own whose /etc/resolv.conf names the stub.
    func wrap(_ command: [String]) -> [String] {
        let script = #"mount --bind "$0" /etc/resolv.conf || { echo "intercept-proxy: could not mount $0 over /etc/resolv.conf" >&2; exit 125; }; exec "$@""#
        return ["unshare", "--mount", "--propagation", "private", "--", "/bin/sh", "-c", script, resolvConf] + command
    }

    func remove() {
        dns.stop()
        try? FileManager.default.removeItem(atPath: scratch)
    }

    private static func run(_ arguments: [String]) throws {
        let result = try captureProcess(["/bin/sh", "-c", #""$@" 2>&1"#, "sh"] + arguments, environment: ProcessInfo.processInfo.environment)
        guard result.status == 0 else {
            throw Unavailable(description: "verify --transparent: \(arguments.joined(separator: " ")) failed (\(result.status)): "
                              + result.output.trimmingWhitespace())
        }
    }
}
