"""A Dockerfile stage's files, assembled the way Docker would, with no Docker engine.

No engine can run here, yet the image must be checked as it is built: what the build stage
sees is decided by the ``.dockerignore`` filter and the stage's COPY instructions, and a file
missing from either (or a symlink whose target is) is missing from the image. This module
reproduces those two steps, and only what this repository's Dockerfile uses; anything else
raises ``NotModelled`` rather than being guessed at.

``Dockerignore`` follows moby/patternmatcher, which BuildKit filters the context with: one
pattern a line, ``#`` comment lines and blank lines skipped, patterns relative to the context
root (a leading ``/`` dropped, cleaned like Go's ``filepath.Clean``); ``*`` and ``?`` stay
within one path segment, ``**`` spans any number of them; a pattern also matches every path
under a directory it matches; ``!`` re-admits, and the last matching line wins.

``assemble`` follows BuildKit's COPY: sources are relative to the context; a directory source
copies its contents (not itself) into the destination; a file goes into the destination if
that ends with ``/`` (or already is a directory), else to that path; a relative destination is
relative to WORKDIR; symlinks inside a copied directory are copied as symlinks, not followed.
Empty directories are not reproduced.
"""

from __future__ import annotations

import os
import posixpath
import re
import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

__all__ = ["BuildStage", "Dockerignore", "NotModelled", "assemble", "dangling_symlinks"]


class NotModelled(Exception):
    """The Dockerfile uses something this module does not reproduce: extend it, don't guess."""


def _compile(pattern: str) -> Callable[[str], bool]:
    """One cleaned pattern as a predicate on a slash-separated path.

    Mirrors patternmatcher's compile(), whose exact, prefix and suffix shortcuts are part of
    the semantics (``**foo`` matches ``barfoo``), not only an optimisation.
    """
    regex, kind, i, first = "", "exact", 0, True
    while i < len(pattern):
        ch = pattern[i]
        i += 1
        if ch == "*" and pattern[i : i + 1] == "*":
            i += 1
            if pattern[i : i + 1] == "/":
                i += 1
            if i < len(pattern):
                regex, kind = regex + "(.*/)?", "regexp"
            elif kind == "exact":
                kind = "prefix"
            else:
                regex, kind = regex + ".*", "regexp"
            if first:
                kind = "suffix"
        elif ch == "*":
            regex, kind = regex + "[^/]*", "regexp"
        elif ch == "?":
            regex, kind = regex + "[^/]", "regexp"
        elif ch in ".+()|{}$":
            regex += "\\" + ch
        elif ch == "\\":
            if i < len(pattern):
                regex, kind = regex + re.escape(pattern[i]), "regexp"
                i += 1
            else:
                regex += "\\\\"
        elif ch in "[]":
            regex, kind = regex + ch, "regexp"
        else:
            regex += ch
        first = False
    if kind == "exact":
        return lambda path: path == pattern
    if kind == "prefix":
        return lambda path: path.startswith(pattern[:-2])
    if kind == "suffix":
        suffix = pattern[2:]
        return lambda path: path.endswith(suffix) or (suffix.startswith("/") and path == suffix[1:])
    compiled = re.compile(regex + r"\Z")
    return lambda path: compiled.match(path) is not None


@dataclass(frozen=True)
class _Pattern:
    exclusion: bool
    match: Callable[[str], bool]


