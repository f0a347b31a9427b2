import Foundation
import Testing
import TestSupport

/// Contexts generated the same way as the client matrix (issue 30, part 2): the real output of
/// every client of the matrix against two failures (untrusted root, expired), captured
/// through `intercept-proxy run --offline` as in `ExplainMatrixTests`, wrapped the way each place
/// prints it: a buildah/podman build (`STEP 2/3: RUN ...`), docker's classic builder
/// (`Step 2/3 : RUN ...`), BuildKit's plain progress (`#8 0.512 ...`), a CI log with ISO timestamps
/// and ANSI colours, the Docker Engine API's JSON stream, a shell transcript under chroot and a
/// plain JSON string. explain must name the context each wrapper stands for, and the client and
/// cause it reads in the bare text.
@Suite(.serialized) struct ExplainContextMatrixTests {
    typealias Failure = ExplainMatrixTests.Failure

    /// Every client of the matrix.
    static var clients: [String] { ExplainMatrixTests.clients.map(\.id) }
    static let failures: [Failure] = [.untrustedRoot, .expired]

    /// One way a client's output reaches explain: the context explain must name, and the text.
    struct Wrapper: Sendable {
        let name: String
        let context: String
        let wrap: @Sendable (_ command: String, _ output: String) -> String
    }

    /// The command line a Dockerfile's RUN (or a CI step) shows for each client.
    static func command(_ client: String, _ failure: Failure) -> String {
        switch client {
        case "curl": return "curl -sS \(failure.url)"
        case "wget": return "wget -O /dev/null \(failure.url)"
        case "openssl": return "openssl s_client -connect \(failure.host):443 -verify_return_error"
        case "python": return "python3 -c 'import sys, urllib.request; urllib.request.urlopen(sys.argv[1])' \(failure.url)"
        case "python-strict": return "python3 strict_fetch.py \(failure.url)"
        case "requests": return "python3 -c 'import sys, requests; print(requests.get(sys.argv[1], timeout=20).text)' \(failure.url)"
        case "httpx": return "python3 -c 'import sys, httpx; httpx.get(sys.argv[1])' \(failure.url)"
        case "pip": return "pip download --index-url \(failure.url)simple/ demo==1.0"
        case "uv": return "uv pip install --index-url \(failure.url)simple/ demo==1.0"
        case "node": return "node fetch.js \(failure.url)"
        case "npm": return "npm view ip-demo version --registry \(failure.url)npm/"
        case "java": return "java Fetch \(failure.url)"
        case "ruby": return "ruby -rnet/http -e 'Net::HTTP.get_response(URI(ARGV[0]))' \(failure.url)"
        case "apt": return "apt-get update"
        case "git": return "git ls-remote \(failure.url)repo.git"
        default: return "./fetch-go \(failure.url)"
        }
    }

    static func lines(_ output: String) -> [String] {
        var lines = output.components(separatedBy: "\n")
        if lines.last == "" { lines.removeLast() }
        return lines
    }

    /// `"..."` with JSON's escapes, as Go's encoding/json writes them (`<`, `>`, `&` as \u003c...).
    static func jsonString(_ text: String) -> String {
        var out = "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case "<", ">", "&": out += String(format: "\\u%04x", scalar.value)
            case _ where scalar.value < 0x20: out += String(format: "\\u%04x", scalar.value)
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out + "\""
    }

    static let esc = "\u{1B}"

    /// The classic builder's output, as docker build (and the Engine API's stream) prints it.
    static func classic(_ command: String, _ output: String) -> String {
        """
        Sending build context to Docker daemon  3.072kB
        Step 1/3 : FROM debian:bookworm-slim
         ---> 5f0b4a3c7d1e
        Step 2/3 : RUN \(command)
         ---> Running in 8d1a2b3c4e5f
        \(output)The command '/bin/sh -c \(command)' returned a non-zero code: 1

        """
    }

