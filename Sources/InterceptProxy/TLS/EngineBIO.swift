import COpenSSL

/// The ciphertext both ways of one TLSEngine, in Swift arrays that OpenSSL reads and writes through
/// a BIO of its own (`EngineBIO`). A pair of memory BIOs cost two extra copies of every byte (into
/// the input BIO, out of the output BIO) and zeroed each buffer they grew; here received bytes are
/// adopted as they come (arrays are copy-on-write) and the output array is handed over whole.
/// Confined to the engine's loop.
final class EngineBuffers {
    /// Received ciphertext; OpenSSL has consumed `input[..<inputOffset]`.
    private var input: [UInt8] = []
    private var inputOffset = 0
    /// Ciphertext for the peer, not taken yet.
    private(set) var output: [UInt8] = []

    /// Received bytes lent for the duration of `borrowing`, read after `input`.
    private var borrowed = UnsafeRawBufferPointer(start: nil, count: 0)
    private var borrowedOffset = 0

    var pendingInput: Int { input.count - inputOffset + borrowed.count - borrowedOffset }

    /// Lets OpenSSL read `bytes` (after what is buffered) during `body` without copying them first;
    /// what it leaves unread (a partial record) is copied in afterwards.
    func borrowing<Result>(_ bytes: UnsafeRawBufferPointer, _ body: () -> Result) -> Result {
        borrowed = bytes
        borrowedOffset = 0
        defer {
            let rest = UnsafeRawBufferPointer(rebasing: borrowed[borrowedOffset...])
            borrowed = UnsafeRawBufferPointer(start: nil, count: 0)
            borrowedOffset = 0
            if !rest.isEmpty { appendInput(rest) }
        }
        return body()
    }

    func receive(_ bytes: [UInt8]) {
        if pendingInput == 0 {
            input = bytes
            inputOffset = 0
        } else {
            appendInput(bytes)
        }
    }

    /// Appends after the unread tail of `input` (a partial record, usually small), dropping what
    /// OpenSSL has read. (`read` empties `input` once it is all read.)
    private func appendInput(_ bytes: some Collection<UInt8>) {
        if inputOffset > 0 {
            input.removeFirst(inputOffset)
            inputOffset = 0
        }
        input.append(contentsOf: bytes)
    }

    /// Room for `count` more bytes of output, so the records of one large write are copied in once
    /// rather than again at every doubling of the array.
    func reserveOutput(_ count: Int) {
        output.reserveCapacity(output.count + count)
    }

    func takeOutput() -> [UInt8] {
        defer { output = [] }
        return output
    }

    /// OpenSSL reads: up to `count` bytes into `buffer`; 0 when none is buffered.
    fileprivate func read(into buffer: UnsafeMutableRawPointer, count: Int) -> Int {
        if input.count == inputOffset && borrowed.count > borrowedOffset {
            let taken = min(count, borrowed.count - borrowedOffset)
            buffer.copyMemory(from: borrowed.baseAddress! + borrowedOffset, byteCount: taken)
            borrowedOffset += taken
            return taken
        }
        let taken = min(count, input.count - inputOffset)
        guard taken > 0 else { return 0 }
        input.withUnsafeBytes { buffer.copyMemory(from: $0.baseAddress! + inputOffset, byteCount: taken) }
        inputOffset += taken
        if inputOffset == input.count {
            input = []
            inputOffset = 0
        }
        return taken
    }

    /// OpenSSL writes a record (or part of one).
    fileprivate func write(_ bytes: UnsafeRawBufferPointer) {
        output.append(contentsOf: bytes)
    }
}

/// The BIO method over `EngineBuffers`: a source/sink that never blocks, and says "retry" when
/// it has nothing to read, as a non-blocking socket would.
enum EngineBIO {
    /// Made once; OpenSSL keeps a pointer to it in every BIO.
    nonisolated(unsafe) private static let method: OpaquePointer = {
        guard let method = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "intercept-proxy engine") else {
            fatalError("BIO_meth_new failed")
        }
        BIO_meth_set_write(method) { bio, data, length in
            guard let bio, let data, length > 0 else { return 0 }
            EngineBIO.buffers(of: bio).write(UnsafeRawBufferPointer(start: data, count: Int(length)))
            return length
        }
        BIO_meth_set_read(method) { bio, data, length in
            guard let bio, let data else { return 0 }
            BIO_clear_flags(bio, retryFlags)
            let count = EngineBIO.buffers(of: bio).read(into: data, count: Int(length))
            guard count > 0 else {
                BIO_set_flags(bio, Int32(BIO_FLAGS_READ | BIO_FLAGS_SHOULD_RETRY))
                return -1
            }
            return Int32(count)
        }
        BIO_meth_set_ctrl(method) { bio, command, _, _ in
            guard let bio else { return 0 }
            switch command {
            case BIO_CTRL_FLUSH: return 1
            case BIO_CTRL_PENDING: return EngineBIO.buffers(of: bio).pendingInput
            case BIO_CTRL_WPENDING: return EngineBIO.buffers(of: bio).output.count
            default: return 0
            }
        }
        BIO_meth_set_create(method) { bio in
            BIO_set_init(bio, 1)
            return 1
        }
        return method
    }()

    /// BIO_FLAGS_RWS | BIO_FLAGS_SHOULD_RETRY (a macro Swift does not import).
    private static let retryFlags = Int32(0x07 | BIO_FLAGS_SHOULD_RETRY)

    /// A BIO over `buffers`, which must outlive it (the engine holds both).
    static func make(over buffers: EngineBuffers) -> OpaquePointer? {
        guard let bio = BIO_new(method) else { return nil }
        BIO_set_data(bio, Unmanaged.passUnretained(buffers).toOpaque())
        return bio
    }

    private static func buffers(of bio: OpaquePointer) -> EngineBuffers {
        Unmanaged<EngineBuffers>.fromOpaque(BIO_get_data(bio)).takeUnretainedValue()
    }
}
