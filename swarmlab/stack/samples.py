"""The sample stacks shipped with the labs (swarmlab/labs_data/stacks/)."""
from __future__ import annotations

from importlib import resources
from pathlib import Path

SAMPLES = {"vote": "vote.yml", "metrics": "metrics.yml"}


def sample_path(name: str) -> Path:
    """The compose file of sample stack `name` ("vote", "metrics")."""
    try:
        filename = SAMPLES[name]
    except KeyError:
        raise KeyError(f"no sample stack {name!r}; there are: {', '.join(SAMPLES)}") from None
    return Path(str(resources.files("swarmlab").joinpath("labs_data", "stacks", filename)))
