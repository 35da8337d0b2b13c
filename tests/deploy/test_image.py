"""The worker image works as shipped, checked without a Docker engine.

The build stage's files are assembled exactly as deploy/Dockerfile and
deploy/Dockerfile.dockerignore define them (tests/deploy/dockercontext.py); then the test does
what the stage's RUN does, a fresh venv and ``pip install .`` from its WORKDIR, and decodes an
event with the installed copy. Once, ``streams/schemas`` was a symlink to ``../schemas``, which
the context did not admit: the image had a dangling link and no ``.avsc`` files at all.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from streams.avro_codec import codec_for

from ..unit.factories import payment
from .dockercontext import BuildStage, Dockerignore, assemble, dangling_symlinks
from .helpers import DEPLOY, ROOT

DOCKERFILE = DEPLOY / "Dockerfile"
DOCKERIGNORE = DEPLOY / "Dockerfile.dockerignore"  # BuildKit reads <Dockerfile>.dockerignore first

# Runs in the fresh venv, isolated (-I: no PYTHONPATH, no cwd on sys.path) and outside the repository.
CHECK = """
import json, sys
import streams
from streams.avro_codec import codec_for, schema_files
codec = codec_for("PaymentEvent")
data = codec.encode(json.load(sys.stdin))
json.dump({"module": streams.__file__, "schemas": [str(p) for p in schema_files()],
           "encoded": data.hex(), "decoded": codec.decode(data)}, sys.stdout)
"""


@pytest.mark.parametrize(("lines", "path", "admitted"), [
    (["**", "!streams/**"], "streams/app.py", True),
    (["**", "!streams/**"], "streams", False),
    (["**", "!streams/**"], "schemas/PaymentEvent.avsc", False),
    (["**", "!streams/**", "**/__pycache__"], "streams/payments/__pycache__/state.cpython-311.pyc", False),
    (["**", "!streams/**", "**/*.pyc"], "streams/x.pyc", False),
    (["**/*.pyc", "!keep.pyc"], "keep.pyc", True),  # the last matching line wins
    (["/build"], "build/lib/streams/app.py", False),  # leading /; a directory excludes what it holds
    (["*.md"], "docs/metrics.md", True),  # * stays in one segment
    (["**foo"], "barfoo", False),  # a leading ** matches any suffix, not only whole segments
    (["# comment", "", "schemas/*.avsc"], "schemas/SeedingEvent.avsc", False),
])
def test_dockerignore_semantics(lines: list[str], path: str, admitted: bool) -> None:
    """The matcher reproduces Docker's rules on the cases this repository's patterns rely on."""
    assert Dockerignore(tuple(lines)).admits(path) is admitted


@pytest.fixture(scope="module")
def build_stage(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, BuildStage]:
    """(the image tree, the build stage) with what the build stage's COPY instructions copy."""
    image = tmp_path_factory.mktemp("image")
    return image, assemble(ROOT, DOCKERFILE, "build", Dockerignore.read(DOCKERIGNORE), image)


def test_no_dangling_symlink_in_the_build_stage(build_stage: tuple[Path, BuildStage]) -> None:
    """COPY keeps symlinks as symlinks: every one must point at something the context brought along."""
    image, _ = build_stage
    assert dangling_symlinks(image) == []


def _pin(name: str) -> str:
    """``name==version`` as pyproject.toml pins it."""
    deps = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    (pin,) = [d for d in deps if re.match(rf"{re.escape(name)}\s*==", d)]
    return pin


@pytest.mark.integration  # a venv and a pip install: ~10 s, and PyPI for the build backend
def test_the_image_installs_and_decodes_an_event(build_stage: tuple[Path, BuildStage], tmp_path: Path) -> None:
    image, stage = build_stage
    (workdir,) = [wd for wd, command in stage.runs if re.search(r"\bpip install \.(\s|$)", command)]
    src = image / workdir.relative_to("/")
    venv = tmp_path / "venv"
    env = {k: v for k, v in os.environ.items() if k not in {"PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV"}}
    subprocess.run([sys.executable, "-m", "venv", venv], check=True, env=env, timeout=120)
    python = venv / "bin" / "python"
    # Non-editable, like the image. --no-deps keeps it fast: the check needs fastavro only.
    install = subprocess.run([python, "-m", "pip", "install", "-q", "--disable-pip-version-check", "--no-deps",
                              ".", _pin("fastavro")], cwd=src, env=env, capture_output=True, text=True, timeout=240)
    assert install.returncode == 0, install.stdout + install.stderr

    record = payment("img-1", channel="UPI_QR", branch_ifsc="SBIN0001234", purpose="BILL_ENERGY")
    assert not tmp_path.is_relative_to(ROOT)
    check = subprocess.run([python, "-I", "-c", CHECK], cwd=tmp_path, env=env, input=json.dumps(record),
                           capture_output=True, text=True, timeout=60)
    assert check.returncode == 0, check.stderr
    out = json.loads(check.stdout)

    package = Path(out["module"]).parent
    assert package.is_relative_to(venv), f"imported {out['module']}, not the installed copy"
    assert sorted(Path(p).name for p in out["schemas"]) == sorted(p.name for p in (ROOT / "schemas").glob("*.avsc"))
    assert all(Path(p).is_relative_to(package) for p in out["schemas"]), out["schemas"]
    assert out["decoded"] == record
    assert bytes.fromhex(out["encoded"]) == codec_for("PaymentEvent").encode(record), "the image's schema differs"
    # Every module of the source is in the installed package (a package missing from pyproject is not).
    source = {p.relative_to(ROOT / "streams") for p in (ROOT / "streams").rglob("*.py")}
    assert source <= {p.relative_to(package) for p in package.rglob("*.py")}
