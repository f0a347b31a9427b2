import FoundationEssentials
#if canImport(Glibc)
import Glibc
#endif

/// File writes with explicit permissions, done atomically (write a temporary file, then rename),
/// so a key is never readable by others, not even for an instant, and never half-written.
enum SecureFile {
    static func makeDirectory(_ url: URL) throws {
        if mkdir(url.path, 0o700) != 0 && errno != EEXIST {
            throw CertForgeError.fileSystem(path: url.path, detail: String(cString: strerror(errno)))
        }
        // Tighten a directory that existed already (a fresh clone checks certs/ out as 0755).
        guard chmod(url.path, 0o700) == 0 else {
            throw CertForgeError.fileSystem(path: url.path, detail: "chmod 0700: \(String(cString: strerror(errno)))")
        }
    }

    static func write(_ bytes: [UInt8], to url: URL, mode: mode_t) throws {
        let temporary = url.deletingLastPathComponent()
            .appendingPathComponent(".\(url.lastPathComponent).\(getpid()).\(UInt32.random(in: 0...UInt32.max)).tmp")
        let fd = open(temporary.path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode)
        guard fd >= 0 else { throw error(temporary) }
        var written = 0
        while written < bytes.count {
            let result = bytes.withUnsafeBytes { Glibc.write(fd, $0.baseAddress! + written, bytes.count - written) }
            if result < 0 && errno == EINTR { continue }
            guard result > 0 else {
                let failure = error(temporary)
                close(fd)
                unlink(temporary.path)
                throw failure
            }
            written += result
        }
        // The umask may have narrowed the mode; certificates should stay world-readable.
        fchmod(fd, mode)
        guard fsync(fd) == 0, close(fd) == 0 else {
            unlink(temporary.path)
            throw error(url)
        }
        guard rename(temporary.path, url.path) == 0 else {
            let failure = error(url)
            unlink(temporary.path)
            throw failure
        }
    }

    static func write(_ text: String, to url: URL, mode: mode_t) throws {
        try write(Array(text.utf8), to: url, mode: mode)
    }

    static func read(_ url: URL) throws -> String {
        guard let data = FileManager.default.contents(atPath: url.path) else {
            throw CertForgeError.fileSystem(path: url.path, detail: "cannot read the file (missing or not readable)")
        }
        return String(decoding: data, as: UTF8.self)
    }

    private static func error(_ url: URL) -> CertForgeError {
        .fileSystem(path: url.path, detail: String(cString: strerror(errno)))
    }
}
