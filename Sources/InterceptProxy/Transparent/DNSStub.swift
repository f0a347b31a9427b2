import Dispatch
import FoundationEssentials
import Glibc
import EssentialsSupport

/// The DNS server of `verify --transparent`'s network namespace: every name resolves, so every
/// connection a command makes reaches the kernel's redirect to the proxy. Each name gets its own
/// address from 198.18.0.0/15 (RFC 2544's benchmarking range, never routed beyond the namespace),
/// so the address a client dialled names its host even when its TLS sends no SNI. A and AAAA
/// questions for IN only; AAAA and every other type get an empty answer (clients then use IPv4).
/// UDP and TCP (RFC 7766), strict: a malformed query gets FORMERR or nothing.
public final class DNSStub: @unchecked Sendable {
    private let udp: Int32
    private let tcp: Int32
    private let lock = PthreadMutex()
    private var addresses: [String: UInt32] = [:]
    private var names: [UInt32: String] = [:]
    private var running = true
    private let thread = DispatchQueue(label: "intercept-proxy.dns-stub")
    private let done = DispatchGroup()

    /// The first address handed out: 198.18.1.1 (198.18.0.x stays free for the namespace's own use).
    static let firstAddress: UInt32 = 198 << 24 | 18 << 16 | 1 << 8 | 1
    /// 198.18.0.0/15 holds 2^17 addresses; names beyond the bound share the last one.
    static let maximumNames = 100_000

    /// Listens on `host` port 53 (UDP and TCP); the sockets belong to the caller's network namespace.
    public init(host: String = "127.0.0.53", port: UInt16 = 53) throws {
        udp = try Self.bound(SOCK_DGRAM, host: host, port: port)
        do { tcp = try Self.bound(SOCK_STREAM, host: host, port: port) } catch {
            close(udp)
            throw error
        }
        guard listen(tcp, 16) == 0 else {
            close(udp); close(tcp)
            throw DNSStubError("listen on \(host):\(port): \(String(cString: strerror(errno)))")
        }
        done.enter()
        thread.async { [self] in
            serve()
            done.leave()
        }
    }

    /// Stops serving and closes the sockets (waits for the serving thread: one poll interval, or
    /// the rest of a TCP query's 2 s).
    public func stop() {
        lock.withLock { running = false }
        _ = done.wait(timeout: .now() + 3)
        close(udp)
        close(tcp)
    }

    /// The name an address was handed out for, if any.
    public func name(for address: String) -> String? {
        var parsed = in_addr()
        guard inet_pton(AF_INET, address, &parsed) == 1 else { return nil }
        return lock.withLock { names[UInt32(bigEndian: parsed.s_addr)] }
    }

    /// The address for `name` (lowercased), handed out on first use.
    func address(for name: String) -> UInt32 {
        lock.withLock {
            if let known = addresses[name] { return known }
            let next = Self.firstAddress + UInt32(min(addresses.count, Self.maximumNames))
            if addresses.count < Self.maximumNames {
                addresses[name] = next
                names[next] = name
            }
            return next
        }
    }

    private func serve() {
        var descriptors = [pollfd(fd: udp, events: Int16(POLLIN), revents: 0), pollfd(fd: tcp, events: Int16(POLLIN), revents: 0)]
        while lock.withLock({ running }) {
            guard poll(&descriptors, 2, 100) > 0 else { continue }
            if descriptors[0].revents != 0 { answerDatagram() }
            if descriptors[1].revents != 0 { answerStream() }
        }
    }

