import FoundationEssentials
import EssentialsSupport
import Glibc

/// Builds a HAR 1.2 log (the format browser devtools import) from flow events: each response is
/// paired with the oldest unanswered request of its connection, since HTTP/1.1 answers in order;
/// on h2 streams finish in any order, so there the stream id pairs them.
enum HARDocument {
    /// - Parameter droppedResponses: `response` events the bounded history dropped before `events`;
    ///   with those, and responses whose request was dropped, the log's `comment` counts the entries missing.
    static func build(from events: [FlowEvent], creatorVersion: String, droppedResponses: Int = 0) -> [String: Any] {
        var waiting: [Int: [FlowEvent]] = [:]
        var entries: [[String: Any]] = []
        var missing = droppedResponses
        for event in events {
            switch event.type {
            case .request:
                waiting[event.connection, default: []].append(event)
            case .response:
                guard var queue = waiting[event.connection],
                      let index = queue.firstIndex(where: { $0.streamId == event.streamId }) else {
                    missing += 1  // its request was dropped from the history
                    continue
                }
                let request = queue.remove(at: index)
                waiting[event.connection] = queue
                entries.append(entry(request: request, response: event))
            default:
                continue
            }
        }
        var log: [String: Any] = [
            "version": "1.2",
            "creator": ["name": "intercept-proxy", "version": creatorVersion],
            "pages": [],
            "entries": entries,
        ]
        if missing > 0 {
            log["comment"] = "\(missing) older entr\(missing == 1 ? "y was" : "ies were") dropped: the events kept for the HAR are bounded (harHistoryBytes)"
        }
        return ["log": log]
    }

    private static func entry(request: FlowEvent, response: FlowEvent) -> [String: Any] {
        let total = response.durationMs ?? 0
        let requestHeaders = headers(request.headers)
        let responseHeaders = headers(response.headers)
        let mimeType = response.headers?.first { $0.first?.lowercased() == "content-type" }?.last ?? ""
        let url = request.url ?? ""
        return [
            "startedDateTime": FlowRecorder.timestamp(request.time),
            "time": total,
            "request": [
                "method": request.method ?? "",
                "url": url,
                "httpVersion": request.httpVersion ?? "HTTP/1.1",
                "cookies": [],
                "headers": requestHeaders,
                "queryString": queryString(url),
                "headersSize": -1,
                "bodySize": response.requestBodyBytes ?? 0,
            ] as [String: Any],
            "response": [
                "status": response.status ?? 0,
                "statusText": HTTPResponse.reasons[response.status ?? 0] ?? "",
                "httpVersion": response.httpVersion ?? request.httpVersion ?? "HTTP/1.1",
                "cookies": [],
                "headers": responseHeaders,
                "content": ["size": response.bodyBytes ?? 0, "mimeType": mimeType] as [String: Any],
                "redirectURL": response.headers?.first { $0.first?.lowercased() == "location" }?.last ?? "",
                "headersSize": -1,
                "bodySize": response.bodyBytes ?? 0,
            ] as [String: Any],
            "cache": [:] as [String: Any],
            "timings": ["send": 0, "wait": total, "receive": 0],
            "connection": String(request.connection),
        ].merging(request.streamId.map { ["_streamId": $0] } ?? [:]) { first, _ in first }
    }

    private static func headers(_ pairs: FlowHeaders?) -> [[String: String]] {
        (pairs ?? []).compactMap { $0.count == 2 ? ["name": $0[0], "value": $0[1]] : nil }
    }

    private static func queryString(_ url: String) -> [[String: String]] {
        guard let components = URLComponents(string: url), let items = components.queryItems else { return [] }
        return items.map { ["name": $0.name, "value": $0.value ?? ""] }
    }

    /// Writes the document atomically (temporary file, then rename).
    static func write(_ document: [String: Any], to path: String) throws {
        let data = Data(JSONText.encode(document, indent: 2).utf8)
        let temporary = path + ".tmp"
        try data.write(to: URL(fileURLWithPath: temporary))
        guard rename(temporary, path) == 0 else { throw SocketError.last("renaming \(temporary) to \(path)") }
    }
}
