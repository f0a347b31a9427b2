// The targets reach internal parsers (@testable): a debug or fuzzing build only (see FuzzEntry.swift).
#if DEBUG || FUZZING
@testable import InterceptProxy

/// The ways the decoders get their bytes: all at once, one byte at a time, and cut at a few
/// places chosen from the input, so every boundary a TCP read can make is tried.
enum Feeding {
    static func pieces(_ data: [UInt8]) -> [[[UInt8]]] {
        var cuts = [data.count / 3, data.count / 2, (data.count * 4) / 5]
        if let first = data.first { cuts.append(Int(first) % max(1, data.count)) }
        cuts = Array(Set(cuts.filter { $0 > 0 && $0 < data.count })).sorted()
        var split: [[UInt8]] = []
        var start = 0
        for cut in cuts + [data.count] {
            split.append(Array(data[start..<cut]))
            start = cut
        }
        return [[data], data.map { [$0] }, split]
    }

    /// Every feeding must end as the whole input did: refused too, or decoded the same.
    static func expectAgreement<Outcome: Equatable>(_ outcomes: [Outcome], failed: (Outcome) -> Bool) {
        let whole = outcomes[0]
        for other in outcomes.dropFirst() {
            if failed(whole) {
                precondition(failed(other), "refused in one piece, accepted in pieces")
            } else {
                precondition(other == whole, "decoded differently in pieces: \(other) vs \(whole)")
            }
        }
    }
}

/// HTTPRequestDecoder: every feeding must give the same requests, body bytes and tunnel bytes
/// (body pieces joined), and the same verdict: a request the decoder refuses in one piece it must
/// refuse byte by byte too.
enum HTTP1RequestTarget {
    struct Outcome: Equatable {
        var heads: [HTTPRequestHead] = []
        var body: [UInt8] = []
        var ends = 0
        var tunnel: [UInt8]?
        var failed = false
    }

    static func run(_ data: [UInt8]) {
        let outcomes = Feeding.pieces(data).map(decode)
        Feeding.expectAgreement(outcomes, failed: \.failed)
    }

    static func decode(_ pieces: [[UInt8]]) -> Outcome {
        var decoder = HTTPRequestDecoder()
        var outcome = Outcome()
        for (index, piece) in pieces.enumerated() {
            do {
                for event in try decoder.feed(piece) {
                    switch event {
                    case let .head(head): outcome.heads.append(head)
                    case let .body(bytes):
                        precondition(!bytes.isEmpty, "empty body event")
                        outcome.body += bytes
                    case .end: outcome.ends += 1
                    }
                }
            } catch {
                _ = String(describing: error)
                outcome.failed = true
                return outcome
            }
            precondition(decoder.bufferedCount <= HTTPRequestDecoder.maximumHeadSize + 5 || outcome.heads.last?.method == "CONNECT",
                         "decoder holds \(decoder.bufferedCount) bytes")
            _ = decoder.truncation
            if outcome.heads.last?.method == "CONNECT" {
                // The pipeline stops parsing here: the rest is tunnel data.
                outcome.tunnel = decoder.takeBuffered() + pieces[(index + 1)...].flatMap { $0 }
                return outcome
            }
        }
        return outcome
    }
}

/// HTTPResponseDecoder: events carry the raw bytes to relay, so joined they must equal the input
/// (leading blank lines aside); and every feeding must agree. The first byte picks which requests
/// (GET or HEAD) the responses answer.
enum HTTP1ResponseTarget {
    struct Outcome: Equatable {
        var heads: [HTTPResponseHead] = []
        var raw: [UInt8] = []
        var payload = 0
        var trailers: [String] = []
        var ends = 0
        var failed = false
        var closeDelimited = false
    }

    static func run(_ data: [UInt8]) {
        guard let selector = data.first else { return }
        let body = Array(data.dropFirst())
        let methods = (0..<8).map { selector & (1 << $0) != 0 ? "HEAD" : "GET" }
        let outcomes = Feeding.pieces(body).map { decode($0, methods: methods) }
        Feeding.expectAgreement(outcomes, failed: \.failed)
    }

    static func decode(_ pieces: [[UInt8]], methods: [String]) -> Outcome {
        var decoder = HTTPResponseDecoder()
        for method in methods { decoder.expectResponse(toMethod: method) }
        var outcome = Outcome()
        var input: [UInt8] = []
        do {
            for piece in pieces {
                input += piece
                record(try decoder.feed(piece), into: &outcome)
                // After a 101 the bytes are the new protocol's: handed over raw, not parsed.
                if decoder.hasSwitched { outcome.raw += decoder.takeBuffered() }
            }
            outcome.closeDelimited = decoder.readsUntilClose
            record(try decoder.finish(), into: &outcome)
        } catch {
            _ = String(describing: error)
            outcome.failed = true
            return outcome
        }
        // Relayed verbatim: what went out is what came in, minus blank lines before a status line.
        precondition(isInput(input, lessBlankLines: outcome.raw), "relayed bytes differ from those received")
        return outcome
    }

    /// Whether `relayed` is `input` with some CRLF pairs left out (heads start with "HTTP/", so the
    /// greedy match is the only one).
    private static func isInput(_ input: [UInt8], lessBlankLines relayed: [UInt8]) -> Bool {
        var i = 0, j = 0
        while i < input.count {
            if j < relayed.count && input[i] == relayed[j] {
                i += 1
                j += 1
            } else if i + 1 < input.count && input[i] == 13 && input[i + 1] == 10 {
                i += 2
            } else {
                return false
            }
        }
        return j == relayed.count
    }

    private static func record(_ events: [HTTPResponseDecoder.Event], into outcome: inout Outcome) {
        for event in events {
            switch event {
            case let .head(head, raw):
                outcome.heads.append(head)
                outcome.raw += raw
            case let .body(payload):
                outcome.raw += payload
                outcome.payload += payload.count
            case let .framing(raw):
                outcome.raw += raw
            case let .trailer(name, value, raw):
                outcome.trailers.append("\(name): \(value)")
                outcome.raw += raw
            case .end:
                outcome.ends += 1
            }
        }
    }
}
#endif
