#!/usr/bin/env python3
"""Vendor the CRDs of the operators that deploy/helm/userstream renders resources for.

    python deploy/crds/fetch.py          # (re)write deploy/crds/<operator>/ at the pinned versions
    python deploy/crds/fetch.py --check  # exit 1 if the vendored files differ from a fresh fetch

Only package registries are used, through their ordinary clients:

* Strimzi (a Java project) publishes no CRD YAML; its CRDs are generated from the
  ``io.strimzi:api`` model classes by ``io.strimzi:crd-generator`` (a self-contained
  jar), both on Maven Central.  This script runs that generator with the same arguments
  as Strimzi's own build (api/pom.xml, execution ``generate-crd-co-install-v1``), which
  reproduces packaging/install/cluster-operator/04x-Crd-*.yaml of the release byte for
  byte.  The generator is compiled for Java 21, so a JDK >= 21 is needed (``$JAVA``,
  ``$JAVA_HOME``, ``java`` on PATH or /usr/lib/jvm/*, whichever is >= 21).
* cass-operator and prometheus-operator are Go modules: ``go mod download`` (checked
  against sum.golang.org) in a throwaway module, then the CRD files are read from the
  module directory.  cass-operator's config/crd/bases file is patched with the JSON
  patches that its config/crd/kustomization.yaml applies (what ``kustomize build
  config/crd`` installs: it drops the ``spec.config`` string schema, so ``config`` is
  kept as an unknown field).

Needs PyYAML (a dependency of the project), Go and a JDK >= 21.  Deterministic: the same
pins give the same files.  It writes nothing outside deploy/crds/.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import urllib.request
import zipfile
from pathlib import Path

import yaml

# ---- pins: operator -> version -> source ------------------------------------------------
# Each is the newest release that the registries reachable here served on 2026-12-07:
# cass-operator v1.32.0 and prometheus-operator v0.95.x exist upstream, but the Go module
# proxy answered 403 for them (the submodule .../prometheus-operator/pkg/apis/monitoring is
# served at v0.95.2, but it holds Go types only, no CRD YAML).
STRIMZI_VERSION = "1.2.0"  # Maven Central io.strimzi:api / io.strimzi:crd-generator
CASS_OPERATOR_VERSION = "v1.31.0"  # Go module github.com/k8ssandra/cass-operator
PROMETHEUS_OPERATOR_VERSION = (
    "v0.94.1"  # Go module github.com/prometheus-operator/prometheus-operator
)

MAVEN_CENTRAL = "https://repo1.maven.org/maven2"
STRIMZI_JARS = {  # artifact -> sha256 of <artifact>-<STRIMZI_VERSION>.jar (checked after download)
    "api": "566961ae5e5646a001ae91312beda5cba3a5d467e740e205e1b761754335fe4e",
    "crd-generator": "76bb2430e702a1e6a24c071d26c865d5e9572cbc630d176d3b912033ae23ed00",
}
# Generator arguments from Strimzi's api/pom.xml at the pinned version.
STRIMZI_GENERATOR_ARGS = [
    "--label",
    "app:strimzi",
    "--label",
    "strimzi.io/crd-install:true",
    "--target-kube",
    "1.16+",
    "--crd-api-version",
    "v1",
    "--api-versions",
    "v1",
    "--storage-version",
    "v1",
    "--yaml",
]
STRIMZI_CRDS = {  # model class -> CRD name
    "io.strimzi.api.kafka.model.kafka.Kafka": "kafkas.kafka.strimzi.io",
    "io.strimzi.api.kafka.model.nodepool.KafkaNodePool": "kafkanodepools.kafka.strimzi.io",
    "io.strimzi.api.kafka.model.topic.KafkaTopic": "kafkatopics.kafka.strimzi.io",
    "io.strimzi.api.kafka.model.user.KafkaUser": "kafkausers.kafka.strimzi.io",
}
CASS_MODULE = "github.com/k8ssandra/cass-operator"
CASS_CRDS = {
    "config/crd/bases/cassandra.datastax.com_cassandradatacenters.yaml": (
        "cassandradatacenters.cassandra.datastax.com"
    )
}
CASS_KUSTOMIZATION = "config/crd/kustomization.yaml"
PROM_MODULE = "github.com/prometheus-operator/prometheus-operator"
PROM_CRDS = {
    f"example/prometheus-operator-crd/monitoring.coreos.com_{plural}.yaml": (
        f"{plural}.monitoring.coreos.com"
    )
    for plural in ("podmonitors", "servicemonitors", "prometheusrules")
}

HERE = Path(__file__).resolve().parent
OPERATOR_DIRS = ("strimzi", "cass-operator", "prometheus-operator")


def log(msg: str) -> None:
    print(msg, flush=True)


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# ---- Maven Central / Strimzi ------------------------------------------------------------
def maven_get(
    group: str, artifact: str, version: str, dest: Path, expected_sha256: str
) -> tuple[Path, str]:
    base = (
        f"{MAVEN_CENTRAL}/{group.replace('.', '/')}/{artifact}/{version}/{artifact}-{version}.jar"
    )
    log(f"  GET {base}")
    with urllib.request.urlopen(base, timeout=300) as r:  # noqa: S310 (https constant)
        data = r.read()
    with urllib.request.urlopen(base + ".sha1", timeout=60) as r:  # noqa: S310
        sha1 = r.read().decode().split()[0].strip()
    if hashlib.sha1(data, usedforsecurity=False).hexdigest() != sha1:
        sys.exit(f"{base}: SHA-1 does not match the published {sha1}")
    digest = sha256(data)
    if expected_sha256 and digest != expected_sha256:
        sys.exit(f"{base}: sha256 {digest} is not the pinned {expected_sha256}")
    path = dest / f"{artifact}-{version}.jar"
    path.write_bytes(data)
    return path, digest


def java_major(java: str) -> int:
    try:
        out = subprocess.run([java, "-version"], capture_output=True, text=True, timeout=60).stderr
    except (OSError, subprocess.SubprocessError):
        return 0
    m = re.search(r'version "(\d+)(?:\.(\d+))?', out)
    if not m:
        return 0
    major = int(m.group(1))
    return int(m.group(2) or 0) if major == 1 else major


def find_java(minimum: int = 21) -> str:
    candidates = []
    if os.environ.get("JAVA"):
        candidates.append(os.environ["JAVA"])
    if os.environ.get("JAVA_HOME"):
        candidates.append(os.path.join(os.environ["JAVA_HOME"], "bin", "java"))
    if shutil.which("java"):
        candidates.append(shutil.which("java"))
    candidates += sorted(str(p) for p in Path("/usr/lib/jvm").glob("*/bin/java"))
    best = max(((java_major(c), c) for c in candidates), default=(0, ""))
    if best[0] < minimum:
        sys.exit(
            f"Strimzi's crd-generator needs Java >= {minimum}; the newest found is "
            f"{best[1] or 'none'} (Java {best[0]}). Set JAVA or JAVA_HOME."
        )
    return best[1]


def strimzi(work: Path) -> dict:
    log(f"strimzi {STRIMZI_VERSION}: Maven Central io.strimzi:{{api,crd-generator}}")
    jars, digests = [], {}
    for artifact, pinned in STRIMZI_JARS.items():
        path, digest = maven_get("io.strimzi", artifact, STRIMZI_VERSION, work, pinned)
        jars.append(str(path))
        digests[f"io.strimzi:{artifact}:{STRIMZI_VERSION} jar sha256"] = digest
    java = find_java()
    gen = work / "strimzi-out"
    gen.mkdir()
    targets = [f"{cls}={gen / (name + '.yaml')}" for cls, name in STRIMZI_CRDS.items()]
    cmd = [
        java,
        "-cp",
        os.pathsep.join(jars),
        "io.strimzi.crdgenerator.CrdGenerator",
        *STRIMZI_GENERATOR_ARGS,
        *targets,
    ]
    log(f"  run io.strimzi.crdgenerator.CrdGenerator with {java} (Java {java_major(java)})")
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        sys.exit(f"CrdGenerator failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    files = {f"{name}.yaml": (gen / f"{name}.yaml").read_bytes() for name in STRIMZI_CRDS.values()}
    # The jars carry no Strimzi LICENSE file; the POMs declare Apache-2.0, and the
    # crd-generator jar ships the Apache License 2.0 text as META-INF/LICENSE.
    with zipfile.ZipFile(jars[1]) as z:
        files["LICENSE"] = z.read("META-INF/LICENSE")
    return {
        "files": files,
        "version": STRIMZI_VERSION,
        "source": f"Maven Central io.strimzi:api:{STRIMZI_VERSION} + "
        f"io.strimzi:crd-generator:{STRIMZI_VERSION}, CRDs generated with Strimzi's own "
        "build arguments (api/pom.xml); identical to the release's "
        "packaging/install/cluster-operator/04x-Crd-*.yaml",
        "license": "Apache-2.0 (POM <licenses>); LICENSE is the Apache License 2.0 text "
        "from crd-generator jar META-INF/LICENSE",
        "provenance": digests,
    }


# ---- Go modules -------------------------------------------------------------------------
def go_download(module: str, version: str, work: Path) -> dict:
    mod = work / "gomod"
    mod.mkdir(exist_ok=True)
    (mod / "go.mod").write_text("module userstream.invalid/crdfetch\n\ngo 1.21\n")
    env = dict(
        os.environ,
        GOTOOLCHAIN="local",
        GOFLAGS=(os.environ.get("GOFLAGS", "") + " -mod=mod").strip(),
    )
    log(f"  go mod download -json {module}@{version}")
    proc = subprocess.run(
        ["go", "mod", "download", "-json", f"{module}@{version}"],
        cwd=mod,
        env=env,
        capture_output=True,
        text=True,
    )
    info = json.loads(proc.stdout) if proc.stdout.strip() else {}
    if proc.returncode != 0 or info.get("Error") or not info.get("Dir"):
        sys.exit(f"go mod download {module}@{version} failed: {info.get('Error') or proc.stderr}")
    return info


def json_pointer_parent(doc, pointer: str):
    parts = [p.replace("~1", "/").replace("~0", "~") for p in pointer.lstrip("/").split("/")]
    node = doc
    for p in parts[:-1]:
        node = node[int(p)] if isinstance(node, list) else node[p]
    return node, parts[-1]


def apply_json6902(doc: dict, ops: list) -> None:
    for op in ops:
        parent, key = json_pointer_parent(doc, op["path"])
        if isinstance(parent, list):
            key = int(key)
        if op["op"] == "remove":
            del parent[key]
        elif op["op"] in ("add", "replace"):
            parent[key] = op["value"]
        else:
            sys.exit(f"unsupported JSON patch op {op['op']!r}")


def kustomize_patches(module_dir: Path, crd: dict) -> list[tuple[str, list]]:
    """The JSON6902 patches that module's config/crd/kustomization.yaml applies to this CRD."""
    kust_path = module_dir / CASS_KUSTOMIZATION
    kust = yaml.safe_load(kust_path.read_text())
    out = []
    for p in kust.get("patches", []) + kust.get("patchesJson6902", []):
        target = p.get("target", {})
        if target.get("kind", "CustomResourceDefinition") != "CustomResourceDefinition":
            continue
        if target.get("name") not in (None, crd["metadata"]["name"]):
            continue
        if "path" not in p:
            sys.exit(f"{kust_path}: inline patches are not supported: {p}")
        ops = yaml.safe_load((kust_path.parent / p["path"]).read_text())
        if not isinstance(ops, list):
            sys.exit(f"{p['path']}: only JSON6902 patch files are supported")
        out.append((p["path"], ops))
    return out