    private func answerDatagram() {
        var buffer = [UInt8](repeating: 0, count: 4096)
        var peer = sockaddr_storage()
        var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
        let count = withUnsafeMutablePointer(to: &peer) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { recvfrom(udp, &buffer, buffer.count, 0, $0, &length) }
        }
        guard count > 0, let reply = respond(to: Array(buffer.prefix(count))) else { return }
        _ = withUnsafePointer(to: &peer) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { sendto(udp, reply, reply.count, 0, $0, length) }
        }
    }

    /// One query per TCP connection (a client may send more; one answer is what resolvers need here),
    /// read within 2 s in all: UDP waits meanwhile, so a slow client must not hold the thread.
    private func answerStream() {
        let client = accept(tcp, nil, nil)
        guard client >= 0 else { return }
        defer { close(client) }
        let deadline = monotonicSeconds() + 2
        guard let header = readExactly(client, 2, by: deadline) else { return }
        let length = Int(header[0]) << 8 | Int(header[1])
        guard length >= 12, let query = readExactly(client, length, by: deadline), let reply = respond(to: query) else { return }
        let framed = [UInt8(reply.count >> 8), UInt8(reply.count & 0xff)] + reply
        _ = framed.withUnsafeBytes { send(client, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
    }

    private func readExactly(_ descriptor: Int32, _ count: Int, by deadline: Double) -> [UInt8]? {
        var bytes = [UInt8](repeating: 0, count: count)
        var filled = 0
        while filled < count {
            let left = deadline - monotonicSeconds()
            guard left > 0 else { return nil }
            var timeout = timeval(tv_sec: Int(left), tv_usec: Int((left - left.rounded(.down)) * 1_000_000) + 1)
            setsockopt(descriptor, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
            let read = bytes.withUnsafeMutableBytes { recv(descriptor, $0.baseAddress! + filled, count - filled, 0) }
            guard read > 0 else { return nil }
            filled += read
        }
        return bytes
    }

    /// The answer to one query message; nil when it is not worth one (a response, or no header).
    func respond(to query: [UInt8]) -> [UInt8]? {
        guard query.count >= 12, query[2] & 0x80 == 0 else { return nil }  // too short, or a response
        // One question, a standard query, no answers or authority (an EDNS OPT record may follow).
        guard query[2] & 0x78 == 0, query[4] == 0, query[5] == 1, query[6] == 0, query[7] == 0, query[8] == 0, query[9] == 0,
              let (name, end) = Self.questionName(query), end + 4 <= query.count else {
            return Self.reply(to: query, code: 1, question: [], answer: [])  // FORMERR
        }
        let type = UInt16(query[end]) << 8 | UInt16(query[end + 1])
        let question = Array(query[12..<(end + 4)])
        guard query[end + 2] == 0 && query[end + 3] == 1 else { return Self.reply(to: query, code: 4, question: question, answer: []) }  // NOTIMP: class IN only
        guard type == 1 else { return Self.reply(to: query, code: 0, question: question, answer: []) }  // no records of that type
        let address = address(for: name)
        let record: [UInt8] = [0xC0, 12, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4,  // the question's name, A, IN, TTL 60 s
                               UInt8(address >> 24), UInt8(address >> 16 & 0xff), UInt8(address >> 8 & 0xff), UInt8(address & 0xff)]
        return Self.reply(to: query, code: 0, question: question, answer: record)
    }

    /// A response: the query's id, QR and RA set, its RD kept, `code` as RCODE.
    private static func reply(to query: [UInt8], code: UInt8, question: [UInt8], answer: [UInt8]) -> [UInt8] {
        [query[0], query[1], 0x80 | (query[2] & 0x01), 0x80 | code,
         0, question.isEmpty ? 0 : 1, 0, answer.isEmpty ? 0 : 1, 0, 0, 0, 0] + question + answer
    }

    /// The question's name (lowercased, dotted) and the offset after it; labels only (no pointers
    /// in a question), each 1-63 bytes of letters, digits, '-' or '_', 255 bytes in all.
    static func questionName(_ message: [UInt8]) -> (String, Int)? {
        var offset = 12
        var labels: [String] = []
        var total = 0
        while offset < message.count {
            let length = Int(message[offset])
            offset += 1
            if length == 0 { return labels.isEmpty ? nil : (labels.joined(separator: "."), offset) }
            total += length + 1
            guard length <= 63, total <= 255, offset + length <= message.count else { return nil }
            let label = message[offset..<(offset + length)]
            guard label.allSatisfy({ ($0 >= 0x61 && $0 <= 0x7a) || ($0 >= 0x41 && $0 <= 0x5a) || ($0 >= 0x30 && $0 <= 0x39) || $0 == 0x2d || $0 == 0x5f })
            else { return nil }
            labels.append(String(decoding: label, as: UTF8.self).lowercased())
            offset += length
        }
        return nil
    }

    private static func bound(_ type: __socket_type, host: String, port: UInt16) throws -> Int32 {
        let descriptor = socket(AF_INET, Int32(type.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard descriptor >= 0 else { throw DNSStubError("socket: \(String(cString: strerror(errno)))") }
        var yes: Int32 = 1
        setsockopt(descriptor, SOL_SOCKET, SO_REUSEADDR, &yes, socklen_t(MemoryLayout<Int32>.size))
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = port.bigEndian
        guard inet_pton(AF_INET, host, &address.sin_addr) == 1 else {
            close(descriptor)
            throw DNSStubError("not an IPv4 address: \(host)")
        }
        let result = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(descriptor, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard result == 0 else {
            let reason = String(cString: strerror(errno))
            close(descriptor)
            throw DNSStubError("binding \(host):\(port): \(reason)")
        }
        return descriptor
    }
}

public struct DNSStubError: Error, CustomStringConvertible {
    public let description: String
    init(_ description: String) { self.description = description }
}