    static let wrappers: [Wrapper] = [
        Wrapper(name: "buildah/podman build", context: "docker-build") { command, output in
            // buildah bud's own lines (Tests/CLITests/ContainerBuildTests.swift asserts the last one).
            """
            STEP 1/3: FROM docker.io/library/debian:bookworm-slim
            STEP 2/3: RUN \(command)
            \(output)Error: building at STEP "RUN \(command)": while running runtime: exit status 1

            """
        },
        Wrapper(name: "docker classic builder", context: "docker-build") { command, output in classic(command, output) },
        Wrapper(name: "BuildKit plain progress", context: "docker-build") { command, output in
            var text = """
                #5 [1/3] FROM docker.io/library/debian:bookworm-slim@sha256:0b1c
                #5 DONE 0.0s

                #8 [2/3] RUN \(command)

                """
            for (index, line) in lines(output).enumerated() {
                text += String(format: "#8 %.3f ", 0.512 + Double(index) * 0.001) + line + "\n"
            }
            text += """
                #8 ERROR: process "/bin/sh -c \(command)" did not complete successfully: exit code: 1
                ------
                 > [2/3] RUN \(command):
                ------
                ERROR: failed to solve: process "/bin/sh -c \(command)" did not complete successfully: exit code: 1

                """
            return text
        },
        Wrapper(name: "CI log, ISO timestamps and ANSI colours", context: "shell") { command, output in
            var text = "2024-05-01T12:00:00.1000000Z \(esc)[36;1m\(command)\(esc)[0m\n"
            for (index, line) in lines(output).enumerated() {
                text += String(format: "2024-05-01T12:00:01.%07dZ ", index) + "\(esc)[31m\(line)\(esc)[0m\n"
            }
            return text + "2024-05-01T12:00:02.0000000Z \(esc)[31;1mError: Process completed with exit code 1.\(esc)[0m\n"
        },
        Wrapper(name: "Docker Engine API JSON stream (classic build)", context: "docker-build") { command, output in
            // POST /build: one object per line, each line of the build its own `stream`.
            lines(classic(command, output)).map { "{\"stream\":\(jsonString($0 + "\n"))}" }.joined(separator: "\n")
                + "\n{\"errorDetail\":{\"code\":1,\"message\":\(jsonString("The command '/bin/sh -c \(command)' returned a non-zero code: 1"))},"
                + "\"error\":\(jsonString("The command '/bin/sh -c \(command)' returned a non-zero code: 1"))}\n"
        },
        Wrapper(name: "a shell transcript under chroot", context: "chroot") { command, output in
            "root@build:/# chroot /srv/bookworm \(command)\n" + output
        },
        Wrapper(name: "a plain JSON string (the CI log's text)", context: "shell") { command, output in
            jsonString("$ \(command)\n" + lines(output).map { "\(esc)[31m\($0)\(esc)[0m" }.joined(separator: "\n") + "\n")
        },
    ]

    struct Reading: Equatable, CustomStringConvertible {
        let client: String
        let cause: String
        let context: String
        var description: String { "client \(client), cause \(cause), context \(context)" }
    }

    static func explain(_ text: String) throws -> Reading? {
        let explained = try CLI.run(["explain", "--json", "-"], input: text)
        guard explained.status == 0 else {
            #expect(explained.status == 1, "explain failed: \(explained)")
            return nil
        }
        let object = try #require(try JSONSerialization.jsonObject(with: Data(explained.stdout.utf8)) as? [String: Any], "\(explained)")
        return Reading(client: object["client"] as? String ?? "?", cause: object["cause"] as? String ?? "?", context: object["context"] as? String ?? "?")
    }

