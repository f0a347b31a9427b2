// The targets reach internal parsers (@testable): a debug or fuzzing build only (see FuzzEntry.swift).
#if DEBUG || FUZZING
import CNGHTTP2
@testable import InterceptProxy

/// The client leg's HTTP/2 session fed raw frames after the client preface, as the pipeline feeds
/// decrypted bytes: requests are answered (a small body or a reset) between reads, DATA is
/// acknowledged, and output is drained, so nghttp2 and our callbacks see a live connection.
enum HTTP2ServerTarget {
    private final class Stub: HTTP2ClientLegSessionDelegate {
        var requests: [Int32] = []
        var data: [(Int32, Int)] = []
        func http2Request(_ head: HTTP2RequestHead, stream: Int32, endStream: Bool) {
            _ = head.http1(hasBody: !endStream)
            requests.append(stream)
        }
        func http2RequestData(_ bytes: [UInt8], stream: Int32) { data.append((stream, bytes.count)) }
        func http2RequestEnded(stream: Int32) {}
        func http2StreamClosed(stream: Int32, errorCode: UInt32) { _ = HTTP2Session.errorName(errorCode) }
        func http2RequestHeadTooLarge(stream: Int32, size: Int, fields: Int, endStream: Bool) { requests.append(-stream) }
        func http2ClientReset(stream: Int32, errorCode: UInt32) {}
        func http2InvalidFrame(type: UInt8, stream: Int32, error: Int32, atStreamLimit: Bool) {}
        func http2GoAwaySent(errorCode: UInt32, debugData: String) {}
    }

    static let preface = Array("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".utf8)

    static func run(_ data: [UInt8]) {
        guard let session = try? HTTP2ClientLegSession() else { preconditionFailure("no session") }
        let stub = Stub()
        session.delegate = stub
        _ = session.takeOutput()
        let input = preface + data
        let cut = preface.count + data.count / 2
        for piece in [Array(input[..<cut]), Array(input[cut...])] {
            do {
                try session.feed(piece)
            } catch {
                _ = (error as? HTTP2Session.FatalError)?.isFlood
                session.terminate(errorCode: NGHTTP2_INTERNAL_ERROR.rawValue)
                _ = session.takeOutput()
                return
            }
            for (stream, count) in stub.data { session.consumed(count, stream: stream) }
            stub.data.removeAll()
            for stream in stub.requests {
                if stream < 0 {
                    session.respond(stream: -stream, status: 431, headers: [], endStream: true)
                } else if stream % 4 == 1 {
                    session.respond(stream: stream, status: 200, headers: [("content-type", "text/plain"), ("Connection", "close")], endStream: false)
                    session.send(Array("hello".utf8), stream: stream)
                    session.finish(stream: stream, trailers: stream % 8 == 1 ? [("grpc-status", "0")] : [])
                } else {
                    session.reset(stream: stream)
                }
            }
            stub.requests.removeAll()
            _ = session.takeOutput()
            if !session.isAlive { return }
        }
        session.goAway()
        _ = session.takeOutput()
    }
}
#endif
