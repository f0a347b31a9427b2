import COpenSSL

/// Drains OpenSSL's thread-local error queue into one line.
package func openSSLErrorQueue() -> String {
    var messages: [String] = []
    while case let code = ERR_get_error(), code != 0 {
        var buffer = [CChar](repeating: 0, count: 256)
        ERR_error_string_n(code, &buffer, buffer.count)
        messages.append(String(cBuffer: buffer))
    }
    return messages.isEmpty ? "no detail from OpenSSL" : messages.joined(separator: "; ")
}

/// Wraps a failed OpenSSL call with its error queue.
func openSSLFailure(_ operation: String) -> CertForgeError {
    .openSSL(operation: operation, detail: openSSLErrorQueue())
}

/// A memory BIO that is freed with its owner; used to move PEM and text out of OpenSSL.
final class MemoryBIO {
    let pointer: OpaquePointer

    init() throws {
        guard let bio = BIO_new(BIO_s_mem()) else { throw openSSLFailure("BIO_new") }
        pointer = bio
    }

    /// A read-only BIO over a copy of `bytes`.
    init(bytes: [UInt8]) throws {
        let copy = bytes
        let bio = copy.withUnsafeBytes { raw -> OpaquePointer? in
            // BIO_new_mem_buf does not copy, so write into a fresh memory BIO instead.
            guard let bio = BIO_new(BIO_s_mem()) else { return nil }
            if !raw.isEmpty, BIO_write(bio, raw.baseAddress, Int32(raw.count)) != Int32(raw.count) {
                BIO_free(bio)
                return nil
            }
            return bio
        }
        guard let bio else { throw openSSLFailure("BIO_write") }
        pointer = bio
    }

    deinit { BIO_free(pointer) }

    /// Everything written to the BIO so far.
    var bytes: [UInt8] {
        var data: UnsafeMutablePointer<CChar>?
        let length = shim_BIO_get_mem_data(pointer, &data)
        guard length > 0, let data else { return [] }
        return data.withMemoryRebound(to: UInt8.self, capacity: length) {
            Array(UnsafeBufferPointer(start: $0, count: length))
        }
    }

    var string: String { String(decoding: bytes, as: UTF8.self) }
}

extension Array where Element == UInt8 {
    var hexString: String {
        let digits = Array("0123456789abcdef".utf8)
        var out = [UInt8]()
        out.reserveCapacity(count * 2)
        for byte in self {
            out.append(digits[Int(byte >> 4)])
            out.append(digits[Int(byte & 0x0f)])
        }
        return String(decoding: out, as: UTF8.self)
    }
}

extension String {
    /// Decodes a NUL-terminated C buffer filled in by OpenSSL or libc.
    package init(cBuffer buffer: [CChar]) {
        self.init(decoding: buffer.prefix(while: { $0 != 0 }).map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}
