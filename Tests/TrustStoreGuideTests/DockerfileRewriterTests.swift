import Testing
@testable import TrustStoreGuide

/// Reading a user's Dockerfile (stages, ARG-substituted bases, continuations, heredocs) and fitting
/// it with the gated block: where the block goes, what is left alone and why, and idempotence.
@Suite struct DockerfileRewriterTests {
    /// Found by the fuzzer: an ARG word that starts with "=" declared an empty name and crashed.
    @Test func anARGWordWithoutANameDeclaresNothing() throws {
        let dockerfile = try Dockerfile(text: "ARG = BASE=python:3.12\nFROM $BASE\nRUN pip install x\n")
        #expect(dockerfile.stages.first?.image == "python:3.12", "\(dockerfile.stages)")
    }

    @Test func stagesCarryTheirSubstitutedBaseNameAndPlatform() throws {
        let dockerfile = try Dockerfile(text: """
            # syntax=docker/dockerfile:1
            ARG REGISTRY=docker.io
            ARG PY_TAG=3.12-slim
            ARG UNSET
            FROM --platform=$BUILDPLATFORM ${REGISTRY}/library/python:${PY_TAG} AS build
            RUN pip install \\
                # a comment inside a continuation
                -r requirements.txt
            FROM $UNSET
            from ${UNSET:-alpine:3.20} as Final
            COPY --from=build /app /app

            """)
        #expect(dockerfile.stages.count == 3)
        let build = dockerfile.stages[0]
        #expect(build.image == "docker.io/library/python:3.12-slim")
        #expect(build.name == "build" && build.platform == "$BUILDPLATFORM" && build.label == "stage 0 (build)")
        #expect(build.instructions.map(\.keyword) == ["RUN"])
        #expect(build.instructions[0].firstLine == 5 && build.instructions[0].lastLine == 7, "the continuation spans three lines")
        #expect(build.instructions[0].arguments.contains("-r requirements.txt") && !build.instructions[0].arguments.contains("comment"))
        #expect(dockerfile.stages[1].image == "$UNSET" && dockerfile.stages[1].imageIsUnresolved)
        #expect(dockerfile.stages[2].image == "alpine:3.20" && dockerfile.stages[2].name == "Final")
        #expect(dockerfile.stage(named: "BUILD", before: 2)?.index == 0)
        #expect(throws: Dockerfile.ParseError.self) { try Dockerfile(text: "# only a comment\nRUN true\n") }
    }

    @Test func heredocBodiesAndTheEscapeDirectiveDoNotStartInstructions() throws {
        let heredoc = try Dockerfile(text: "FROM debian:12\nRUN <<EOF\nFROM inside the heredoc\nEOF\nRUN true\n")
        #expect(heredoc.stages.count == 1)
        #expect(heredoc.stages[0].instructions.map { [$0.firstLine, $0.lastLine] } == [[1, 3], [4, 4]])
        let backtick = try Dockerfile(text: "# escape=`\nFROM mcr.microsoft.com/windows/servercore:ltsc2022\nRUN echo a `\n    b\n")
        #expect(backtick.stages[0].instructions.first?.lastLine == 3)
    }

    static let families: [(image: String, family: String)] = [
        ("debian:bookworm-slim", "debian"), ("ubuntu:24.04", "debian"), ("python:3.12-slim", "debian"),
        ("docker.io/library/node:20", "debian"), ("eclipse-temurin:21-jdk", "debian"), ("golang:1.22", "debian"),
        ("python:3.12-alpine", "alpine"), ("node:20-alpine3.19", "alpine"), ("alpine:3.20", "alpine"),
        ("eclipse-temurin:21-ubi9-minimal", "rhel"), ("registry.access.redhat.com/ubi9/ubi-minimal:9.4", "rhel"),
        ("rockylinux:9", "rhel"), ("almalinux:9", "rhel"), ("fedora:40", "rhel"), ("amazonlinux:2023", "rhel"),
        ("opensuse/leap:15.6", "suse"), ("registry.suse.com/bci/bci-base:15.6", "suse"), ("archlinux:latest", "arch"),
        ("gcr.io/distroless/static-debian12:nonroot", "distroless"), ("gcr.io/distroless/java21-debian12", "distroless"),
        ("scratch", "scratch"), ("mcr.microsoft.com/dotnet/sdk:8.0", "unknown"), ("localhost:5000/team/app@sha256:abc", "unknown"),
    ]