class _LiteralDumper(yaml.SafeDumper):
    pass


def _str_presenter(dumper, data):
    style = (
        "|"
        if "\n" in data and not any(c in data for c in "\r\t") and data == data.rstrip(" ")
        else None
    )
    return dumper.represent_scalar("tag:yaml.org,2002:str", data, style=style)


_LiteralDumper.add_representer(str, _str_presenter)


def cass_operator(work: Path) -> dict:
    log(f"cass-operator {CASS_OPERATOR_VERSION}: Go module {CASS_MODULE}")
    info = go_download(CASS_MODULE, CASS_OPERATOR_VERSION, work)
    d = Path(info["Dir"])
    files = {}
    for rel, name in CASS_CRDS.items():
        crd = yaml.safe_load((d / rel).read_text())
        applied = []
        for patch_file, ops in kustomize_patches(d, crd):
            apply_json6902(crd, ops)
            applied.append(f"config/crd/{patch_file}")
        header = (
            f"# {CASS_MODULE}@{CASS_OPERATOR_VERSION} {rel}\n"
            f"# with the JSON patches of {CASS_KUSTOMIZATION} applied: "
            f"{', '.join(applied) or 'none'}\n"
            "# (written by deploy/crds/fetch.py; do not edit)\n"
        )
        body = yaml.dump(crd, Dumper=_LiteralDumper, sort_keys=False, width=120, allow_unicode=True)
        files[f"{name}.yaml"] = (header + body).encode()
    files["LICENSE"] = (d / "LICENSE.txt").read_bytes()
    return {
        "files": files,
        "version": CASS_OPERATOR_VERSION,
        "source": f"Go module {CASS_MODULE}@{CASS_OPERATOR_VERSION} ({info.get('Sum', '')}), "
        f"{', '.join(CASS_CRDS)} + the patches of {CASS_KUSTOMIZATION} "
        "(= kustomize build config/crd)",
        "license": "Apache-2.0 (LICENSE.txt of the module)",
        "provenance": {
            "go.sum h1": info.get("Sum", ""),
            "git": f"{info.get('Origin', {}).get('Ref', '')} "
            f"{info.get('Origin', {}).get('Hash', '')}".strip(),
        },
    }


