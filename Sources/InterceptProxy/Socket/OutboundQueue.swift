import Glibc

/// Bytes accepted for a socket but not yet taken by the kernel, as the arrays they were written
/// in: a write that finds bytes waiting is queued behind them instead of being copied onto their
/// end (which, for a bulk transfer to a slower reader, also copied the waiting bytes at every
/// growth). Small writes are merged into a small last chunk, so a burst of tiny writes (h2 frames,
/// a response head) still leaves in few iovecs. Sent with one `sendmsg` over several chunks.
struct OutboundQueue {
    private var chunks: [[UInt8]] = []
    /// Bytes of `chunks[0]` already sent.
    private var offset = 0
    private(set) var count = 0

    /// Chunks up to this size are merged (copying them is cheaper than an iovec and an array).
    static let mergeLimit = 4 * 1024
    /// iovecs per `sendmsg`; what is left goes in the next call.
    static let iovecLimit = 64

    var isEmpty: Bool { count == 0 }

    mutating func append(_ bytes: [UInt8]) {
        guard !bytes.isEmpty else { return }
        count += bytes.count
        if let last = chunks.indices.last, bytes.count <= Self.mergeLimit,
           chunks[last].count + bytes.count <= Self.mergeLimit {
            chunks[last].append(contentsOf: bytes)
        } else {
            chunks.append(bytes)
        }
    }

    /// Marks `sent` bytes (from the front) as taken by the kernel.
    mutating func consume(_ sent: Int) {
        precondition(sent <= count, "consumed more than is queued")
        count -= sent
        var left = sent
        while left > 0 {
            let available = chunks[0].count - offset
            if left < available {
                offset += left
                return
            }
            left -= available
            chunks.removeFirst()  // keeps the array's capacity for the next writes
            offset = 0
        }
    }

    mutating func removeAll() {
        chunks = []
        offset = 0
        count = 0
    }

    /// One send of the front of the queue (up to `iovecLimit` chunks): what the kernel took, or -1
    /// with errno set. Does not consume; the caller does, with what was taken.
    func send(to fd: Int32, flags: Int32) -> Int {
        guard !chunks.isEmpty else { return 0 }
        if chunks.count == 1 {
            return chunks[0].withUnsafeBytes { Glibc.send(fd, $0.baseAddress! + offset, $0.count - offset, flags) }
        }
        let used = min(chunks.count, Self.iovecLimit)
        return withUnsafeTemporaryAllocation(of: iovec.self, capacity: used) { vectors in
            // The arrays are not mutated during the call, so their storage stays put.
            for index in 0..<used {
                let skip = index == 0 ? offset : 0
                chunks[index].withUnsafeBytes {
                    vectors[index] = iovec(iov_base: UnsafeMutableRawPointer(mutating: $0.baseAddress! + skip),
                                           iov_len: $0.count - skip)
                }
            }
            var message = msghdr()
            message.msg_iov = vectors.baseAddress
            message.msg_iovlen = used
            return sendmsg(fd, &message, flags)
        }
    }
}
