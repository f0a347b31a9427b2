import CertForge

/// Connections the kernel redirected to the proxy (`--transparent`): the client never asked a
/// proxy for anything, so its first bytes say what it wants. A TLS ClientHello opens a tunnel to
/// the name it asks for (the original address without one); anything else is plain HTTP.
extension ClientConnection {
    func redirectedBytesArrived() {
        guard let prelude = redirectedPrelude, let destination = redirectedTo, let first = prelude.first else { return }
        guard first == 22 else {  // not a TLS handshake record: plain HTTP, for the leg
            redirectedPrelude = nil
            return clientReceived(prelude)
        }
        var host = core.configuration.redirectedAddressNames?(destination.host) ?? destination.host
        switch ClientHello.parse(prelude) {
        case .needsMore where redirectedReads < ClientHello.maximumAttempts:
            state.http1Leg?.updateClientWait()  // the request-head timeout bounds a client that stops halfway
            return
        case .needsMore:
            break  // dribbled a byte at a time: named by its address, the proxy's TLS reads the rest
        case let .parsed(hello):
            // The leaf names what the client asked for; an IP literal is no SNI (RFC 6066 3).
            if let name = hello.serverName.flatMap({ try? ServerName($0) }), case .dns = name { host = name.text }
        case .notTLS, .invalid:
            break  // the proxy's own TLS fails it and says why
        }
        redirectedPrelude = nil
        do {
            try openTunnel(host: host, port: destination.port, early: prelude, what: "a connection redirected to \(destination)",
                           redirected: destination)
        } catch let refusal as RequestRefusal {
            recordError(refusal.cause, refusal.reason, status: nil)  // a TLS client cannot read an HTTP answer
            connection.close()
        } catch {
            recordError(.tlsSetup, "\(error)")
            connection.close()
        }
    }

    /// An origin-form request on a redirected plain-HTTP connection: the origin its Host names
    /// (a valid host, no userinfo), on the port the client was headed for.
    func redirectedOrigin(_ head: HTTPRequestHead) -> (String, Int, String)? {
        guard let destination = redirectedTo, head.target.hasPrefix("/") else { return nil }
        redirectedRoute = destination  // the request names no origin: it goes where the client was headed
        var name = destination.host
        if let field = head.header("Host"), let (host, _) = splitHostPort(field) ?? (field.isEmpty ? nil : (field, destination.port)),
           let valid = try? ServerName(host) {
            name = valid.text
        }
        return (name, destination.port, head.target)
    }
}
