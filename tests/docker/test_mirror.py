"""Reading the Debian mirror from apt's configuration (no Docker needed)."""
from __future__ import annotations

import pytest

from swarmlab.images.mirror import (AptSource, NoMirrorError, choose_mirror, host_mirror,
                                    parse_deb822, parse_one_line)

DEB822 = """Types: deb
# http://snapshot.example/archive/debian/20250520T000000Z
URIs: http://mirror.example/debian
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: http://mirror.example/debian-security
Suites: bookworm-security
Components: main

Types: deb-src
URIs: http://src.example/debian
Suites: bookworm
Components: main
"""


def test_deb822_picks_the_main_suite_not_updates_or_security():
    sources = parse_deb822(DEB822)
    assert [s.uri for s in sources] == ["http://mirror.example/debian",
                                        "http://mirror.example/debian-security"]
    mirror = choose_mirror(sources)
    assert (mirror.uri, mirror.suite) == ("http://mirror.example/debian", "bookworm")


def test_one_line_format_with_options():
    sources = parse_one_line("# deb http://old.example/debian buster main\n"
                             "deb [arch=amd64 signed-by=/k.gpg] http://m.example/debian "
                             "trixie main contrib\n")
    assert sources == [AptSource("http://m.example/debian", ("trixie",), ("main", "contrib"),
                                 "/k.gpg")]


def test_no_usable_source_is_an_error():
    with pytest.raises(NoMirrorError):
        choose_mirror([AptSource("http://x.example/debian", ("bookworm-updates",), ("main",))])


def test_reads_a_directory_and_honours_the_override(tmp_path, monkeypatch):
    (tmp_path / "sources.list.d").mkdir()
    (tmp_path / "sources.list.d" / "debian.sources").write_text(DEB822)
    (tmp_path / "sources.list.d" / "other.list.disabled").write_text("deb http://no/ x main\n")
    assert host_mirror(tmp_path).uri == "http://mirror.example/debian"
    monkeypatch.setenv("SWARMLAB_APT_MIRROR", "http://override.example/debian")
    monkeypatch.setenv("SWARMLAB_APT_SUITE", "trixie")
    assert (host_mirror(tmp_path).uri, host_mirror(tmp_path).suite) == (
        "http://override.example/debian", "trixie")
