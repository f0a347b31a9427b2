import CertForge
import Foundation

/// What `openssl verify` concluded: nil code means "OK".
public struct VerifyOutcome: Sendable, CustomStringConvertible {
    public let code: Int?
    public let output: String
    public var isOK: Bool { code == nil }
    public var description: String { code.map { "error \($0): \(output)" } ?? "OK" }
}

/// Options for `openssl verify` that model a client.
public struct VerifyPolicy: Sendable {
    public var strict = false
    public var hostname: String?
    public var sslServerPurpose = false
    /// 2 is Debian's default security level for TLS clients.
    public var authLevel: Int?

    public init(strict: Bool = false, hostname: String? = nil, sslServerPurpose: Bool = false, authLevel: Int? = nil) {
        self.strict = strict
        self.hostname = hostname
        self.sslServerPurpose = sslServerPurpose
        self.authLevel = authLevel
    }

    /// What a Debian TLS client that trusts the anchor checks.
    public static func client(for host: String, strict: Bool = false) -> VerifyPolicy {
        VerifyPolicy(strict: strict, hostname: host, sslServerPurpose: true, authLevel: 2)
    }
}

/// Runs `openssl verify` on a forged chain: the leaf, the sent certificates as -untrusted, `anchor` as -CAfile.
public func opensslVerify(_ chain: ForgedChain, anchor: Certificate? = nil, policy: VerifyPolicy = VerifyPolicy()) throws -> VerifyOutcome {
    let files = try TemporaryDirectory()
    var arguments = ["verify", "-CAfile", try files.write("anchor.pem", (anchor ?? chain.trustAnchor).pemString)]
    if policy.strict { arguments.append("-x509_strict") }
    if let hostname = policy.hostname { arguments += ["-verify_hostname", hostname] }
    if policy.sslServerPurpose { arguments += ["-purpose", "sslserver"] }
    if let level = policy.authLevel { arguments += ["-auth_level", String(level)] }
    if !chain.chain.isEmpty {
        arguments += ["-untrusted", try files.write("untrusted.pem", chain.chain.map(\.pemString).joined())]
    }
    arguments.append(try files.write("leaf.pem", chain.leaf.pemString))
    let result = try run("openssl", arguments)
    if result.status == 0 { return VerifyOutcome(code: nil, output: result.output) }
    let regex = try NSRegularExpression(pattern: #"error (\d+) at"#)
    let text = result.output
    guard let match = regex.firstMatch(in: text, range: NSRange(text.startIndex..., in: text)),
          let range = Range(match.range(at: 1), in: text) else {
        return VerifyOutcome(code: -1, output: text)
    }
    return VerifyOutcome(code: Int(text[range]), output: text)
}

/// A TLS handshake in memory between Python's ssl server (presenting the chain) and a Python client
/// that trusts `anchor`, optionally with VERIFY_X509_STRICT (the default from Python 3.13 on).
public func pythonHandshake(_ chain: ForgedChain, anchor: Certificate? = nil, strict: Bool) throws -> ProcessResult {
    let files = try TemporaryDirectory()
    let script = """
    import ssl, sys
    chain, key, cafile, host, strict = sys.argv[1:6]
    server = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server.set_ciphers("DEFAULT:@SECLEVEL=0")  # the server sends what it is given; the client judges
    server.load_cert_chain(chain, key)
    client = ssl.create_default_context(cafile=cafile)
    if strict == "strict":
        client.verify_flags |= ssl.VERIFY_X509_STRICT
    bios = [ssl.MemoryBIO() for _ in range(4)]
    c = client.wrap_bio(bios[0], bios[1], server_hostname=host)
    s = server.wrap_bio(bios[2], bios[3], server_side=True)
    done = {"c": False, "s": False}
    for _ in range(20):
        for name, end in (("c", c), ("s", s)):
            if done[name]:
                continue
            try:
                end.do_handshake()
                done[name] = True
            except ssl.SSLWantReadError:
                pass
            except ssl.SSLError as error:
                if name == "c":
                    print(error)
                    sys.exit(1)
        bios[2].write(bios[1].read())
        bios[0].write(bios[3].read())
        if done["c"]:
            print("OK", c.version())
            sys.exit(0)
    print("handshake did not finish")
    sys.exit(2)
    """
    return try run("python3", [
        "-c", script,
        try files.write("chain.pem", chain.pem),
        try files.write("leaf.key", chain.leafKey.pemString),
        try files.write("anchor.pem", (anchor ?? chain.trustAnchor).pemString),
        chain.serverName.text,
        strict ? "strict" : "default",
    ])
}