    @Test(arguments: families)
    func baseImageNamesMapToTheirFamily(image: String, family: String) {
        let kind = BaseImage(image).kind
        switch kind {
        case .distro(let distro): #expect(distro.names.contains(family == "rhel" ? "rhel" : family), "\(image): \(kind)")
        case .distroless: #expect(family == "distroless", "\(image)")
        case .scratch: #expect(family == "scratch", "\(image)")
        case .unknown: #expect(family == "unknown", "\(image)")
        }
    }

    @Test func runtimesComeFromTheBaseAndFromTheCommands() {
        #expect(BaseImage("python:3.12").runtimes == [.python])
        #expect(BaseImage("eclipse-temurin:21").runtimes == [.java])
        #expect(BaseImage.runtimes(inCommand: "python3 -m pip install -r req.txt && npm ci") == [.python, .node])
        #expect(BaseImage.runtimes(inCommand: "./mvnw -B package") == [.java])
        #expect(BaseImage.runtimes(inCommand: "apt-get install -y python3-pip").isEmpty)
        #expect(BaseImage.runtimes(inCommand: "uv sync --frozen && conda install x && deno cache main.ts") == [.uv, .conda, .deno])
        #expect(BaseImage.runtimes(inCommand: "cargo build --release; dotnet restore; aws s3 cp a b") == [.rust, .dotnet, .aws])
        #expect(BaseImage.runtimes(inCommand: "bun install") == [.node])
        #expect(BaseImage("oven/bun:1").runtimes == [.node] && BaseImage("denoland/deno:2.1").runtimes == [.deno])
        #expect(BaseImage("mcr.microsoft.com/dotnet/sdk:8.0").runtimes == [.dotnet])
        #expect(BaseImage("continuumio/miniconda3").runtimes == [.conda])
    }

    /// A tool copied in from its image (uv's binary, seed 000's "uv has its own store") is a client
    /// of the stage even though no RUN line installs it; a copy from an earlier stage is not.
    @Test func clientsCopiedFromTheirImagesGetTheirSettings() throws {
        #expect(BaseImage.runtimes(inCopy: "--from=ghcr.io/astral-sh/uv:0.5 /uv /uvx /bin/", stageNames: []) == [.uv])
        #expect(BaseImage.runtimes(inCopy: "--from=builder /app /app", stageNames: ["builder"]).isEmpty)
        #expect(BaseImage.runtimes(inCopy: "--from=0 /app /app", stageNames: []).isEmpty)
        let text = """
            FROM python:3.12-slim
            COPY --from=ghcr.io/astral-sh/uv:latest /uv /uvx /bin/
            WORKDIR /app
            COPY pyproject.toml uv.lock ./
            RUN uv sync --frozen

            """
        let rewritten = try DockerfileRewriter.rewrite(text)
        #expect(rewritten.rewritten.contains("ENV SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt"), "\(rewritten.rewritten)")
        #expect(rewritten.rewritten.contains("ENV PIP_CERT=/etc/ssl/certs/ca-certificates.crt REQUESTS_CA_BUNDLE=/etc/ssl/certs/ca-certificates.crt"))
        #expect(rewritten.notes[0].hasSuffix("and the variables for python, uv"), "\(rewritten.notes)")
        let many = try DockerfileRewriter.rewrite("FROM rust:1\nRUN cargo build && uv pip install x && conda info\n").rewritten
        #expect(many.components(separatedBy: "SSL_CERT_FILE=").count == 2, "set once, by the first client that needs it:\n\(many)")
        #expect(many.contains("CARGO_HTTP_CAINFO=/etc/ssl/certs/ca-certificates.crt") && many.contains("CONDA_SSL_VERIFY=/etc/ssl/certs/ca-certificates.crt"))
        let deno = try DockerfileRewriter.rewrite("FROM denoland/deno:2.1\nRUN deno cache main.ts\n").rewritten
        #expect(deno.contains("ENV DENO_TLS_CA_STORE=system,mozilla"))
    }

