import EssentialsSupport
import Glibc

/// How a private mount namespace is made here: `unshare --mount`, as root with CAP_SYS_ADMIN, else
/// inside a new user namespace (the command then runs as the same user, or as root of that
/// namespace where the current user cannot be mapped: pip and npm then act as root would).
enum NamespaceProbe {
    /// The first `unshare` that works, found on the command's PATH as the command will be.
    static func command(environment: [String: String]) throws -> [String] {
        let mount = ["--mount", "--propagation", "private"]
        var candidates = [["unshare", "--user", "--map-current-user"] + mount, ["unshare", "--user", "--map-root-user"] + mount]
        if getuid() == 0 { candidates.insert(["unshare"] + mount, at: 0) }
        let probing = ["PATH": environment["PATH"] ?? TrustSandbox.plainEnvironment["PATH"]!]
        for candidate in candidates {
            if (try? captureProcess(candidate + ["true"], environment: probing, timeout: 10))?.status == 0 { return candidate }
        }
        let who = getuid() == 0
            ? "as root here unshare --mount fails too (a container without CAP_SYS_ADMIN?): run where root may mount, or allow user namespaces"
            : "run as root, or allow unprivileged user namespaces (sysctl kernel.unprivileged_userns_clone=1, or kernel.apparmor_restrict_unprivileged_userns=0 on Ubuntu)"
        throw TrustSandbox.Unavailable(description: """
            the test world needs a private mount namespace to give this machine's default stores the public stand-in root \
            (as the real stores hold the real public roots), and none can be made: \(who); util-linux's unshare is needed too. \
            Without --worlds direct and --bypass, verify needs no sandbox.
            """)
    }
}
