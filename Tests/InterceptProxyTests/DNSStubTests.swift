@testable import InterceptProxy
import Foundation
import Testing
import TestSupport

/// The DNS stub of `verify --transparent`: one address of 198.18.0.0/15 per name, A for IN only,
/// empty answers for other types, FORMERR for what is not one plain question (real resolvers, node's,
/// curl's and Go's, meet it in VerifyTransparentTests).
@Suite struct DNSStubTests {
    static func query(_ name: String, type: UInt16 = 1, klass: UInt16 = 1, id: UInt16 = 0x1234) -> [UInt8] {
        var message: [UInt8] = [UInt8(id >> 8), UInt8(id & 0xff), 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0]
        for label in name.split(separator: ".") { message += [UInt8(label.utf8.count)] + Array(label.utf8) }
        return message + [0, UInt8(type >> 8), UInt8(type & 0xff), UInt8(klass >> 8), UInt8(klass & 0xff)]
    }

    @Test func eachNameGetsItsOwnAddressAndKeepsIt() throws {
        let stub = try DNSStub(host: "127.0.0.1", port: 0)
        defer { stub.stop() }
        let first = try #require(stub.respond(to: Self.query("PyPI.org")))
        #expect(first.prefix(4) == [0x12, 0x34, 0x81, 0x80] && first[7] == 1, "\(first)")  // id, QR RD RA, one answer
        #expect(first.suffix(4) == [198, 18, 1, 1])
        let second = try #require(stub.respond(to: Self.query("files.pythonhosted.org")))
        #expect(second.suffix(4) == [198, 18, 1, 2])
        #expect(try #require(stub.respond(to: Self.query("pypi.org"))).suffix(4) == [198, 18, 1, 1])
        #expect(stub.name(for: "198.18.1.2") == "files.pythonhosted.org" && stub.name(for: "198.18.9.9") == nil)
    }

    @Test func otherTypesAreEmptyAndMalformedQueriesAreRefused() throws {
        let stub = try DNSStub(host: "127.0.0.1", port: 0)
        defer { stub.stop() }
        let aaaa = try #require(stub.respond(to: Self.query("pypi.org", type: 28)))
        #expect(aaaa[3] == 0x80 && aaaa[7] == 0, "\(aaaa)")  // NOERROR, no answer: the client uses IPv4
        #expect(try #require(stub.respond(to: Self.query("pypi.org", klass: 3)))[3] == 0x84)  // NOTIMP for CHAOS
        var twoQuestions = Self.query("pypi.org")
        twoQuestions[5] = 2
        #expect(try #require(stub.respond(to: twoQuestions))[3] == 0x81)  // FORMERR
        #expect(try #require(stub.respond(to: Self.query("bad\u{1}label.org")))[3] == 0x81)
        #expect(stub.respond(to: Array(Self.query("pypi.org").prefix(11))) == nil)
        var response = Self.query("pypi.org")
        response[2] |= 0x80
        #expect(stub.respond(to: response) == nil)  // never answers an answer
    }
}
