"""Checks the CI recipes in this directory against image/Containerfile: the same command, ports,
healthcheck, volume and user everywhere. Prints one line per problem and exits 1 if there is any;
prints the checks it made otherwise. Run by CIRecipeTests (make test); needs PyYAML."""
import json
import re
import shlex
import sys
from pathlib import Path

import yaml

root = Path(sys.argv[1])
ci = root / "examples" / "ci"
problems, checks = [], []


def check(what, ok, detail=""):
    checks.append(what)
    if not ok:
        problems.append("%s: %s" % (what, detail))


# The image's truth, from its Containerfile (JSON-array forms only, as written there).
image = {}
for line in (root / "image" / "Containerfile").read_text().splitlines():
    keyword, _, rest = line.partition(" ")
    if keyword in ("ENTRYPOINT", "CMD", "VOLUME"):
        image[keyword] = json.loads(rest)
    elif keyword == "EXPOSE":
        image[keyword] = sorted(int(port) for port in rest.split())
    elif keyword == "USER":
        image[keyword] = rest.strip()
    elif keyword == "HEALTHCHECK":
        image[keyword] = json.loads(rest[rest.index(" CMD ") + 5:])
command = image["CMD"]
proxy_port = int(command[command.index("--port") + 1])
admin_port = int(command[command.index("--admin") + 1].rsplit(":", 1)[1])
health = image["HEALTHCHECK"][:4]  # binary, healthcheck, --admin, 127.0.0.1:PORT
uid = int(image["USER"].split(":")[0])
check("image: exposes the proxy and admin ports", image["EXPOSE"] == sorted([proxy_port, admin_port]), image["EXPOSE"])
check("image: healthcheck probes the admin port", health[:3] == image["ENTRYPOINT"] + ["healthcheck", "--admin"]
      and health[3] == "127.0.0.1:%d" % admin_port, health)

# GitHub Actions
job = yaml.safe_load((ci / "github-actions.yml").read_text())["jobs"]["test"]
service = job["services"]["intercept-proxy"]
check("github: ports", sorted(service["ports"]) == sorted("%d:%d" % (p, p) for p in (proxy_port, admin_port)), service["ports"])
health_cmd = re.search(r'--health-cmd "([^"]+)"', service["options"])
check("github: health-cmd", health_cmd is not None and shlex.split(health_cmd.group(1)) == health, service["options"])
check("github: HTTPS_PROXY", job["env"]["HTTPS_PROXY"] == "http://localhost:%d" % proxy_port, job["env"])
check("github: CA from the control API", any(":%d/v1/ca.pem" % admin_port in step.get("run", "") for step in job["steps"]), job["steps"])

# GitLab CI
gitlab = yaml.safe_load((ci / "gitlab-ci.yml").read_text())["test-behind-a-gateway"]
check("gitlab: service command", gitlab["services"][0]["command"] == command, gitlab["services"][0])
alias = gitlab["services"][0]["alias"]
check("gitlab: HTTPS_PROXY", gitlab["variables"]["HTTPS_PROXY"] == "http://%s:%d" % (alias, proxy_port), gitlab["variables"])
check("gitlab: CA from the control API", any("%s:%d/v1/ca.pem" % (alias, admin_port) in line for line in gitlab["script"]), gitlab["script"])

# docker compose
compose = yaml.safe_load((ci / "compose.yaml").read_text())["services"]
proxy = compose["intercept-proxy"]
check("compose: command", proxy["command"] == command, proxy["command"])
check("compose: ports", sorted(int(p.rsplit(":", 1)[1]) for p in proxy["ports"]) == sorted([proxy_port, admin_port]), proxy["ports"])
check("compose: CA volume", [v.split(":")[1] for v in proxy["volumes"]] == image["VOLUME"], proxy["volumes"])
check("compose: healthcheck", proxy["healthcheck"]["test"] == ["CMD"] + health, proxy["healthcheck"])
check("compose: app's HTTPS_PROXY", compose["app"]["environment"]["HTTPS_PROXY"] == "http://intercept-proxy:%d" % proxy_port, compose["app"])
check("compose: app waits for healthy", compose["app"]["depends_on"]["intercept-proxy"]["condition"] == "service_healthy", compose["app"])

# Kubernetes
documents = {d["kind"]: d for d in yaml.safe_load_all((ci / "kubernetes.yaml").read_text())}
pod = documents["Deployment"]["spec"]["template"]["spec"]
container = pod["containers"][0]
check("kubernetes: args start with the image's command", container["args"][:len(command)] == command, container["args"])
check("kubernetes: container ports", sorted(p["containerPort"] for p in container["ports"]) == sorted([proxy_port, admin_port]), container["ports"])
check("kubernetes: service ports", sorted(p["targetPort"] for p in documents["Service"]["spec"]["ports"]) == sorted([proxy_port, admin_port]),
      documents["Service"]["spec"]["ports"])
check("kubernetes: non-root user", pod["securityContext"]["runAsUser"] == uid, pod["securityContext"])
check("kubernetes: readiness on /v1/ready", container["readinessProbe"]["httpGet"] == {"path": "/v1/ready", "port": admin_port}, container["readinessProbe"])
check("kubernetes: liveness is the healthcheck", container["livenessProbe"]["exec"]["command"] == health, container["livenessProbe"])
mounts = {m["name"]: m["mountPath"] for m in container["volumeMounts"]}
check("kubernetes: the CA volume", mounts.get("state") == image["VOLUME"][0], mounts)
byo = [container["args"][i + 1] for i, a in enumerate(container["args"]) if a in ("--ca-cert", "--ca-key")]
check("kubernetes: bring-your-own CA from the Secret's mount", len(byo) == 2 and all(p.startswith(mounts["ca"] + "/") for p in byo)
      and pod["volumes"][[v["name"] for v in pod["volumes"]].index("ca")]["secret"]["secretName"] == documents["Secret"]["metadata"]["name"], byo)

# Testcontainers
java = (ci / "InterceptProxyContainer.java").read_text()
java_command = re.search(r"withCommand\(([^)]*)\)", java).group(1)
check("testcontainers java: command", json.loads("[" + java_command + "]") == command, java_command)
check("testcontainers java: ports", "withExposedPorts(%d, %d)" % (proxy_port, admin_port) in java, "")
check("testcontainers java: waits on /v1/ready", 'Wait.forHttp("/v1/ready").forPort(%d)' % admin_port in java, "")
python = (ci / "testcontainers_example.py").read_text()
check("testcontainers python: command", shlex.split(re.search(r'with_command\("([^"]+)"\)', python).group(1)) == command, "")
check("testcontainers python: ports", "with_exposed_ports(%d, %d)" % (proxy_port, admin_port) in python, "")
banner = re.search(r'wait_for_logs\(proxy, "([^"]+)"', python).group(1)
check("testcontainers python: the ready log line is the banner's", ('"%s ' % banner) in (root / "Sources" / "intercept-proxy" / "RunCommand.swift").read_text(), banner)

# docs/ci-fixture.md points at every recipe.
guide = (root / "docs" / "ci-fixture.md").read_text()
for name in sorted(p.name for p in ci.iterdir() if p.name != "check_recipes.py"):
    check("docs/ci-fixture.md names examples/ci/" + name, "examples/ci/" + name in guide, "")

for problem in problems:
    print("PROBLEM " + problem)
print("%d checks, %d problems" % (len(checks), len(problems)))
sys.exit(1 if problems else 0)
