"""The wheels an offline node needs: langarith's requirements, closed over their own, at the versions
installed here (the stack the tests ran on), less torch and what the node already has at a fitting version;
fetched for the node's Python and platform.

torch is never bundled: a GPU node has its own build for its driver. A package the node has at an unknown
version is trusted when our requirements only bound it from below; `node.py` checks every requirement on the
node after the install either way.
"""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, distribution
from pathlib import Path

from packaging.markers import default_environment
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name, parse_wheel_filename

from langarith.offline import OfflineError

ROOT = "langarith"
NEVER = {"torch"}  # the node's own build; its dependencies are the node's business
PLATFORMS = ("manylinux_2_28_x86_64", "manylinux_2_27_x86_64", "manylinux_2_24_x86_64", "manylinux_2_17_x86_64",
             "manylinux2014_x86_64", "manylinux1_x86_64")


@dataclass
class Wheel:
    name: str  # canonical
    version: str
    requires: str  # every specifier our closure puts on it, joined ("" when none)
    file: str | None = None
    always: bool = False  # installed even where the node has it (langarith itself)

    def record(self) -> dict[str, object]:
        return {"name": self.name, "version": self.version, "requires": self.requires, "file": self.file,
                "always": self.always}


def target_environment(python_version: str, platform: str) -> dict[str, str]:
    """Marker values of the node (for requirements such as `; python_version < "3.11"`)."""
    env = dict(default_environment())
    machine = "aarch64" if "aarch64" in platform else "x86_64"
    env.update(python_version=python_version, python_full_version=f"{python_version}.0", sys_platform="linux",
               platform_system="Linux", platform_machine=machine, os_name="posix", implementation_name="cpython",
               platform_python_implementation="CPython")
    return env


def closure(env: dict[str, str], root: str = ROOT) -> dict[str, Wheel]:
    """`root` and everything it requires (under the node's markers, no extras), at the installed versions."""
    found: dict[str, Wheel] = {}
    specs: dict[str, list[str]] = {}
    todo = [root]
    while todo:
        name = canonicalize_name(todo.pop())
        if name in found or name in NEVER:
            continue
        try:
            dist = distribution(name)
        except PackageNotFoundError as err:
            raise OfflineError(f"{name} is required but not installed here; install langarith with its "
                               "dependencies (`pip install -e .`) before bundling") from err
        found[name] = Wheel(name, dist.version, "")
        for line in dist.requires or []:
            req = Requirement(line)
            if req.marker is not None and not req.marker.evaluate({**env, "extra": ""}):
                continue
            if str(req.specifier):
                specs.setdefault(canonicalize_name(req.name), []).append(str(req.specifier))
            todo.append(req.name)
    for name, wheel in found.items():
        wheel.requires = ",".join(sorted(set(specs.get(name, []))))
    found[canonicalize_name(root)].always = True
    return found


def read_node_packages(path: Path) -> dict[str, str | None]:
    """What the node has, from `pip freeze` (name==version), `pip list` (name version) or bare names (version
    unknown) in a text file; lines starting with # are comments."""
    if not path.is_file():
        raise OfflineError(f"{path} does not exist; write the node's package list there (`python3 -m pip freeze "
                           "> node-packages.txt` on the node)")
    have: dict[str, str | None] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.split("#", 1)[0].strip()
        match = re.match(r"([A-Za-z0-9][A-Za-z0-9._-]*)\s*(?:==\s*|\s+)?([^\s;@]*)", line)
        if not match or line.startswith(("Package ", "---", "-e ")):
            continue
        have[canonicalize_name(match.group(1))] = match.group(2) or None
    return have


def needed(wheels: Iterable[Wheel], node: dict[str, str | None]) -> list[Wheel]:
    """The wheels to bundle: what the node lacks or has at a version our requirements exclude; a package at
    an unknown version is trusted only where our requirements bound it from below alone."""
    out = []
    for wheel in wheels:
        spec = SpecifierSet(wheel.requires)
        if wheel.always or wheel.name not in node:
            out.append(wheel)
            continue
        version = node[wheel.name]
        if version is None:
            if any(s.operator not in (">=", ">", "!=") for s in spec):
                out.append(wheel)
        elif not spec.contains(version, prereleases=True):
            out.append(wheel)
    return sorted(out, key=lambda w: w.name)


def fetch(wheels: list[Wheel], dest: Path, python_version: str, platforms: Iterable[str], source: Path) -> None:
    """Each wheel into `dest` (already there: kept): binaries for the node from PyPI, langarith built from
    `source`, and pure-Python packages published only as source built here."""
    dest.mkdir(parents=True, exist_ok=True)
    for wheel in wheels:
        wheel.file = _present(dest, wheel)
        if wheel.file and wheel.name == canonicalize_name(ROOT):  # the checkout changes under one version
            (dest / wheel.file).unlink()
        elif wheel.file:
            continue
        built = True
        if wheel.name == canonicalize_name(ROOT):
            _pip("wheel", "--no-deps", "--no-build-isolation", "-w", str(dest), str(source))
        else:
            tags = [a for p in platforms for a in ("--platform", p)]
            pinned = f"{wheel.name}=={wheel.version}"
            got = _pip("download", "--no-deps", "--only-binary=:all:", "--python-version", python_version,
                       "--implementation", "cp", *tags, "-d", str(dest), pinned, check=False)
            built = got.returncode != 0
            if built:  # no wheel on PyPI: build one here, which must then be pure Python
                _pip("wheel", "--no-deps", "-w", str(dest), pinned)
        wheel.file = _present(dest, wheel)
        if wheel.file is None:
            raise OfflineError(f"no wheel of {wheel.name} {wheel.version} for Python {python_version} on "
                               f"{', '.join(platforms)}; pass --platform with the node's tag")
        if built and not _pure(wheel.file):
            raise OfflineError(f"{wheel.file} was built for this machine and may not run on the node; find a "
                               "wheel for the node's Python and platform and put it in the wheelhouse")


def _present(dest: Path, wheel: Wheel) -> str | None:
    for path in sorted(dest.glob("*.whl")):
        name, version, _, _ = parse_wheel_filename(path.name)
        if name == wheel.name and str(version) == wheel.version:
            return path.name
    return None


def _pure(file: str) -> bool:
    return all(t.abi == "none" and t.platform == "any" for t in parse_wheel_filename(file)[3])


def _pip(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    proc = subprocess.run([sys.executable, "-m", "pip", *args, "--quiet", "--disable-pip-version-check"],
                          capture_output=True, text=True)
    if check and proc.returncode:
        raise OfflineError(f"pip {args[0]} {args[-1]} failed: {proc.stderr.strip()[-600:]}")
    return proc
