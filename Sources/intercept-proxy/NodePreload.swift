import EssentialsSupport
import FoundationEssentials

/// node reads its compiled-in roots (and NODE_EXTRA_CA_CERTS) and no file the sandbox can reach:
/// a preload adds the stand-in root to every TLS context that does not name its own `ca`, as the
/// real public roots are in the compiled-in list (a `ca` option, npm's cafile, replaces them, and
/// the stand-in with them). Bun and others that read NODE_EXTRA_CA_CERTS get it there when the
/// command sets none.
struct NodePreload {
    /// NODE_OPTIONS (the command's own, then the preload) and, when the command sets none, NODE_EXTRA_CA_CERTS.
    let environment: [String: String]
    let stores: [(name: String, path: String)]

    /// Nil when the preload cannot be written.
    init?(rootFile: String, scratch: String, environment commandEnvironment: [String: String]) {
        let preload = scratch + "/node-public-roots.js"
        // A context's own store starts from the compiled-in roots alone: NODE_EXTRA_CA_CERTS goes back in too.
        let script = """
            // intercept-proxy's test world: the public stand-in root joins node's default roots.
            'use strict';
            const tls = require('tls'), fs = require('fs');
            let added = fs.readFileSync(\(JSONText.encode(rootFile)), 'utf8');
            try { if (process.env.NODE_EXTRA_CA_CERTS) added += '\\n' + fs.readFileSync(process.env.NODE_EXTRA_CA_CERTS, 'utf8'); } catch (e) {}
            const createSecureContext = tls.createSecureContext;
            tls.createSecureContext = function (options) {
              const context = createSecureContext.apply(this, arguments);
              if (!options || !options.ca) context.context.addCACert(added);
              return context;
            };

            """
        guard FileManager.default.createFile(atPath: preload, contents: Data(script.utf8)) else { return nil }
        // NODE_OPTIONS quotes with "": the scratch path holds neither " nor \ (TrustSandbox.makeScratch).
        let options = commandEnvironment["NODE_OPTIONS"].flatMap { $0.isEmpty ? nil : $0 + " " } ?? ""
        var environment = ["NODE_OPTIONS": options + "--require \"\(preload)\""]
        var stores = [(name: "node (a preload adds it beside the compiled-in roots, where no ca option replaces them)", path: preload)]
        if commandEnvironment["NODE_EXTRA_CA_CERTS"].map({ $0.isEmpty }) ?? true {
            environment["NODE_EXTRA_CA_CERTS"] = rootFile
            stores.append((name: "NODE_EXTRA_CA_CERTS (bun and others that read it)", path: rootFile))
        }
        self.environment = environment
        self.stores = stores
    }
}
