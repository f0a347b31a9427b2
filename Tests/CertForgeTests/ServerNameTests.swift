import CertForge
import Testing

@Suite struct ServerNameTests {
    @Test(arguments: [
        ("example.com", ServerName.dns("example.com")),
        ("Example.COM.", .dns("example.com")),
        ("xn--bcher-kva.example", .dns("xn--bcher-kva.example")),
        ("_acme.example", .dns("_acme.example")),
        ("localhost", .dns("localhost")),
        ("192.0.2.7", .ip("192.0.2.7")),
        ("::1", .ip("::1")),
        ("[2001:DB8::1]", .ip("2001:db8::1")),
        ("2001:0db8:0000:0000:0000:0000:0000:0001", .ip("2001:db8::1")),
    ])
    func acceptsAndNormalises(raw: String, expected: ServerName) throws {
        #expect(try ServerName(raw) == expected)
    }

    @Test(arguments: [
        ("", "empty"),
        ("a..b", "empty label"),
        ("-a.example", "starts or ends with '-'"),
        ("a-.example", "starts or ends with '-'"),
        (String(repeating: "a", count: 64) + ".example", "longer than 63"),
        ((0..<64).map { _ in "abc" }.joined(separator: "."), "longer than 253"),
        ("exa mple.com", "character other than"),
        ("a.example,DNS:evil.example", "character other than"),
        ("bücher.example", "A-label"),
        ("192.0.2.999", "not a valid one"),
        ("[example.com]", "only for IPv6"),
        ("[192.0.2.1]", "only for IPv6"),
    ])
    func rejectsWithReason(raw: String, reason: String) {
        do {
            let name = try ServerName(raw)
            Issue.record("accepted \(raw) as \(name)")
        } catch let error as CertForgeError {
            guard case let .invalidHostName(name, _) = error else {
                Issue.record("wrong error \(error)")
                return
            }
            #expect(name == raw)
            #expect(error.description.contains(reason), "\(error.description)")
        } catch {
            Issue.record("unexpected error \(error)")
        }
    }
}
