"""OpenAPI v3 schemas of the vendored CRDs (deploy/crds/<operator>/*.yaml, see README.md).

    from schemas import crd_schema          # with deploy/crds on sys.path
    schema = crd_schema("kafka.strimzi.io/v1", "Kafka")
    jsonschema.Draft7Validator(schema).validate(rendered_kafka)

The schema is a Kubernetes structural schema, which ``jsonschema`` reads as JSON Schema:
``type``, ``properties``, ``required``, ``enum``, ``items``, ``minimum``/``maximum``,
``pattern``, ``anyOf``/``oneOf`` are checked.  Kubernetes-only keywords are ignored
(``x-kubernetes-*`` such as int-or-string, list-type and CEL ``x-kubernetes-validations``;
``nullable``, so a ``null`` value fails where Kubernetes would accept it), and
``additionalProperties`` is not false, so an unknown field passes (the API server prunes it).
Reads only the vendored files; needs PyYAML.
"""

from __future__ import annotations

import copy
import functools
from pathlib import Path

import yaml

CRD_DIR = Path(__file__).resolve().parent


@functools.cache
def _crds() -> dict[tuple[str, str], dict]:
    """(group, kind) -> CRD, from every vendored CRD file."""
    index: dict[tuple[str, str], dict] = {}
    for path in sorted(CRD_DIR.glob("*/*.yaml")):
        for doc in yaml.safe_load_all(path.read_text()):
            if isinstance(doc, dict) and doc.get("kind") == "CustomResourceDefinition":
                key = (doc["spec"]["group"], doc["spec"]["names"]["kind"])
                if key in index:
                    raise ValueError(f"{key} is defined twice (second time in {path})")
                index[key] = doc
    return index


def crd_schema(api_version: str, kind: str) -> dict:
    """The openAPIV3Schema of ``kind`` at ``api_version`` ("group/version"), as a fresh dict.

    Raises KeyError if no vendored CRD has that group and kind, or if that version is
    not one the CRD serves (the message lists the served ones).
    """
    group, _, version = api_version.rpartition("/")
    crd = _crds().get((group, kind))
    if crd is None:
        known = ", ".join(f"{g}/{k}" for g, k in sorted(_crds()))
        raise KeyError(f"no vendored CRD for kind {kind!r} in group {group!r} (have: {known})")
    served = [v for v in crd["spec"]["versions"] if v.get("served")]
    for v in served:
        if v["name"] == version:
            return copy.deepcopy(v["schema"]["openAPIV3Schema"])
    names = ", ".join(f"{group}/{v['name']}" for v in served)
    raise KeyError(f"{kind} is not served at {api_version!r}; served: {names}")
