@testable import InterceptProxy
import Testing

/// nghttp2's frames are taken in pieces of a bounded size (the h2 client leg encrypts and writes
/// each), and the pieces add up to exactly what one unbounded take returns.
@Suite struct HTTP2SessionOutputTests {
    /// A client session with a request whose body fills the peer's initial window (64 KiB - 1).
    private static func sessionWithQueuedBody() throws -> HTTP2UpstreamSession {
        let session = try HTTP2UpstreamSession()
        let fields = [(":method", "POST"), (":scheme", "https"), (":authority", "a.test"), (":path", "/")]
        let stream = try #require(session.request(fields, endStream: false))
        session.send([UInt8](repeating: 0x61, count: 200_000), stream: stream)
        return session
    }

    @Test func boundedPiecesAddUpToTheWholeOutput() throws {
        let whole = try Self.sessionWithQueuedBody().takeOutput()
        #expect(whole.count > 65_535, "the body's DATA frames were meant to be queued")

        let session = try Self.sessionWithQueuedBody()
        var pieces: [[UInt8]] = []
        while pieces.count < 100 {
            let piece = session.takeOutput(limit: 16_384)
            if piece.isEmpty { break }
            pieces.append(piece)
        }
        #expect(pieces.count > 2)
        #expect(pieces.allSatisfy { $0.count <= 16_384 + HTTP2Session.largestFrame })
        let joined = pieces.flatMap { $0 }
        #expect(joined.count == whole.count)
        let same = joined == whole  // compared outside #expect, which would print both arrays
        #expect(same, "the pieces differ from the whole output")
    }
}
