import CLinuxEvents
import Glibc

/// The calling thread's network namespace (`verify --transparent` runs its proxy and command in one
/// of their own). Threads started afterwards by this thread, and child processes it spawns, share it;
/// sockets stay in the namespace they were made in.
public enum NetworkNamespace {
    /// Moves the calling thread to a new, empty network namespace (loopback down); nil on success,
    /// else the reason (root or CAP_SYS_ADMIN is needed).
    public static func enterNew() -> String? {
        shim_unshare_network() == 0 ? nil : String(cString: strerror(errno))
    }
}
