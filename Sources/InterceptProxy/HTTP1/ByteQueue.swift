import Glibc

/// Bytes received and not parsed yet, read from the front by moving an offset. Removing each
/// parsed piece from the front of an array (and searching for line ends from the start again)
/// made parsing quadratic: 1 MiB of 1-byte chunks cost seconds. Here the array is compacted only
/// once the consumed part outweighs the rest, and line searches resume where the last one stopped,
/// so parsing costs time linear in the bytes received.
struct ByteQueue {
    private var storage: [UInt8] = []
    /// Index in `storage` of the first unconsumed byte.
    private var front = 0
    /// Index in `storage` where the next search for a line feed starts.
    private var cursor = 0

    var count: Int { storage.count - front }
    var isEmpty: Bool { front == storage.count }

    /// The byte `offset` bytes from the front.
    subscript(offset: Int) -> UInt8 { storage[front + offset] }

    /// The bytes at `range`, offsets counted from the front.
    subscript(range: Range<Int>) -> ArraySlice<UInt8> { storage[(front + range.lowerBound)..<(front + range.upperBound)] }

    mutating func append(_ bytes: [UInt8]) {
        if isEmpty {
            // The common case for bodies: adopt the array instead of copying it.
            storage = bytes
            front = 0
            cursor = 0
        } else {
            storage.append(contentsOf: bytes)
        }
    }

    /// The offset of the next line feed after those returned before (since the last `consume`
    /// only past what it removed); each byte is searched once.
    mutating func nextLineFeed() -> Int? {
        guard let index = HTTPWire.firstLineFeed(in: storage[cursor...]) else {
            cursor = storage.count
            return nil
        }
        cursor = index + 1
        return index - front
    }

    /// Where the CRLF ending the line at the front starts, nil until its LF arrives (RFC 9112 2.2:
    /// both decoders reject a bare LF rather than guess, since an origin could read it otherwise).
    /// A line longer than `limit` bytes, CRLF included, throws `tooLong()`; a bare LF, `bareLF()`.
    mutating func crlfLineEnd(limit: Int, tooLong: () -> HTTPParseError, bareLF: () -> HTTPParseError) throws -> Int? {
        guard let lineFeed = nextLineFeed() else {
            if count > limit { throw tooLong() }
            return nil
        }
        guard lineFeed > 0, self[lineFeed - 1] == 13 else { throw bareLF() }
        if lineFeed + 1 > limit { throw tooLong() }
        return lineFeed - 1
    }

    /// Drops the first `count` bytes.
    mutating func consume(_ count: Int) {
        front += count
        cursor = max(cursor, front)
        if front == storage.count {
            storage = []
            front = 0
            cursor = 0
        } else if front >= 4096 && front >= storage.count - front {
            // Amortised: the bytes moved here are fewer than those consumed since the last move.
            storage.removeFirst(front)
            cursor -= front
            front = 0
        }
    }

    /// The first `count` bytes, removed; taking everything moves the array instead of copying it.
    mutating func take(_ count: Int) -> [UInt8] {
        if front == 0 && count == storage.count {
            defer { storage = []; cursor = 0 }
            return storage
        }
        defer { consume(count) }
        return Array(self[0..<count])
    }

    /// Moves the first `count` bytes to the end of `target` (adopting the array when it can).
    mutating func move(_ count: Int, to target: inout [UInt8]) {
        if target.isEmpty {
            target = take(count)
        } else {
            target.append(contentsOf: self[0..<count])
            consume(count)
        }
    }

    /// Everything not consumed yet, removed.
    mutating func takeAll() -> [UInt8] { take(count) }
}

extension HTTPWire {
    /// The index of the first line feed in `bytes`, found by memchr: every byte of every head is
    /// searched here.
    static func firstLineFeed(in bytes: ArraySlice<UInt8>) -> Int? {
        bytes.withUnsafeBufferPointer { buffer -> Int? in
            guard let base = buffer.baseAddress, let hit = memchr(base, 10, buffer.count) else { return nil }
            return bytes.startIndex + (UnsafeRawPointer(hit) - UnsafeRawPointer(base))
        }
    }
}