@dataclass(frozen=True)
class Dockerignore:
    """The patterns of one ``.dockerignore`` file, in order."""

    lines: tuple[str, ...]
    _patterns: tuple[_Pattern, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        patterns = []
        for line in self.lines:
            if line.startswith("#") or not line.strip():
                continue
            text = line.strip()
            exclusion = text.startswith("!")
            text = text[1:].strip() if exclusion else text
            if not text:
                raise ValueError(f'illegal exclusion pattern: "{line}"')
            text = posixpath.normpath(text)
            if len(text) > 1 and text.startswith("/"):
                text = text[1:]
            patterns.append(_Pattern(exclusion, _compile(text)))
        object.__setattr__(self, "_patterns", tuple(patterns))

    @classmethod
    def read(cls, path: Path) -> Dockerignore:
        return cls(tuple(path.read_text(encoding="utf-8-sig").splitlines()))

    def admits(self, path: str) -> bool:
        """Whether the file at ``path`` (relative to the context root, slash-separated) is sent."""
        path = posixpath.normpath(path)
        parents = path.split("/")[:-1]
        excluded = False
        for pattern in self._patterns:
            if pattern.exclusion != excluded:
                continue  # cannot change the outcome
            if pattern.match(path) or any(pattern.match("/".join(parents[: n + 1])) for n in range(len(parents))):
                excluded = not pattern.exclusion
        return not excluded


@dataclass
class BuildStage:
    """What a stage's instructions left in the image tree: the RUN commands, each with its WORKDIR."""

    runs: list[tuple[PurePosixPath, str]] = field(default_factory=list)


def _instructions(dockerfile: Path) -> Iterator[tuple[str, str]]:
    """(INSTRUCTION, arguments) in order, continuation lines joined, comments dropped."""
    pending = ""
    for line in dockerfile.read_text(encoding="utf-8").splitlines():
        if re.match(r"\s*#\s*escape\s*=", line):
            raise NotModelled("a parser escape directive")
        if line.lstrip().startswith("#") or not line.strip():
            continue
        if line.rstrip().endswith("\\"):
            pending += line.rstrip()[:-1] + " "
            continue
        keyword, _, args = (pending + line).strip().partition(" ")
        pending = ""
        yield keyword.upper(), args.strip()


def _stage(dockerfile: Path, name: str) -> list[tuple[str, str]]:
    """The instructions of stage ``name`` (``FROM ... AS name``), without its FROM."""
    stages: dict[str, list[tuple[str, str]]] = {}
    current: list[tuple[str, str]] | None = None
    for keyword, args in _instructions(dockerfile):
        if keyword == "FROM":
            words = [w for w in args.split() if not w.startswith("--")]  # e.g. --platform
            current = stages.setdefault(words[2], []) if len(words) == 3 and words[1].upper() == "AS" else []
        elif current is None:
            raise NotModelled(f"{keyword} before the first FROM")
        else:
            current.append((keyword, args))
    if name not in stages:
        raise KeyError(f"{dockerfile} has no stage named {name!r}")
    return stages[name]


def _leaves(context: Path, source: str, ignore: Dockerignore) -> Iterator[str]:
    """The admitted files and symlinks under directory ``source``, relative to the context."""
    for root, dirs, files in os.walk(context / source):
        for name in [*files, *(d for d in dirs if (Path(root) / d).is_symlink())]:
            rel = (Path(root) / name).relative_to(context).as_posix()
            if ignore.admits(rel):
                yield rel


def _place(context: Path, rel: str, target: Path) -> None:
    """Copy one context entry to ``target``: a symlink as a symlink, as COPY does."""
    target.parent.mkdir(parents=True, exist_ok=True)
    source = context / rel
    if source.is_symlink():
        target.unlink(missing_ok=True)
        os.symlink(os.readlink(source), target)
    else:
        shutil.copy2(source, target)


def _copy(context: Path, args: str, workdir: PurePosixPath, ignore: Dockerignore, image: Path) -> None:
    if args.startswith("["):
        raise NotModelled(f"COPY in JSON form: {args}")
    words = args.split()
    flags = [w for w in words if w.startswith("--")]
    for flag in flags:
        if not flag.startswith(("--chown=", "--chmod=", "--link")):
            raise NotModelled(f"COPY {flag}")  # --from, --parents, --exclude change what is copied
    *sources, dest = [w for w in words if not w.startswith("--")]
    if "$" in args or any(c in s for s in sources for c in "*?["):
        raise NotModelled(f"variables or wildcards in COPY {args}")
    if len(sources) > 1 and not dest.endswith("/"):
        raise ValueError(f"COPY {args}: several sources need a destination ending in /")
    dest_path = PurePosixPath(posixpath.normpath(posixpath.join(str(workdir), dest)))
    in_image = image / dest_path.relative_to("/")
    for source in sources:
        rel = posixpath.normpath(source)
        path = context / rel
        if rel.startswith("..") or rel.startswith("/"):
            raise NotModelled(f"COPY source outside the context: {source}")
        if path.is_symlink():
            raise NotModelled(f"COPY of a symlink source: {source}")
        if path.is_dir():
            leaves = list(_leaves(context, rel, ignore))
            if not leaves:
                raise FileNotFoundError(f"COPY {source}: nothing admitted by the .dockerignore")
            for leaf in leaves:
                _place(context, leaf, in_image / PurePosixPath(leaf).relative_to(rel))
        elif path.is_file() and ignore.admits(rel):
            into_dir = dest.endswith("/") or in_image.is_dir()
            _place(context, rel, in_image / path.name if into_dir else in_image)
        else:
            raise FileNotFoundError(f"COPY {source}: not in the build context (missing or excluded by .dockerignore)")


def assemble(context: Path, dockerfile: Path, stage: str, ignore: Dockerignore, image: Path) -> BuildStage:
    """Lay out under ``image`` (standing for ``/``) what stage ``stage``'s COPY instructions copy."""
    workdir = PurePosixPath("/")
    result = BuildStage()
    for keyword, args in _stage(dockerfile, stage):
        if keyword == "WORKDIR":
            if "$" in args:
                raise NotModelled(f"WORKDIR {args}")
            workdir = PurePosixPath(posixpath.normpath(posixpath.join(str(workdir), args)))
            (image / workdir.relative_to("/")).mkdir(parents=True, exist_ok=True)
        elif keyword == "COPY":
            _copy(context, args, workdir, ignore, image)
        elif keyword == "ADD":
            raise NotModelled(f"ADD {args}")
        elif keyword == "RUN":
            result.runs.append((workdir, args))
    return result


def dangling_symlinks(image: Path) -> list[str]:
    """Symlinks under ``image`` whose target is missing from the image (resolved inside it, not on the host)."""
    root = image.resolve()
    dangling = []
    for dirpath, dirs, files in os.walk(root):
        for name in [*dirs, *files]:
            link = Path(dirpath) / name
            if not link.is_symlink():
                continue
            target = os.readlink(link)
            resolved = root / target.lstrip("/") if target.startswith("/") else link.parent / target
            real = Path(os.path.realpath(resolved))
            if not (real.exists() and real.is_relative_to(root)):
                dangling.append(f"/{link.relative_to(root).as_posix()} -> {target}")
    return sorted(dangling)