def prometheus_operator(work: Path) -> dict:
    log(f"prometheus-operator {PROMETHEUS_OPERATOR_VERSION}: Go module {PROM_MODULE}")
    info = go_download(PROM_MODULE, PROMETHEUS_OPERATOR_VERSION, work)
    d = Path(info["Dir"])
    files = {f"{name}.yaml": (d / rel).read_bytes() for rel, name in PROM_CRDS.items()}
    files["LICENSE"] = (d / "LICENSE").read_bytes()
    files["NOTICE"] = (d / "NOTICE").read_bytes()
    return {
        "files": files,
        "version": PROMETHEUS_OPERATOR_VERSION,
        "source": f"Go module {PROM_MODULE}@{PROMETHEUS_OPERATOR_VERSION} ({info.get('Sum', '')}), "
        "example/prometheus-operator-crd/*.yaml (verbatim)",
        "license": "Apache-2.0 (LICENSE and NOTICE of the module)",
        "provenance": {
            "go.sum h1": info.get("Sum", ""),
            "git": f"{info.get('Origin', {}).get('Ref', '')} "
            f"{info.get('Origin', {}).get('Hash', '')}".strip(),
        },
    }


# ---- output -----------------------------------------------------------------------------
def readme(results: dict[str, dict]) -> bytes:
    lines = [
        "# Vendored CRDs",
        "",
        "Written by `python deploy/crds/fetch.py` (do not edit by hand; change the pins at the top",
        "of fetch.py and run it again; `--check` verifies the files). `schemas.py` reads them:",
        "`crd_schema(api_version, kind)` returns the openAPIV3Schema of a served version.",
        "",
        "| operator | version | source | licence |",
        "|---|---|---|---|",
    ]
    for op, r in results.items():
        lines.append(f"| {op} | {r['version']} | {r['source']} | {r['license']} |")
    lines += [
        "",
        "Refreshing needs network access to Maven Central and the Go module proxy, Go, "
        "and a JDK >= 21",
        "(Strimzi's crd-generator is compiled for Java 21; fetch.py picks `$JAVA`, "
        "`$JAVA_HOME`, `java`",
        "or /usr/lib/jvm/*). Reading the files (schemas.py, tests) needs nothing but PyYAML.",
        "",
        "## Files",
        "",
    ]
    for op, r in results.items():
        for k, v in r["provenance"].items():
            lines.append(f"- {op}: {k} `{v}`")
        for name, data in sorted(r["files"].items()):
            lines.append(f"- `{op}/{name}` sha256 `{sha256(data)}`")
    return ("\n".join(lines) + "\n").encode()


