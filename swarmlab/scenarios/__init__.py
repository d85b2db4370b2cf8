"""Scenarios replayed on the simulator, for the labs' animations and widgets."""
from .raft import (
    SCENARIOS, Fault, Mark, ScenarioRun, first_election, kill_the_leader, log_replication,
    partition_minority, rerun, run, split_vote,
)

__all__ = [
    "SCENARIOS", "Fault", "Mark", "ScenarioRun", "first_election", "kill_the_leader",
    "log_replication", "partition_minority", "rerun", "run", "split_vote",
]
