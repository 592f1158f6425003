"""Fixtures for the deployment checks: the parsed Dockerfile and the Kubernetes manifests."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
DOCKERFILE = REPO / "Dockerfile"
KUBERNETES = REPO / "deploy" / "kubernetes"


@dataclass
class Instruction:
    keyword: str  # upper case: FROM, RUN, CMD, ...
    args: str  # the rest of the logical line, continuations joined

    def exec_form(self) -> list[str] | None:
        """The JSON array of an exec-form CMD/ENTRYPOINT/HEALTHCHECK CMD, or None for shell form."""
        text = re.sub(r"^(--\S+\s+)*", "", self.args)  # HEALTHCHECK options
        text = re.sub(r"^CMD\s+", "", text)
        try:
            value = json.loads(text)
        except json.JSONDecodeError:
            return None
        return value if isinstance(value, list) and all(isinstance(v, str) for v in value) else None


@dataclass
class Stage:
    image: str
    name: str | None
    instructions: list[Instruction] = field(default_factory=list)

    def all(self, keyword: str) -> list[Instruction]:
        return [i for i in self.instructions if i.keyword == keyword]

    def last(self, keyword: str) -> Instruction | None:
        found = self.all(keyword)
        return found[-1] if found else None

    def env(self) -> dict[str, str]:
        """ENV key=value pairs (the only form the Dockerfile uses), later ones winning."""
        values: dict[str, str] = {}
        for i in self.all("ENV"):
            for key, value in re.findall(r"(\w+)=(\"[^\"]*\"|\S+)", i.args):
                values[key] = value.strip('"')
        return values


def parse_dockerfile(text: str) -> tuple[dict[str, str], list[Stage]]:
    """Global ARGs and the stages of a Dockerfile: comments dropped, continuation lines joined."""
    logical: list[str] = []
    current = ""
    for raw in text.splitlines():
        stripped = raw.strip()
        if stripped.startswith("#") or (not stripped and not current):
            continue
        if stripped.endswith("\\"):
            current += stripped[:-1].rstrip() + " "
            continue
        logical.append((current + stripped).strip())
        current = ""
    if current.strip():
        logical.append(current.strip())
    global_args: dict[str, str] = {}
    stages: list[Stage] = []
    for line in filter(None, logical):
        keyword, _, args = line.partition(" ")
        keyword, args = keyword.upper(), args.strip()
        if keyword == "FROM":
            m = re.match(r"(?:--\S+\s+)*(\S+)(?:\s+AS\s+(\S+))?$", args, re.IGNORECASE)
            assert m, f"cannot parse FROM {args}"
            stages.append(Stage(image=m.group(1), name=m.group(2)))
        elif not stages:
            assert keyword == "ARG", f"{keyword} before the first FROM"
            name, _, default = args.partition("=")
            global_args[name] = default
        else:
            stages[-1].instructions.append(Instruction(keyword, args))
    return global_args, stages


@pytest.fixture(scope="session")
def dockerfile() -> list[Stage]:
    return parse_dockerfile(DOCKERFILE.read_text(encoding="utf-8"))[1]


@pytest.fixture(scope="session")
def exposed_port(dockerfile: list[Stage]) -> int:
    expose = dockerfile[-1].all("EXPOSE")
    assert len(expose) == 1, "the final stage should EXPOSE exactly one port"
    return int(expose[0].args.split("/")[0])


@pytest.fixture(scope="session")
def manifests() -> dict[str, dict]:
    """Every document in deploy/kubernetes/*.yaml, by kind."""
    yaml = pytest.importorskip("yaml")
    docs: dict[str, dict] = {}
    for path in sorted(KUBERNETES.glob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text(encoding="utf-8")):
            if doc:
                assert doc["kind"] not in docs, f"two {doc['kind']} documents"
                docs[doc["kind"]] = doc
    return docs
