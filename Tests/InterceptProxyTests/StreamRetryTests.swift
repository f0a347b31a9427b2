import CNGHTTP2
import Testing
@testable import InterceptProxy

/// The h2 resend rule (RFC 9113 8.7) on its own: which streams the upstream left unprocessed after
/// REFUSED_STREAM or GOAWAY, and when such a request is sent again. End to end, HTTP2UpstreamTests
/// drive it through an origin that sends GOAWAY.
@Suite struct StreamRetryTests {
    @Test func goAwayLeavesOnlyStreamsAboveItsLastStreamUnprocessed() {
        #expect(StreamRetry.wasUnprocessed(stream: 7, errorCode: nil, goAwayLastStream: 5))
        #expect(!StreamRetry.wasUnprocessed(stream: 5, errorCode: nil, goAwayLastStream: 5))
        #expect(!StreamRetry.wasUnprocessed(stream: 3, errorCode: 0, goAwayLastStream: 5))
        #expect(!StreamRetry.wasUnprocessed(stream: 9, errorCode: nil, goAwayLastStream: nil))
    }

    @Test func refusedStreamIsUnprocessedWhateverItsNumber() {
        #expect(StreamRetry.wasUnprocessed(stream: 1, errorCode: NGHTTP2_REFUSED_STREAM.rawValue, goAwayLastStream: 99))
        #expect(StreamRetry.wasUnprocessed(stream: 1, errorCode: NGHTTP2_REFUSED_STREAM.rawValue, goAwayLastStream: nil))
        #expect(!StreamRetry.wasUnprocessed(stream: 1, errorCode: NGHTTP2_CANCEL.rawValue, goAwayLastStream: nil))
    }

    private func mayResend(unprocessed: Bool = true, responseStarted: Bool = false, body: Int = 0, clientGone: Bool = false,
                           refusals: Int = 0, progress: Bool = false) -> Bool {
        StreamRetry.mayResend(unprocessed: unprocessed, responseStarted: responseStarted, requestBodyBytes: body,
                              clientGone: clientGone, earlierRefusals: refusals, connectionMadeProgress: progress)
    }

    @Test func anUnprocessedBodylessRequestIsSentAgainOnce() {
        #expect(mayResend())
        #expect(!mayResend(unprocessed: false))
        #expect(!mayResend(responseStarted: true))  // part of a response already reached the client
        #expect(!mayResend(body: 1))  // the body is streamed, not kept: it cannot be sent twice
        #expect(!mayResend(clientGone: true))
    }

    @Test func againAndAgainOnlyWhileTheUpstreamMakesProgress() {
        // A routine GOAWAY every N requests: each resend lands on a connection that served others.
        #expect(mayResend(refusals: 3, progress: true))
        // An upstream that refuses everything gets one second chance, not a loop.
        #expect(!mayResend(refusals: 1, progress: false))
    }
}
