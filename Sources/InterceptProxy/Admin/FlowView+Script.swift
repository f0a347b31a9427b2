extension FlowView {
    /// Follows `/v1/flows` by long poll; every value from a client or origin goes into the page as
    /// text (textContent), never as markup.
    static let script = #"""
        'use strict';
        (function () {
          // Bounds: the oldest connections go first past either (a browser tab is no flow log).
          const MAX_CONNECTIONS = 2000, MAX_EXCHANGES = 5000, MAX_PER_CONNECTION = 50;
          const state = { since: 0, hosts: new Map(), connections: new Map(), order: [], exchanges: 0,
                          selected: null, shownVersion: -1, version: 0, sortKey: 'host', sortDir: 1, timer: null };
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
            state.since = 0; state.hosts.clear(); state.connections.clear(); state.order = []; state.exchanges = 0;
            state.shownVersion = -1; state.version++;
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
                       exchanges: [], errors: [], closed: false, closedDetail: '', interception: '', world: '' };
              state.connections.set(event.connection, conn);
              state.order.push(event.connection);
              host(event.host).connections.push(event.connection);
            }
            host(conn.host).version = ++state.version;
            switch (event.type) {
              case 'tunnel_opened':
                conn.interception = event.interception || ''; conn.world = event.world || '';
                if (event.destination) conn.destination = event.destination;
                break;
              case 'tls_established': conn.tls = event; break;
              case 'tls_failed': conn.failed = event; break;
              case 'request':
                if (conn.exchanges.length < MAX_PER_CONNECTION) { conn.exchanges.push({ request: event, response: null }); state.exchanges++; }
                else conn.dropped = (conn.dropped || 0) + 1;
                break;
              case 'response': {
                const open = conn.exchanges.find((x) => !x.response && x.request.streamId === event.streamId);
                if (open) open.response = event;
                break;
              }
              case 'error': if (conn.errors.length < MAX_PER_CONNECTION) conn.errors.push(event); break;
              case 'tunnel_closed': conn.closed = true; conn.closedDetail = event.detail || ''; break;
            }
            while (state.order.length > MAX_CONNECTIONS || state.exchanges > MAX_EXCHANGES) forget(state.order.shift());
          }

          function forget(id) {
            const conn = state.connections.get(id);
            state.connections.delete(id);
            if (!conn) return;
            state.exchanges -= conn.exchanges.length;
            const entry = state.hosts.get(conn.host);
            if (!entry) return;
            entry.connections = entry.connections.filter((c) => c !== id);
            if (entry.connections.length === 0) state.hosts.delete(conn.host);
          }

          // As the proxy's own verdicts judge a connection (HostVerdict): a failed handshake, one that
          // never completed, or one closed with no request after it is a rejection; spliced tunnels
          // (relayed untouched) are not judged. Bypassed hosts and the direct world are judged too:
          // there the client meets the public stand-in.
          function outcomeOf(conn) {
            if (conn.interception === 'spliced') return 'spliced';
            if (conn.failed) return 'rejected';
            if (conn.exchanges.length > 0) return 'trusted';
            if (!conn.closed) return 'pending';
            return 'rejected';
          }

          function causeOf(conn) {
            if (conn.failed) return conn.failed.cause || 'handshake failed';
            if (!conn.closed || conn.exchanges.length > 0) return '';
            return conn.tls ? 'closed_after_handshake' : 'handshake_incomplete';
          }

          function summary(entry) {
            const conns = entry.connections.map((id) => state.connections.get(id)).filter(Boolean);
            const outcomes = new Set(conns.map(outcomeOf));
            let outcome = 'pending';
            if (outcomes.has('rejected') && outcomes.has('trusted')) outcome = 'mixed';
            else for (const kind of ['rejected', 'trusted', 'pending', 'spliced']) {
              if (outcomes.has(kind)) { outcome = kind; break; }
            }
            const last = (pick) => { for (let i = conns.length - 1; i >= 0; i--) { const v = pick(conns[i]); if (v) return v; } return ''; };
            return {
              host: entry.host, outcome,
              world: last((c) => [c.world, c.interception && c.interception !== 'intercepted' ? c.interception : ''].filter(Boolean).join(', ')),
              alert: last(causeOf),
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

          // At most four renders a second, however fast the flows come.
          function scheduleRender() {
            if (state.timer === null) state.timer = setTimeout(() => { state.timer = null; render(); }, 250);
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
              tr.addEventListener('click', () => { state.selected = r.host; state.shownVersion = -1; render(); });
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
            // Redrawn only when its host changed: a redraw would drop the text a reader has selected.
            if (entry.version === state.shownVersion) return;
            state.shownVersion = entry.version;
            $('detail-host').textContent = entry.host;
            const r = summary(entry);
            const fix = $('detail-fix');
            fix.replaceChildren();
            if (r.outcome === 'rejected' || r.outcome === 'mixed') {
              const box = element('div', null, 'fix');
              const how = r.alert === 'closed_after_handshake'
                ? 'The client closed the connection after the handshake without a request: it may have refused the certificate after the handshake (a host-name check, for one)'
                : r.alert === 'handshake_incomplete' ? 'The handshake never completed (the client gave up or spoke no TLS)'
                : 'The client rejected the certificate' + (r.alert ? ' (alert ' + r.alert + ')' : '');
              box.append(element('strong', how + (r.stack ? ', TLS stack ' + r.stack : '') + '. To fix it:'));
              for (const line of fixFor(r.stack)) box.append(element('pre', line));
              fix.append(box);
            }
            const list = $('detail-connections');
            list.replaceChildren();
            for (const id of entry.connections.slice(-50).reverse()) {
              const c = state.connections.get(id);
              if (!c) continue;
              const box = element('div', null, 'connection');
              box.append(element('strong', 'Connection ' + c.id + ' from ' + c.client + ': ' + outcomeOf(c) + (causeOf(c) ? ' (' + causeOf(c) + ')' : '')));
              const tls = c.tls || c.failed || {};
              box.append(definitions([
                ['World', c.world], ['Interception', c.interception], ['Destination', c.destination], ['SNI', tls.sni],
                ['ALPN', tls.alpn], ['TLS', tls.tlsVersion], ['Cipher', tls.cipher], ['Client stack', tls.tlsStack], ['JA4', tls.ja4],
                ['Chain shown', tls.chain ? tls.chain + (state.profile && c.interception === 'intercepted' ? '   (profile ' + state.profile + ')' : '') : ''],
                ['Cause', causeOf(c)], ['Detail', (c.failed && c.failed.detail) || c.closedDetail],
                ['Not kept', c.dropped ? c.dropped + ' more requests' : ''],
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
                // A new proxy numbers its flows from 1 again (same pid or not, in a container too).
                if (typeof page.last === 'number' && page.last < state.since) { reset(); scheduleRender(); continue; }
                for (const item of page.events || []) apply(item.event);
                if (typeof page.next === 'number') state.since = page.next;
                setStatus('live', 'live');
                scheduleRender();
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
          $('filter-host').addEventListener('input', scheduleRender);
          $('filter-outcome').addEventListener('change', render);
          render();
          follow();
        })();

        """#
}
