"""The Go row of ``compare``: ``reference/go`` built once, cached, and run as a round.

``reference/go`` is the same probe and worker pool in Go (goroutines, a channel of jobs,
``errgroup`` with ``SetLimit`` and a weighted ``semaphore`` from ``golang.org/x/sync``,
``net/http`` under one context deadline per probe). Its ``round`` mode speaks the
protocol of :mod:`patterns.probe.compare.round` (a JSON request on stdin, one JSON line
out, with the same keys), so ``compare`` runs it exactly as it runs a Python round: a
fresh process per round. :func:`round_command` is that process's command line.

The binary is built with the machine's ``go`` into a cache folder named by a hash of the
sources and of the toolchain (``$XDG_CACHE_HOME/patterns/go/HASH/``, by default under
``~/.cache``), so it is built once and again only when a source file or ``go`` changes.
Go counterpart: ``go run``, which builds into Go's own cache the same way, and
``go build -o``.

The build never downloads anything (``GOPROXY=off``). ``golang.org/x/sync`` comes from
Debian's package ``golang-golang-x-sync-dev``, whose sources sit in the standard Debian
Go path ``/usr/share/gocode/src``: the build runs with a copy of ``go.mod`` that adds a
``replace`` pointing there (``go build -modfile``), and ``reference/go/go.mod`` itself
stays the plain one that ``go build`` uses anywhere. Without Debian's copy, a module
cache that already holds the version ``go.mod`` requires (``go mod download`` run once
with a network) works as well.

Where Go cannot be had (no ``go``, no x/sync, a wheel installed without
``reference/go``, or sources that do not build) :class:`GoUnavailable` says so in one
line, and how to mend it.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

__all__ = ["DEBIAN_GOCODE", "SOURCE", "GoBuildFailed", "GoUnavailable", "build",
           "go_command", "round_command"]

SOURCE = Path(__file__).resolve().parents[3] / "reference" / "go"
"""The Go sources: ``reference/go`` at the top of the repository (missing in a wheel)."""

DEBIAN_GOCODE = Path("/usr/share/gocode/src")
"""Where Debian's ``golang-*-dev`` packages put Go sources (x/sync among them)."""

INSTALL = "apt-get install golang-go golang-golang-x-sync-dev"
X_SYNC = "golang.org/x/sync"
BINARY = "probe.exe" if os.name == "nt" else "probe"
BUILD_LIMIT_S = 600.0  # a first build compiles the standard library: slow, not endless


class GoUnavailable(Exception):
    """Go cannot be run here; ``str(exc)`` is one line saying why and how to get it:
    ``no Go toolchain: apt-get install golang-go golang-golang-x-sync-dev``."""


class GoBuildFailed(GoUnavailable):
    """The toolchain is there but ``reference/go`` did not build: the message is go's
    first line of complaint (a file, a line, what is wrong)."""


@dataclass(frozen=True, slots=True)
class _Toolchain:
    go: str  # the go command
    modfile: Path  # the go.mod the build uses (with Debian's replace, if any)
    env: dict[str, str]


def round_command() -> list[str]:
    """The command line of one Go round: ``[binary, "round"]``, building the binary
    first if the cache has none for these sources. :class:`GoUnavailable` if Go
    cannot be had, :class:`GoBuildFailed` (one of them) if the sources do not build."""
    return [str(build()), "round"]


def build() -> Path:
    """The binary built from :data:`SOURCE`, from the cache or built now. Safe to call
    from several processes at once: each builds to a name of its own and renames it
    into place, and a rename replaces a file whole (the same file, whoever is last)."""
    toolchain = _toolchain()
    binary = toolchain.modfile.parent / BINARY
    if binary.exists():
        return binary
    partial = binary.with_name(f"{BINARY}.{os.getpid()}.partial")
    argv = [toolchain.go, "build", f"-modfile={toolchain.modfile}", "-trimpath",
            "-o", str(partial), "."]
    try:
        done = subprocess.run(argv, cwd=SOURCE, env=toolchain.env, capture_output=True,
                              text=True, timeout=BUILD_LIMIT_S, check=False)
    except subprocess.TimeoutExpired:
        raise GoBuildFailed(f"go build of {SOURCE} took over {BUILD_LIMIT_S:.0f} s") from None
    if done.returncode != 0:
        partial.unlink(missing_ok=True)
        raise GoBuildFailed(f"reference/go does not build: {_first_line(done.stderr)}")
    os.replace(partial, binary)
    return binary


