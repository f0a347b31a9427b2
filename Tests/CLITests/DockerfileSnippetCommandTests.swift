import Foundation
import Testing
import TestSupport

/// `snippet --dockerfile` as a command: the diff on stdout applies with `patch` to what `--write`
/// writes, notes on stderr, and clear refusals. (ContainerBuildTests builds the results with buildah.)
@Suite struct DockerfileSnippetCommandTests {
    @Test func diffAppliesWithPatchToWhatWriteWrites() throws {
        let scratch = try TemporaryDirectory()
        let original = "ARG NODE=node:20-bookworm-slim\nFROM ${NODE}\nWORKDIR /app\nCOPY package*.json ./\nRUN npm ci\n"
        let dockerfile = try scratch.write("Dockerfile", original)
        let copy = try scratch.write("Dockerfile.patched", original)

        let diff = try CLI.run(["snippet", "--dockerfile", dockerfile])
        #expect(diff.status == 0, "\(diff)")
        #expect(diff.stderr == "# stage 0 FROM node:20-bookworm-slim: debian family, block inserted after line 2 and the variables for node\n", "\(diff.stderr)")
        #expect(diff.stdout.contains("+ENV NODE_EXTRA_CA_CERTS=/etc/ssl/certs/ca-certificates.crt\n"), "\(diff.stdout)")
        let patched = try run("patch", ["--quiet", copy], input: diff.stdout)
        #expect(patched.status == 0, "\(patched)")
        #expect(try String(contentsOfFile: dockerfile, encoding: .utf8) == original, "without --write the file is untouched")

        let written = try CLI.run(["snippet", "--dockerfile", dockerfile, "--write"])
        #expect(written.status == 0 && written.stdout.isEmpty, "\(written)")
        #expect(written.stderr.contains("# wrote \(dockerfile); build with: --build-arg PROXY_CA_B64=\"$(intercept-proxy ca export --format base64)\""))
        #expect(try String(contentsOfFile: dockerfile, encoding: .utf8) == String(contentsOfFile: copy, encoding: .utf8))
    }

    @Test func unknownBaseFailsWithTheReasonAndDistroOverridesIt() throws {
        let scratch = try TemporaryDirectory()
        let dockerfile = try scratch.write("Dockerfile", "FROM mcr.microsoft.com/dotnet/sdk:8.0\nRUN dotnet restore\n")
        let unknown = try CLI.run(["snippet", "--dockerfile", dockerfile])
        #expect(unknown.status == 1 && unknown.stdout.isEmpty, "\(unknown)")
        #expect(unknown.stderr.contains("this base image is not one this tool knows; pass --distro"), "\(unknown.stderr)")
        #expect(unknown.stderr.contains("intercept-proxy: error: a stage that runs commands was left without the block (see above)"))
        let overridden = try CLI.run(["snippet", "--dockerfile", dockerfile, "--distro", "ubuntu"])
        #expect(overridden.status == 0 && overridden.stdout.contains("+RUN if [ -n \"$PROXY_CA_B64\" ]; then"), "\(overridden)")
    }

    @Test func refusesWhatItCannotDo() throws {
        let scratch = try TemporaryDirectory()
        let missing = try CLI.run(["snippet", "--dockerfile", scratch.path("nope")])
        #expect(missing.status != 0 && missing.stderr.contains("cannot read the Dockerfile at \(scratch.path("nope"))"), "\(missing)")
        let notADockerfile = try CLI.run(["snippet", "--dockerfile", try scratch.write("README", "# hello\n")])
        #expect(notADockerfile.status != 0 && notADockerfile.stderr.contains("no FROM instruction: not a Dockerfile"), "\(notADockerfile)")
        let huge = try scratch.write("Huge", "FROM debian:12\n" + String(repeating: "RUN true\n", count: 120_000))
        let tooLarge = try CLI.run(["snippet", "--dockerfile", huge])
        #expect(tooLarge.status != 0 && tooLarge.stderr.contains("\(huge) is larger than 1 MiB: not a Dockerfile this tool rewrites"), "\(tooLarge)")
        let withClient = try CLI.run(["snippet", "--dockerfile", scratch.path("nope"), "--client", "pip"])
        #expect(withClient.status == 2 && withClient.stderr.contains("--dockerfile and --client do not go together"), "\(withClient)")
        let writeAlone = try CLI.run(["snippet", "--distro", "debian", "--write"])
        #expect(writeAlone.status == 2 && writeAlone.stderr.contains("--write goes with --dockerfile"), "\(writeAlone)")
    }
}
