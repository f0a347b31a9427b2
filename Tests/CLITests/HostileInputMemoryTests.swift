import Foundation
import Testing
import TestSupport

/// Hostile input must leave nothing behind: the proxy binary (a process of its own, so /proc
/// measures it alone) takes a battery of bad requests again and again, and its descriptors
/// return to their baseline and its memory stays where it was after the first round.
@Suite struct HostileInputMemoryTests {
    @Test func repeatedHostileInputLeavesNoDescriptorsOrMemoryBehind() throws {
        let proxy = try ProxyProcess(["--offline", "--request-head-timeout", "1", "--keep-alive-timeout", "1"], caDirectory: .fresh)
        let port = proxy.port, root = proxy.root
        let status = proxy.status

        let pipelined = (0..<200).map { "GET http://pipe.example/\($0) HTTP/1.1\r\nHost: pipe.example\r\n\r\n" }.joined()
        let battery: [(name: String, steps: [RawClient.Step], expect: String)] = [
            ("CONNECT without port", [.send("CONNECT no-port.example HTTP/1.1\r\n\r\n"), .readToClose(timeout: 10)], "HTTP/1.1 400"),
            ("CONNECT port 0", [.send("CONNECT a.example:0 HTTP/1.1\r\n\r\n"), .readToClose(timeout: 10)], "HTTP/1.1 400"),
            ("64 KiB head", [.send("GET http://big.example/ HTTP/1.1\r\nX-Big: \(String(repeating: "b", count: 70_000))\r\n\r\n"), .readToClose(timeout: 10)], "HTTP/1.1 431"),
            ("CL and TE", [.send("POST http://smuggle.example/ HTTP/1.1\r\nHost: smuggle.example\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"), .readToClose(timeout: 10)], "HTTP/1.1 400"),
            ("two Host fields", [.send("GET http://two.example/ HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n"), .readToClose(timeout: 10)], "HTTP/1.1 400"),
            ("plaintext in a tunnel", [.send("CONNECT plain.example:443 HTTP/1.1\r\n\r\n"), .readHead, .send("GET / HTTP/1.1\r\n\r\n"), .readToClose(timeout: 10)], "HTTP/1.1 400"),
            ("garbage ClientHello", [.send("CONNECT junk.example:443 HTTP/1.1\r\n\r\n"), .readHead, .sendBytes([0x16, 3, 1, 0, 8, 1, 2, 3, 4, 5, 6, 7, 8]), .readToClose(timeout: 10)], "HTTP/1.1 200"),
            ("300-byte SNI", [.send("CONNECT long.example:443 HTTP/1.1\r\n\r\n"), .readHead, .clientHelloWithSNI(length: 300), .readToClose(timeout: 10)], "HTTP/1.1 200"),
            ("misdirected request", [.send("CONNECT good.example:443 HTTP/1.1\r\n\r\n"), .readHead, .tls(serverName: "good.example", caFile: root),
                                     .send("GET https://other.example/ HTTP/1.1\r\nHost: other.example\r\n\r\n"), .readToClose(timeout: 10)], "HTTP/1.1 421"),
            ("200 pipelined requests", [.send(pipelined + "GET http://pipe.example/last HTTP/1.1\r\nHost: pipe.example\r\nConnection: close\r\n\r\n"),
                                        .readToClose(timeout: 20)], "request: GET http://pipe.example/last"),
            ("partial head, then silence", [.send("GET http://slow.example/ HTTP/1.1\r\nHost: sl"), .readToClose(timeout: 10)], "HTTP/1.1 408"),
        ]
        func runBattery() throws {
            for item in battery {
                let outcome = try RawClient.run(port: port, item.steps)
                #expect(outcome.received.contains(item.expect), "\(item.name): \(outcome)")
            }
        }
        func settledDescriptors() -> Int {
            // Closing is asynchronous: wait until the count stops changing.
            settled { status.openDescriptors }
        }

        try runBattery()  // the first round fills caches (leaves, the shared key) and the allocator's pools
        let baselineDescriptors = settledDescriptors()
        let baselineKiB = status.residentKiB
        for _ in 0..<5 { try runBattery() }
        #expect(settledDescriptors() == baselineDescriptors, "descriptors: baseline \(baselineDescriptors)")
        let grownKiB = status.residentKiB - baselineKiB
        #expect(grownKiB < 8 * 1024, "RSS grew by \(grownKiB) KiB over 5 rounds of hostile input (baseline \(baselineKiB) KiB)")
    }
}
