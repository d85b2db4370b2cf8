"""Scenarios replayed on the simulator, for the labs' animations and widgets."""
from .raft import (
    SCENARIOS, Mark, ScenarioRun, first_election, kill_the_leader, log_replication,
    partition_minority, run, split_vote,
)

__all__ = [
    "SCENARIOS", "Mark", "ScenarioRun", "first_election", "kill_the_leader",
    "log_replication", "partition_minority", "run", "split_vote",
]
