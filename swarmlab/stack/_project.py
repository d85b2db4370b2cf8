"""`ComposeProject`: a validated, interpolated compose file, as the loader hands it on."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ._errors import ComposeError
from ._yaml import Marks, dotted


@dataclass(frozen=True)
class ComposeProject:
    """A validated, interpolated compose file (several files merged, in order)."""

    filename: str
    workdir: str
    version: str
    config: dict
    marks: Marks = field(repr=False, compare=False)
    unsupported: tuple[str, ...] = ()
    deprecated: tuple[tuple[str, str], ...] = ()
    not_run: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()

    @property
    def services(self) -> dict[str, dict]:
        return {k: v or {} for k, v in (self.config.get("services") or {}).items()}

    def section(self, name: str) -> dict[str, dict]:
        return {k: v or {} for k, v in (self.config.get(name) or {}).items()}

    def line(self, *path: Any) -> int:
        return self.marks.line(path)

    def error(self, path: tuple, message: str) -> ComposeError:
        return ComposeError(self.filename, self.marks.line(path), dotted(path), message)
