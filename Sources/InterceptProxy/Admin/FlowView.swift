import FoundationEssentials

/// The live flow view at `/ui`: one HTML page, its style sheet and its script, all from the binary
/// (no build step, no external asset), under a Content-Security-Policy that allows only these
/// three and the control API, so a host name or header value that reaches the page as markup
/// could run nothing even if the script ever inserted it as markup (it inserts text only).
enum FlowView {
    static let paths = ["/ui", "/ui/", "/ui/app.js", "/ui/app.css"]

    static let securityHeaders: [(String, String)] = [
        ("Content-Security-Policy", "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self'; "
            + "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"),
        ("X-Content-Type-Options", "nosniff"),
        ("Referrer-Policy", "no-referrer"),
        ("X-Frame-Options", "DENY"),
    ]

    /// The answer for one of `paths` (GET only; the caller checks the method).
    static func reply(for path: String) -> AdminReply? {
        let (type, text): (String, String)
        switch path {
        case "/ui", "/ui/": (type, text) = ("text/html; charset=utf-8", page)
        case "/ui/app.js": (type, text) = ("text/javascript; charset=utf-8", script)
        case "/ui/app.css": (type, text) = ("text/css; charset=utf-8", styleSheet)
        default: return nil
        }
        return AdminReply(status: 200, contentType: type, body: Array(text.utf8), extraHeaders: securityHeaders)
    }

    static let page = """
        <!doctype html>
        <html lang="en">
        <head>
        <meta charset="utf-8">
        <meta name="viewport" content="width=device-width, initial-scale=1">
        <title>intercept-proxy: who trusted what</title>
        <link rel="stylesheet" href="/ui/app.css">
        </head>
        <body>
        <header>
          <h1>intercept-proxy</h1>
          <span id="status" class="status connecting" role="status">connecting…</span>
          <span id="proxy"></span>
        </header>
        <section id="controls">
          <label>Host <input id="filter-host" type="search" placeholder="filter hosts" autocomplete="off"></label>
          <label>Outcome
            <select id="filter-outcome">
              <option value="">all</option>
              <option value="rejected">rejected</option>
              <option value="trusted">trusted</option>
              <option value="mixed">mixed</option>
              <option value="pending">pending</option>
              <option value="spliced">spliced (not judged)</option>
            </select>
          </label>
          <span id="summary"></span>
        </section>
        <table id="hosts">
          <thead><tr>
            <th data-key="host" aria-sort="ascending">Host</th><th data-key="world">World</th><th data-key="outcome">Outcome</th>
            <th data-key="alert">Client alert</th><th data-key="stack">Client stack</th>
            <th data-key="requests" class="number">Requests</th><th data-key="errors" class="number">Errors</th>
          </tr></thead>
          <tbody></tbody>
        </table>
        <p id="empty">No connections yet: point a client at the proxy (HTTPS_PROXY) and they appear here as they happen.</p>
        <section id="detail" hidden>
          <h2 id="detail-host"></h2>
          <div id="detail-fix"></div>
          <div id="detail-connections"></div>
        </section>
        <script src="/ui/app.js"></script>
        </body>
        </html>

        """
}