def collect() -> dict[str, bytes]:
    with tempfile.TemporaryDirectory(prefix="crdfetch-") as tmp:
        work = Path(tmp)
        results = {
            "strimzi": strimzi(work),
            "cass-operator": cass_operator(work),
            "prometheus-operator": prometheus_operator(work),
        }
    out = {f"{op}/{name}": data for op, r in results.items() for name, data in r["files"].items()}
    out["README.md"] = readme(results)
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument(
        "--check", action="store_true", help="compare with the vendored files, write nothing"
    )
    args = ap.parse_args()
    wanted = collect()
    existing = {
        str(p.relative_to(HERE))
        for op in OPERATOR_DIRS
        for p in (HERE / op).glob("**/*")
        if p.is_file()
    }
    stale = sorted(existing - set(wanted))
    if args.check:
        bad = [
            rel
            for rel, data in sorted(wanted.items())
            if not (HERE / rel).is_file() or (HERE / rel).read_bytes() != data
        ] + stale
        for rel in bad:
            print(f"differs: deploy/crds/{rel}")
        print(
            "up to date"
            if not bad
            else f"{len(bad)} file(s) differ: run python deploy/crds/fetch.py"
        )
        return 1 if bad else 0
    for rel in stale:
        (HERE / rel).unlink()
        print(f"removed deploy/crds/{rel}")
    for rel, data in sorted(wanted.items()):
        path = HERE / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        state = "unchanged" if path.is_file() and path.read_bytes() == data else "wrote"
        if state == "wrote":
            path.write_bytes(data)
        print(f"{state:9} deploy/crds/{rel} ({len(data)} bytes, sha256 {sha256(data)[:12]})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
