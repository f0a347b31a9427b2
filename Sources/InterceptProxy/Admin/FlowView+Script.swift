extension FlowView {
    /// Follows `/v1/flows` by long poll; every value from a client or origin goes into the page as
    /// text (textContent), never as markup.
    static let script = #"""
        'use strict';
        (function () {
          const MAX_CONNECTIONS = 5000, MAX_EXCHANGES = 200;
          const state = { since: 0, pid: null, hosts: new Map(), connections: new Map(), order: [],
                          selected: null, sortKey: 'host', sortDir: 1 };
          const $ = (id) => document.getElementById(id);

          function element(tag, text, className) {
            const node = document.createElement(tag);
            if (text !== undefined && text !== null) node.textContent = String(text);
            if (className) node.className = className;
            return node;
          }

          function setStatus(kind, text) {
            const status = $('status');
            status.className = 'status ' + kind;
            status.textContent = text;
          }

          function reset() {
            state.since = 0; state.hosts.clear(); state.connections.clear(); state.order = [];
          }

          function host(name) {
            let entry = state.hosts.get(name);
            if (!entry) {
              entry = { host: name, world: '', interception: '', connections: [] };
              state.hosts.set(name, entry);
            }
            return entry;
          }

          // One connection's story from its events: opened, TLS established or failed, requests, closed.
          function apply(event) {
            if (!event || typeof event.type !== 'string' || event.connection === undefined) return;
            let conn = state.connections.get(event.connection);
            if (!conn) {
              if (typeof event.host !== 'string') return;
              conn = { id: event.connection, host: event.host, client: event.client || '', tls: null, failed: null,
                       exchanges: [], errors: [], closed: false, interception: '', world: '' };
              state.connections.set(event.connection, conn);
              state.order.push(event.connection);
              host(event.host).connections.push(event.connection);
              while (state.order.length > MAX_CONNECTIONS) forget(state.order.shift());
            }
            switch (event.type) {
              case 'tunnel_opened':
                conn.interception = event.interception || ''; conn.world = event.world || '';
                if (event.destination) conn.destination = event.destination;
                break;
              case 'tls_established': conn.tls = event; break;
              case 'tls_failed': conn.failed = event; break;
              case 'request':
                if (conn.exchanges.length < MAX_EXCHANGES) conn.exchanges.push({ request: event, response: null });
                break;
              case 'response': {
                const open = conn.exchanges.find((x) => !x.response && x.request.streamId === event.streamId);
                if (open) open.response = event;
                break;
              }
              case 'error': if (conn.errors.length < MAX_EXCHANGES) conn.errors.push(event); break;
              case 'tunnel_closed': conn.closed = true; break;
            }
          }

          function forget(id) {
            const conn = state.connections.get(id);
            state.connections.delete(id);
            if (!conn) return;
            const entry = state.hosts.get(conn.host);
            if (!entry) return;
            entry.connections = entry.connections.filter((c) => c !== id);
            if (entry.connections.length === 0) state.hosts.delete(conn.host);
          }

          function outcomeOf(conn) {
            if (conn.interception && conn.interception !== 'intercepted') return 'bypassed';
            if (conn.failed) return 'rejected';
            if (conn.exchanges.length > 0) return 'trusted';
            if (conn.tls) return conn.closed ? 'no request' : 'pending';
            return 'pending';
          }

          function summary(entry) {
            const conns = entry.connections.map((id) => state.connections.get(id)).filter(Boolean);
            const outcomes = new Set(conns.map(outcomeOf));
            let outcome = 'pending';
            if (outcomes.has('rejected') && outcomes.has('trusted')) outcome = 'mixed';
            else for (const kind of ['rejected', 'trusted', 'no request', 'bypassed', 'pending']) {
              if (outcomes.has(kind)) { outcome = kind; break; }
            }
            const last = (pick) => { for (let i = conns.length - 1; i >= 0; i--) { const v = pick(conns[i]); if (v) return v; } return ''; };
            return {
              host: entry.host, outcome,
              world: last((c) => c.interception && c.interception !== 'intercepted' ? c.interception : c.world),
              alert: last((c) => c.failed && c.failed.cause),
              stack: last((c) => (c.tls && c.tls.tlsStack) || (c.failed && c.failed.tlsStack)),
              requests: conns.reduce((n, c) => n + c.exchanges.length, 0),
              errors: conns.reduce((n, c) => n + c.errors.length + (c.failed ? 1 : 0), 0),
            };
          }

          function rows() {
            const text = $('filter-host').value.trim().toLowerCase();
            const wanted = $('filter-outcome').value;
            const list = [...state.hosts.values()].map(summary)
              .filter((r) => (!text || r.host.toLowerCase().includes(text)) && (!wanted || r.outcome === wanted));
            const key = state.sortKey, dir = state.sortDir;
            list.sort((a, b) => {
              const x = a[key], y = b[key];
              const order = typeof x === 'number' ? x - y : String(x).localeCompare(String(y));
              return order * dir || a.host.localeCompare(b.host);
            });
            return list;
          }

          function render() {
            const body = document.querySelector('#hosts tbody');
            const list = rows();
            const fresh = document.createDocumentFragment();
            for (const r of list) {
              const tr = element('tr');
              tr.dataset.host = r.host;
              if (r.host === state.selected) tr.className = 'selected';
              tr.append(element('td', r.host), element('td', r.world), element('td', r.outcome, 'outcome-' + r.outcome.replace(' ', '-')),
                        element('td', r.alert), element('td', r.stack), element('td', r.requests, 'number'), element('td', r.errors, 'number'));
              tr.addEventListener('click', () => { state.selected = r.host; render(); });
              fresh.append(tr);
            }
            body.replaceChildren(fresh);
            $('empty').hidden = state.hosts.size > 0;
            const counts = [...state.hosts.values()].map(summary).reduce((m, r) => (m[r.outcome] = (m[r.outcome] || 0) + 1, m), {});
            $('summary').textContent = state.hosts.size + ' hosts' + Object.keys(counts).sort().map((k) => ', ' + counts[k] + ' ' + k).join('');
            for (const th of document.querySelectorAll('#hosts th')) {
              if (th.dataset.key === state.sortKey) th.setAttribute('aria-sort', state.sortDir > 0 ? 'ascending' : 'descending');
              else th.removeAttribute('aria-sort');
            }
            renderDetail();
          }

          // What fixes a rejection for the client stack the proxy saw (ClientHello fingerprint).
          function fixFor(stack) {
            const lines = [];
            const byStack = { Go: 'go', Java: 'java', rustls: 'uv', GnuTLS: 'wget' };
            if (byStack[stack]) lines.push('intercept-proxy snippet --client ' + byStack[stack] + (stack === 'rustls' ? '   # rustls: uv, cargo and other Rust tools' : stack === 'GnuTLS' ? '   # GnuTLS: wget, git, apt read the OS store' : ''));
            else if (stack === 'OpenSSL') lines.push('intercept-proxy snippet --client curl   # OpenSSL: curl, Python, node, Ruby ...: pick yours (--client python, node, ...)');
            lines.push('YOUR-COMMAND 2>&1 | intercept-proxy explain -   # names the client from its error and prints its fix');
            return lines;
          }

          function definitions(pairs) {
            const dl = element('dl');
            for (const [name, value] of pairs) {
              if (value === undefined || value === null || value === '') continue;
              dl.append(element('dt', name), element('dd', value));
            }
            return dl;
          }

          function headers(list) {
            const text = Array.isArray(list) ? list.map((h) => Array.isArray(h) ? h[0] + ': ' + h[1] : String(h)).join('\n') : '';
            return element('pre', text, 'headers');
          }

          function renderDetail() {
            const detail = $('detail');
            const entry = state.selected && state.hosts.get(state.selected);
            if (!entry) { detail.hidden = true; return; }
            detail.hidden = false;
            $('detail-host').textContent = entry.host;
            const r = summary(entry);
            const fix = $('detail-fix');
            fix.replaceChildren();
            if (r.outcome === 'rejected' || r.outcome === 'mixed') {
              const box = element('div', null, 'fix');
              box.append(element('strong', 'The client rejected the forged certificate' + (r.alert ? ' (alert ' + r.alert + ')' : '') + (r.stack ? ', TLS stack ' + r.stack : '') + '. To fix it:'));
              for (const line of fixFor(r.stack)) box.append(element('pre', line));
              fix.append(box);
            }
            const list = $('detail-connections');
            list.replaceChildren();
            for (const id of entry.connections.slice(-50).reverse()) {
              const c = state.connections.get(id);
              if (!c) continue;
              const box = element('div', null, 'connection');
              box.append(element('strong', 'Connection ' + c.id + ' from ' + c.client + ': ' + outcomeOf(c)));
              const tls = c.tls || c.failed || {};
              box.append(definitions([
                ['World', c.world], ['Interception', c.interception], ['Destination', c.destination], ['SNI', tls.sni],
                ['ALPN', tls.alpn], ['TLS', tls.tlsVersion], ['Cipher', tls.cipher], ['Client stack', tls.tlsStack], ['JA4', tls.ja4],
                ['Chain shown', state.profile ? 'forged under profile ' + state.profile + (c.interception && c.interception !== 'intercepted' ? ' (public stand-in)' : '') : ''],
                ['Cause', c.failed && c.failed.cause], ['Detail', c.failed && c.failed.detail],
              ]));
              for (const x of c.exchanges) {
                const ex = element('div', null, 'exchange');
                const q = x.request, a = x.response;
                ex.append(element('div', q.method + ' ' + q.url + (a ? ' → ' + a.status + ' (' + (a.durationMs || 0).toFixed(1) + ' ms)' : ' → (no response yet)')));
                ex.append(headers(q.headers));
                if (a) ex.append(headers(a.headers));
                box.append(ex);
              }
              for (const e of c.errors) box.append(element('div', 'error: ' + (e.cause || '') + ' ' + (e.detail || e.message || '')));
              list.append(box);
            }
          }

          async function ready() {
            const answer = await fetch('/v1/ready', { cache: 'no-store' });
            if (!answer.ok) throw new Error('HTTP ' + answer.status);
            const info = await answer.json();
            if (state.pid !== null && info.pid !== state.pid) reset();  // a new proxy: its sequence starts again
            state.pid = info.pid;
            state.profile = info.profile;
            $('proxy').textContent = 'proxy ' + info.host + ':' + info.port + ' · profile ' + info.profile + ' · clients must trust ' + info.caCertificate;
          }

          async function follow() {
            let fresh = true;
            for (;;) {
              try {
                if (fresh) { await ready(); fresh = false; setStatus('live', 'live'); }
                const answer = await fetch('/v1/flows?since=' + state.since + '&wait=25', { cache: 'no-store' });
                if (!answer.ok) throw new Error('HTTP ' + answer.status);
                const page = await answer.json();
                for (const item of page.events || []) apply(item.event);
                if (typeof page.next === 'number') state.since = page.next;
                setStatus('live', 'live');
                render();
              } catch (error) {
                fresh = true;
                setStatus('reconnecting', 'reconnecting… (' + (error && error.message ? error.message : 'the proxy is not answering') + ')');
                await new Promise((resolve) => setTimeout(resolve, 1000));
              }
            }
          }

          for (const th of document.querySelectorAll('#hosts th')) {
            th.addEventListener('click', () => {
              state.sortDir = state.sortKey === th.dataset.key ? -state.sortDir : 1;
              state.sortKey = th.dataset.key;
              render();
            });
          }
          $('filter-host').addEventListener('input', render);
          $('filter-outcome').addEventListener('change', render);
          render();
          follow();
        })();

        """#
}
