import Glibc
@testable import InterceptProxy
import Testing

/// A socket's queue of unsent bytes: whatever the kernel takes, in whatever pieces, the peer reads
/// exactly what was written, in order; large writes are queued as they are, small ones merged.
@Suite struct OutboundQueueTests {
    private static func pair(sendBuffer: Int32) -> (ours: Int32, theirs: Int32) {
        var fds: [Int32] = [0, 0]
        precondition(socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0, &fds) == 0)
        var size = sendBuffer
        setsockopt(fds[0], SOL_SOCKET, SO_SNDBUF, &size, socklen_t(MemoryLayout<Int32>.size))
        _ = fcntl(fds[0], F_SETFL, fcntl(fds[0], F_GETFL) | O_NONBLOCK)
        return (fds[0], fds[1])
    }

    private static func readAll(_ fd: Int32, into received: inout [UInt8]) {
        var buffer = [UInt8](repeating: 0, count: 65536)
        while true {
            let count = recv(fd, &buffer, buffer.count, Int32(MSG_DONTWAIT))
            guard count > 0 else { return }
            received += buffer[..<count]
        }
    }

    @Test func partialSendsDeliverEveryByteInOrder() {
        let (ours, theirs) = Self.pair(sendBuffer: 4096)
        defer { close(ours); close(theirs) }
        var queue = OutboundQueue()
        var expected: [UInt8] = []
        // Large and small writes interleaved, so chunks are both queued whole and merged.
        for (index, size) in [70_000, 10, 300, 3_000, 200_000, 1, 5_000, 4_096, 2].enumerated() {
            let bytes = (0..<size).map { UInt8(truncatingIfNeeded: $0 &+ index * 31) }
            queue.append(bytes)
            expected += bytes
        }
        #expect(queue.count == expected.count)
        var received: [UInt8] = []
        var sends = 0
        var attempts = 0
        while !queue.isEmpty && attempts < 100_000 {  // bounded: a miscounting queue must fail, not hang
            attempts += 1
            let sent = queue.send(to: ours, flags: Int32(MSG_NOSIGNAL))
            if sent > 0 {
                queue.consume(sent)
                sends += 1
            } else {
                #expect(errno == EAGAIN)
            }
            Self.readAll(theirs, into: &received)
        }
        #expect(received.count == expected.count)
        let firstDifference = received.indices.first { $0 < expected.count && received[$0] != expected[$0] }
        #expect(firstDifference == nil, "bytes differ from offset \(firstDifference ?? -1)")
        #expect(sends > 1, "the small send buffer was meant to force partial sends")
    }

    @Test func smallWritesAreMergedAndLargeOnesQueuedWhole() {
        let (ours, theirs) = Self.pair(sendBuffer: 1 << 20)
        defer { close(ours); close(theirs) }
        var queue = OutboundQueue()
        for _ in 0..<200 { queue.append([1, 2, 3]) }  // 600 bytes: one chunk
        queue.append([UInt8](repeating: 9, count: 100_000))
        for _ in 0..<10 { queue.append([4]) }
        // Three chunks fit one sendmsg: everything goes in a single call.
        let sent = queue.send(to: ours, flags: Int32(MSG_NOSIGNAL))
        #expect(sent == 600 + 100_000 + 10)
        queue.consume(sent)
        #expect(queue.isEmpty)
        var received: [UInt8] = []
        Self.readAll(theirs, into: &received)
        #expect(received.count == 100_610)
        #expect(Array(received.suffix(10)) == [UInt8](repeating: 4, count: 10))
    }

    @Test func moreChunksThanOneSendmsgTakesGoInLaterCalls() {
        let (ours, theirs) = Self.pair(sendBuffer: 1 << 21)
        defer { close(ours); close(theirs) }
        var queue = OutboundQueue()
        let chunk = [UInt8](repeating: 7, count: OutboundQueue.mergeLimit + 1)
        for _ in 0..<(OutboundQueue.iovecLimit + 5) { queue.append(chunk) }
        let first = queue.send(to: ours, flags: Int32(MSG_NOSIGNAL))
        #expect(first == OutboundQueue.iovecLimit * chunk.count)
        queue.consume(first)
        #expect(queue.count == 5 * chunk.count)
        queue.consume(chunk.count + 1)  // a consumed count may end inside a chunk
        #expect(queue.count == 4 * chunk.count - 1)
        var received: [UInt8] = []
        Self.readAll(theirs, into: &received)
        #expect(received.count == first)
    }
}
