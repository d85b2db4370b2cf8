"""The lab images: one catalog, read by both backends.

The process runtime runs an image's module as a child process; the Docker backend
bakes the same module, environment, command, port and health check into a real
image of the same name. So ``swarmlab/web:2`` behaves the same in both, and an
image not in the catalog is refused in both with Docker's own words.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Mapping


@dataclass(frozen=True)
class HealthCheck:
    """Docker's ``HEALTHCHECK`` fields (durations in seconds)."""
    test: tuple[str, ...]
    interval_s: float = 2.0
    timeout_s: float = 2.0
    retries: int = 2
    start_period_s: float = 1.0


@dataclass(frozen=True)
class ImageInfo:
    reference: str                      # "swarmlab/web:1"
    module: str                         # "swarmlab.workloads.web"
    env: Mapping[str, str] = field(default_factory=dict)
    command: tuple[str, ...] = ()       # Docker's CMD
    port: int | None = None             # Docker's EXPOSE (tcp)
    healthcheck: HealthCheck | None = None

    @property
    def repository(self) -> str:
        return self.reference.rsplit(":", 1)[0]

    @property
    def tag(self) -> str:
        return self.reference.rsplit(":", 1)[1]


class NoSuchImage(LookupError):
    """Raised for an image the lab does not have; the message is Docker's."""

    def __init__(self, reference: str):
        super().__init__(f"No such image: {reference}")
        self.reference = reference


# The probe starts a Python interpreter in the container: on a loaded machine that alone can
# take seconds, and a probe that times out counts as a failure (Docker's default timeout is
# 30 s). A broken task answers its probe at once with an error, so a roomier timeout does not
# delay finding it.
HTTP_HEALTH = HealthCheck(test=("CMD", "python3", "-m", "swarmlab.workloads.healthcheck"),
                          timeout_s=5.0)


def _image(ref: str, name: str, env: dict[str, str] | None = None, port: int | None = 80,
           health: HealthCheck | None = HTTP_HEALTH) -> ImageInfo:
    module = f"swarmlab.workloads.{name}"
    return ImageInfo(ref, module, MappingProxyType(env or {}), ("python3", "-m", module),
                     port, health)


CATALOG: Mapping[str, ImageInfo] = MappingProxyType({info.reference: info for info in (
    _image("swarmlab/web:1", "web", {"SWARMLAB_VERSION": "1"}),
    _image("swarmlab/web:2", "web", {"SWARMLAB_VERSION": "2"}),
    _image("swarmlab/web:broken", "web", {"SWARMLAB_VERSION": "broken",
                                          "SWARMLAB_BROKEN_AFTER": "3"}),
    _image("swarmlab/kv:1", "kv"),
    _image("swarmlab/worker:1", "worker", {"KV_HOST": "kv", "KV_PORT": "80"}, port=None,
           health=None),
    _image("swarmlab/vote:1", "vote", {"KV_HOST": "kv", "KV_PORT": "80"}),
    _image("swarmlab/result:1", "result", {"KV_HOST": "kv", "KV_PORT": "80"}),
)})


def normalize(reference: str) -> str:
    """``docker.io/swarmlab/web:1@sha256:..`` -> ``swarmlab/web:1``; no tag means ``latest``."""
    ref = reference.split("@", 1)[0]
    for prefix in ("docker.io/", "index.docker.io/"):
        if ref.startswith(prefix):
            ref = ref[len(prefix):]
    last = ref.rsplit("/", 1)[-1]
    return ref if ":" in last else f"{ref}:latest"


def lookup(reference: str) -> ImageInfo:
    """The lab image named ``reference``, or ``NoSuchImage`` as Docker would say it."""
    try:
        return CATALOG[normalize(reference)]
    except KeyError:
        raise NoSuchImage(normalize(reference)) from None
