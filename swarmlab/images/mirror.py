"""Find the Debian mirror and suite this machine's apt already uses.

The base root filesystems are built with debootstrap from the same archive apt
uses here, read at run time so that no mirror host is ever written into the repo.
Both apt formats are understood: deb822 ``*.sources`` files and one-line
``sources.list`` entries. ``SWARMLAB_APT_MIRROR`` / ``SWARMLAB_APT_SUITE`` override.
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

APT_DIR = Path("/etc/apt")
DEFAULT_KEYRING = "/usr/share/keyrings/debian-archive-keyring.gpg"


@dataclass(frozen=True)
class AptSource:
    uri: str
    suites: tuple[str, ...]
    components: tuple[str, ...]
    signed_by: str | None = None


@dataclass(frozen=True)
class Mirror:
    uri: str
    suite: str
    keyring: str | None


class NoMirrorError(RuntimeError):
    pass


def parse_deb822(text: str) -> list[AptSource]:
    """Parse a deb822 ``.sources`` file: stanzas separated by blank lines."""
    sources = []
    for stanza in text.split("\n\n"):
        fields: dict[str, str] = {}
        for line in stanza.splitlines():
            if not line.strip() or line.lstrip().startswith("#") or line[0].isspace():
                continue
            key, _, value = line.partition(":")
            fields[key.strip().lower()] = value.strip()
        if "deb" not in fields.get("types", "").split() or fields.get("enabled") == "no":
            continue
        for uri in fields.get("uris", "").split():
            sources.append(AptSource(uri, tuple(fields.get("suites", "").split()),
                                     tuple(fields.get("components", "").split()),
                                     fields.get("signed-by")))
    return sources


_ONE_LINE = re.compile(r"^deb\s+(?:\[(?P<opts>[^\]]*)\]\s+)?(?P<uri>\S+)\s+(?P<suite>\S+)\s*(?P<comps>.*)$")


def parse_one_line(text: str) -> list[AptSource]:
    """Parse ``deb [options] URI SUITE COMPONENT...`` lines."""
    sources = []
    for line in text.splitlines():
        match = _ONE_LINE.match(line.split("#", 1)[0].strip())
        if not match:
            continue
        options = dict(o.partition("=")[::2] for o in (match["opts"] or "").split())
        sources.append(AptSource(match["uri"], (match["suite"],),
                                 tuple(match["comps"].split()), options.get("signed-by")))
    return sources


def choose_mirror(sources: list[AptSource]) -> Mirror:
    """Pick the main archive: a plain suite (no ``-updates``/``-security``) with ``main``."""
    for source in sources:
        if "security" in source.uri:
            continue
        for suite in source.suites:
            if "-" not in suite and "/" not in suite and "main" in source.components:
                return Mirror(source.uri, suite, source.signed_by)
    raise NoMirrorError(
        "no Debian archive with a plain suite and 'main' found in the apt sources; "
        "set SWARMLAB_APT_MIRROR and SWARMLAB_APT_SUITE")


def read_apt_sources(apt_dir: Path = APT_DIR) -> list[AptSource]:
    sources: list[AptSource] = []
    main_list = apt_dir / "sources.list"
    if main_list.is_file():
        sources += parse_one_line(main_list.read_text())
    parts = apt_dir / "sources.list.d"
    if parts.is_dir():
        for path in sorted(parts.iterdir()):
            if path.suffix == ".sources":
                sources += parse_deb822(path.read_text())
            elif path.suffix == ".list":
                sources += parse_one_line(path.read_text())
    return sources


def host_mirror(apt_dir: Path = APT_DIR) -> Mirror:
    """The mirror to debootstrap from, as this machine's apt configuration says."""
    uri, suite = os.environ.get("SWARMLAB_APT_MIRROR"), os.environ.get("SWARMLAB_APT_SUITE")
    if uri and suite:
        return Mirror(uri, suite, None)
    mirror = choose_mirror(read_apt_sources(apt_dir))
    keyring = mirror.keyring if mirror.keyring and Path(mirror.keyring).is_file() else None
    if keyring is None and Path(DEFAULT_KEYRING).is_file():
        keyring = DEFAULT_KEYRING
    return Mirror(uri or mirror.uri, suite or mirror.suite, keyring)
