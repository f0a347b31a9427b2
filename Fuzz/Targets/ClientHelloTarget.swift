// The targets reach internal parsers (@testable): a debug or fuzzing build only (see FuzzEntry.swift).
#if DEBUG || FUZZING
import CertForge
import COpenSSL
@testable import InterceptProxy

/// The ClientHello readers (OpenSSL's, and the proxy's own ClientHello.parse): the input is a ClientHello body, sent in handshake records to a real
/// TLSServerSession over its memory BIOs, so readServerName and readOfferedProtocols run inside
/// OpenSSL's client-hello callback as they do for a client, and the ALPN select callback after
/// them. The session gets a forged chain, so the handshake goes on as far as the bytes allow.
enum ClientHelloTarget {
    /// One forged chain for every session (made once: forging per input would measure key generation).
    private static let chain: ForgedChain = {
        do {
            let authority = try CertificateAuthority.generate(profile: ChainProfile.plain.with(keyAlgorithm: .ecdsaP256))
            return try LeafForge(authority: authority).chain(for: "fuzz.example")
        } catch {
            fatalError("forging the fuzz chain failed: \(error)")
        }
    }()

    /// A delegate per session, as in the pipeline (a shared one would keep Swift's weak-reference
    /// side table alive, which LeakSanitizer cannot see through and reports).
    private final class Certificates: TLSServerSessionDelegate {
        var asked = 0
        func tlsSession(_ session: TLSServerSession, certificateFor serverName: String?) -> ForgedChain? {
            asked += 1
            return ClientHelloTarget.chain
        }
    }

    /// Indexed by the first byte's bit 0: whether h2 is on.
    private static let contexts = [try! TLSServerContext(http2: false), try! TLSServerContext(http2: true)]

    static func run(_ data: [UInt8]) {
        alpnList(data)
        guard let first = data.first else { return }
        let body = Array(data.dropFirst())
        // The handshake message, in records of at most 2^14 bytes (a ClientHello may span several).
        let message = [1, UInt8(truncatingIfNeeded: body.count >> 16), UInt8(truncatingIfNeeded: body.count >> 8),
                       UInt8(truncatingIfNeeded: body.count)] + body
        var records: [UInt8] = []
        var start = 0
        repeat {
            let end = min(message.count, start + 16384)
            records += [0x16, 3, 1, UInt8((end - start) >> 8), UInt8((end - start) & 0xFF)] + message[start..<end]
            start = end
        } while start < message.count
        // The proxy's own reader (--transparent reads the name before TLS starts): on the records and on raw bytes.
        let read = ClientHello.parse(records)
        _ = ClientHello.parse(data)
        if case let .parsed(hello) = read { precondition(hello.alpn.allSatisfy { !$0.isEmpty }, "an empty ALPN name read") }
        guard let session = try? TLSServerSession(context: contexts[Int(first & 1)]) else { preconditionFailure("no session") }
        let certificates = Certificates()
        session.delegate = certificates
        // The first byte also decides whether the records arrive at once or in two reads.
        let cut = first & 2 != 0 ? min(records.count, 3 + Int(first >> 2)) : records.count
        for piece in [Array(records[..<cut]), Array(records[cut...])] where !piece.isEmpty {
            session.engine.receive(piece)
            if case .failed = session.advanceHandshake() { break }
        }
        _ = session.engine.takeOutput()
        if let name = session.serverName { precondition(name.utf8.count <= body.count, "server name longer than the hello") }
        precondition(session.offeredProtocols.allSatisfy { !$0.isEmpty }, "an empty ALPN name")
        precondition(certificates.asked <= 1, "asked for a certificate \(certificates.asked) times")
    }

    /// ALPNList on the raw bytes: names lie inside the list, and written back they give its start.
    static func alpnList(_ data: [UInt8]) {
        data.withUnsafeBufferPointer { list in
            let ranges = ALPNList.nameRanges(list)
            var expected = 0
            for range in ranges {
                precondition(range.lowerBound == expected + 1 && !range.isEmpty && range.upperBound <= list.count, "bad range \(range)")
                expected = range.upperBound
            }
            let names = ranges.map { Array(list[$0]) }
            if names.allSatisfy({ String(validating: $0, as: UTF8.self) != nil }) {
                let wire = ALPNList.wire(names.map { String(decoding: $0, as: UTF8.self) })
                precondition(wire.elementsEqual(list[..<expected]), "ALPN list does not round-trip")
            }
        }
    }
}
#endif