def go_command(*args: str) -> tuple[list[str], dict[str, str]]:
    """``go ARGS`` as the build runs it, offline and with the same ``go.mod``: the
    command line and environment to run in :data:`SOURCE` (``args[0]`` is the
    subcommand: ``go_command("test", "-race", "./...")``). :class:`GoUnavailable` as
    for :func:`round_command`."""
    if not args:
        raise ValueError("go_command needs a subcommand, as in go_command('vet', '.')")
    toolchain = _toolchain()
    return [toolchain.go, args[0], f"-modfile={toolchain.modfile}", *args[1:]], toolchain.env


def _toolchain() -> _Toolchain:
    """Find go and x/sync, and write the build's go.mod into the cache folder of these
    sources; every "how to get it" message is raised here."""
    if not (SOURCE / "go.mod").is_file():
        raise GoUnavailable(f"no Go sources at {SOURCE} (they are in the repository, "
                            f"not in the installed package): run from a clone")
    go = shutil.which("go")
    if go is None:
        raise GoUnavailable(f"no Go toolchain: {INSTALL}")
    env = {**os.environ, "GOPROXY": "off", "GOFLAGS": "-mod=mod", "GO111MODULE": "on",
           "GOWORK": "off", "GOTOOLCHAIN": "local"}
    try:
        version = subprocess.run([go, "version"], env=env, capture_output=True, text=True,
                                 timeout=60, check=True).stdout.strip()
    except (OSError, subprocess.SubprocessError) as exc:
        raise GoUnavailable(f"{go} does not run ({exc}): {INSTALL}") from None
    go_mod = (SOURCE / "go.mod").read_text(encoding="utf-8")
    go_mod += _x_sync_replace(go, env, go_mod)
    folder = _cache_root() / _source_hash(version, go_mod)
    folder.mkdir(parents=True, exist_ok=True)
    modfile = folder / "go.mod"
    # go reads go.sum beside the go.mod it is given.
    for path, text in ((modfile, go_mod),
                       (folder / "go.sum", (SOURCE / "go.sum").read_text(encoding="utf-8"))):
        if not path.exists():
            partial = path.with_name(f"{path.name}.{os.getpid()}.partial")
            partial.write_text(text, encoding="utf-8")
            os.replace(partial, path)
    return _Toolchain(go, modfile, env)


def _x_sync_replace(go: str, env: dict[str, str], go_mod: str) -> str:
    """The ``replace`` line that points x/sync at Debian's copy, or ``""`` where the
    module cache already holds the version go.mod requires."""
    debian = DEBIAN_GOCODE / X_SYNC
    if (debian / "go.mod").is_file():
        return f"\nreplace {X_SYNC} => {debian}\n"
    required = re.search(rf"^\s*(?:require\s+)?{re.escape(X_SYNC)}\s+(\S+)", go_mod, re.M)
    cache = subprocess.run([go, "env", "GOMODCACHE"], env=env, capture_output=True,
                           text=True, check=False).stdout.strip()
    if required and cache and (Path(cache) / f"{X_SYNC}@{required[1]}").is_dir():
        return ""
    raise GoUnavailable(f"no {X_SYNC} for Go: {INSTALL}")


def _cache_root() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "patterns" / "go"


def _source_hash(version: str, go_mod: str) -> str:
    """A hash of what the binary is made of: the Go sources (tests aside), the go.mod
    the build uses and the toolchain's version."""
    digest = hashlib.sha256(f"{version}\n{go_mod}".encode())
    for path in sorted(SOURCE.iterdir()):
        if (path.suffix == ".go" and not path.name.endswith("_test.go")) or path.name == "go.sum":
            digest.update(f"\0{path.name}\0".encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def _first_line(stderr: str) -> str:
    """go's first line of complaint, without the ``# package`` header it prints."""
    for line in stderr.splitlines():
        if line.strip() and not line.startswith("#"):
            return line.strip()
    return "go build failed and said nothing"