    @Test func everyContextKeepsTheClientAndTheCause() throws {
        let proxy = try ProxyProcess(["--offline"], caDirectory: .fresh)
        let scratch = try TemporaryDirectory()
        let setup = ExplainMatrixTests.Setup(port: proxy.port, root: proxy.root, scratch: scratch.path("clients"))
        try ExplainMatrixTests.buildPrograms(setup)

        var wrong: [String] = []
        var judged = 0
        for id in Self.clients {
            let client = try #require(ExplainMatrixTests.clients.first { $0.id == id })
            for failure in Self.failures {
                let result = try client.run(setup, failure)
                #expect(result.status != 0, "\(id) x \(failure.rawValue): the client succeeded\n\(result.output)")
                let expected = ExplainMatrixTests.expected(id, failure)
                let bare = try Self.explain(result.output)
                // The bare text reads as the client matrix says (so the wrappers are judged against a right reading).
                #expect(bare.map { ExplainMatrixTests.Reading.recognised(client: $0.client, cause: $0.cause) } == expected,
                        "\(id) x \(failure.rawValue) bare: \(String(describing: bare)), want \(expected)\n\(result.output)")
                guard case let .recognised(wantClient, wantCause) = expected else { continue }
                for wrapper in Self.wrappers {
                    let text = wrapper.wrap(Self.command(id, failure), result.output)
                    let reading = try Self.explain(text)
                    let want = Reading(client: wantClient, cause: wantCause, context: wrapper.context)
                    judged += 1
                    if reading != want {
                        wrong.append("\(id) x \(failure.rawValue) in \(wrapper.name): \(reading.map(\.description) ?? "not recognised"), want \(want)\n--- text:\n\(text)")
                    }
                }
            }
        }
        #expect(judged == Self.clients.count * Self.failures.count * Self.wrappers.count)
        #expect(wrong.isEmpty, "\(wrong.count) of \(judged) wrapped texts read wrong:\n\(wrong.joined(separator: "\n\n"))")
    }

    /// The wrappers themselves: each carries the marks its context is known by, so a pass above
    /// is not a wrapper that printed nothing of its own.
    @Test func wrappersPrintWhatTheirPlacePrints() {
        let sample = "curl: (60) SSL certificate problem: certificate has expired\n"
        let texts = Dictionary(uniqueKeysWithValues: Self.wrappers.map { ($0.name, $0.wrap("curl -sS https://x.test/", sample)) })
        #expect(texts["buildah/podman build"]?.contains("STEP 2/3: RUN curl -sS https://x.test/\ncurl: (60)") == true)
        #expect(texts["docker classic builder"]?.contains(" ---> Running in 8d1a2b3c4e5f\ncurl: (60)") == true)
        #expect(texts["BuildKit plain progress"]?.contains("#8 [2/3] RUN curl -sS https://x.test/\n#8 0.512 curl: (60)") == true)
        #expect(texts["CI log, ISO timestamps and ANSI colours"]?.contains("2024-05-01T12:00:01.0000000Z \u{1B}[31mcurl: (60)") == true)
        #expect(texts["Docker Engine API JSON stream (classic build)"]?.contains("{\"stream\":\" ---\\u003e Running in 8d1a2b3c4e5f\\n\"}\n{\"stream\":\"curl: (60)") == true)
        #expect(texts["a shell transcript under chroot"]?.hasPrefix("root@build:/# chroot /srv/bookworm curl -sS https://x.test/\ncurl: (60)") == true)
        let json = texts["a plain JSON string (the CI log's text)"] ?? ""
        #expect(json.hasPrefix("\"$ curl -sS https://x.test/\\n\\u001b[31mcurl: (60)") && !json.contains("\n"), "\(json)")
    }

    /// Either of buildah's marks alone places the error in a build: its `STEP n/m:` lines (a log
    /// cut before the end) and its closing `Error: building at STEP "..."` (only the tail pasted).
    @Test func eitherBuildahMarkAlonePlacesTheBuild() throws {
        let curl = "curl: (60) SSL certificate problem: certificate has expired\n"
        let steps = "STEP 1/2: FROM debian:bookworm-slim\nSTEP 2/2: RUN curl -sS https://x.test/\n" + curl
        let tail = curl + "Error: building at STEP \"RUN curl -sS https://x.test/\": while running runtime: exit status 60\n"
        for text in [steps, tail] {
            #expect(try Self.explain(text) == Reading(client: "curl", cause: "expired", context: "docker-build"), "\(text)")
        }
        // A line that merely starts with the word is no build step.
        #expect(try Self.explain("STEP one: fetch\n" + curl)?.context == "shell")
    }
}