    @Test func blockGoesAfterFromInStagesThatRunCommandsAndCopyOnlyStagesAreLeftAlone() throws {
        let original = """
            FROM maven:3-eclipse-temurin-21 AS build
            WORKDIR /src
            RUN mvn -B package

            FROM build AS test
            RUN mvn -B verify

            FROM gcr.io/distroless/java21-debian12
            COPY --from=build /src/target/app.jar /app.jar

            """
        let rewrite = try DockerfileRewriter.rewrite(original)
        #expect(!rewrite.unresolved)
        #expect(rewrite.insertions.map(\.after) == [0])
        #expect(rewrite.notes == [
            "stage 0 (build) FROM maven:3-eclipse-temurin-21: debian family, block inserted after line 1 and the variables for java",
            "stage 1 (test) FROM build: inherits the CA from stage 0 (build), unchanged",
            "stage 2 FROM gcr.io/distroless/java21-debian12: only copies (no RUN), left alone: no proxy CA is shipped in it",
        ])
        let lines = Dockerfile.lines(of: rewrite.rewritten)
        #expect(lines[0] == "FROM maven:3-eclipse-temurin-21 AS build")
        let debianBlock = Dockerfile.lines(of: DistroSnippet.render(distro: "debian", format: .dockerfile)!).dropLast()
        #expect(Array(lines[1...debianBlock.count]) == Array(debianBlock), "the snippet --distro block right after FROM")
        #expect(lines.contains("ARG PROXY_CA_B64=\"\""))
        #expect(lines.contains { $0.contains("keytool -importcert -noprompt -alias intercept-proxy -file /usr/local/share/ca-certificates/intercept-proxy.crt -cacerts") })
        #expect(rewrite.rewritten.hasSuffix("WORKDIR /src\nRUN mvn -B package\n\nFROM build AS test\nRUN mvn -B verify\n\nFROM gcr.io/distroless/java21-debian12\nCOPY --from=build /src/target/app.jar /app.jar\n"))

        let again = try DockerfileRewriter.rewrite(rewrite.rewritten)
        #expect(!again.changed && again.rewritten == rewrite.rewritten, "a second run changes nothing")
        #expect(again.notes[0] == "stage 0 (build) FROM maven:3-eclipse-temurin-21: already declares ARG PROXY_CA_B64 (the intercept-proxy block), unchanged")
    }

    @Test func runtimeVariablesPointAtTheFamilysBundle() throws {
        let python = try DockerfileRewriter.rewrite("FROM python:3.12-alpine\nRUN pip install requests\n").rewritten
        #expect(python.contains("ENV PIP_CERT=/etc/ssl/certs/ca-certificates.crt REQUESTS_CA_BUNDLE=/etc/ssl/certs/ca-certificates.crt"))
        #expect(python.contains("apk add --no-cache ca-certificates"))
        let node = try DockerfileRewriter.rewrite("FROM registry.access.redhat.com/ubi9/nodejs-20\nRUN npm ci\n", distro: "ubi").rewritten
        #expect(node.contains("ENV NODE_EXTRA_CA_CERTS=/etc/pki/ca-trust/extracted/pem/tls-ca-bundle.pem"))
        #expect(node.contains("update-ca-trust extract"))
        let plain = try DockerfileRewriter.rewrite("FROM debian:12\nRUN apt-get update\n").rewritten
        #expect(!plain.contains("ENV "), "no runtime reads its own store here")
    }

    @Test func unknownOrShellLessBasesAreReportedNotGuessed() throws {
        let unknown = try DockerfileRewriter.rewrite("FROM mcr.microsoft.com/dotnet/sdk:8.0\nRUN dotnet restore\n")
        #expect(unknown.unresolved && !unknown.changed)
        #expect(unknown.notes == ["stage 0 FROM mcr.microsoft.com/dotnet/sdk:8.0: this base image is not one this tool knows; pass --distro (\(DistroFamily.allNames.joined(separator: ", "))) to say which family it is"])
        let overridden = try DockerfileRewriter.rewrite("FROM mcr.microsoft.com/dotnet/sdk:8.0\nRUN dotnet restore\n", distro: "debian")
        #expect(!overridden.unresolved && overridden.insertions.map(\.after) == [0])
        let argument = try DockerfileRewriter.rewrite("ARG BASE\nFROM $BASE\nRUN make\n")
        #expect(argument.unresolved && argument.notes[0].contains("depends on a build argument without a default"))
        let distroless = try DockerfileRewriter.rewrite("FROM gcr.io/distroless/base-debian12:debug\nRUN wget https://example.org/\n")
        #expect(distroless.unresolved && distroless.notes[0].contains("snippet --distro distroless"))
    }

    @Test func diffIsAUnifiedDiffOfTheInsertions() throws {
        let original = "FROM debian:12\nRUN apt-get update\nRUN true\nRUN true\nRUN true\nRUN true\nRUN true\nFROM alpine:3.20\nRUN apk add git\n"
        let rewrite = try DockerfileRewriter.rewrite(original)
        let diff = UnifiedDiff.render(rewrite.insertions, original: original, path: "Dockerfile")
        let debian = DockerfileRewriter.block(family: .debian, runtimes: []), alpine = DockerfileRewriter.block(family: .alpine, runtimes: [])
        let expected = "--- a/Dockerfile\n+++ b/Dockerfile\n"
            + "@@ -1,4 +1,\(4 + debian.count) @@\n FROM debian:12\n" + debian.map { "+\($0)\n" }.joined()
            + " RUN apt-get update\n RUN true\n RUN true\n"
            + "@@ -6,4 +\(6 + debian.count),\(4 + alpine.count) @@\n RUN true\n RUN true\n FROM alpine:3.20\n"
            + alpine.map { "+\($0)\n" }.joined() + " RUN apk add git\n"
        #expect(diff == expected, "\(diff)")
        let noNewline = UnifiedDiff.render(try DockerfileRewriter.rewrite("FROM debian:12\nRUN true").insertions, original: "FROM debian:12\nRUN true", path: "D")
        #expect(noNewline.hasSuffix(" RUN true\n\\ No newline at end of file\n"), "\(noNewline)")
    }

    @Test(arguments: ["FROM a\nFROM b\n", "FROM", "FROM a \\", "RUN <<EOF\nFROM x", "FROM ${\nRUN x", "FROM $$\nRUN x",
                      "FROM a AS\nRUN x", "\r\n\r\nFROM debian\r\nRUN x\r", "FROM debian <<EOF\nRUN x\nEOF\nRUN y\n", "# escape=\nFROM a\nRUN b"])
    func oddInputIsReadWithoutTrappingAndRewrittenIdempotently(text: String) throws {
        guard let rewrite = try? DockerfileRewriter.rewrite(text, distro: "debian") else {
            #expect(throws: Dockerfile.ParseError.self) { try Dockerfile(text: text) }
            return
        }
        _ = UnifiedDiff.render(rewrite.insertions, original: text, path: "Dockerfile")
        #expect(!(try DockerfileRewriter.rewrite(rewrite.rewritten, distro: "debian")).changed, "\(text)")
    }

    @Test func crlfFilesKeepTheirLineEndings() throws {
        let rewrite = try DockerfileRewriter.rewrite("FROM debian:12\r\nRUN apt-get update\r\n")
        #expect(rewrite.changed)
        let lines = Dockerfile.lines(of: rewrite.rewritten)
        #expect(lines.dropLast().allSatisfy { $0.hasSuffix("\r") }, "\(lines)")
        #expect(lines.last == "")
    }

    @Test func aBlockPastedByHandCountsAsDone() throws {
        let pasted = "FROM debian:12\n" + DistroSnippet.render(distro: "debian", format: .dockerfile)! + "RUN apt-get update\n"
        let rewrite = try DockerfileRewriter.rewrite(pasted)
        #expect(!rewrite.changed && rewrite.notes == ["stage 0 FROM debian:12: already declares ARG PROXY_CA_B64 (the intercept-proxy block), unchanged"])
    }
}
