"""swarmlab: a teaching lab kit for container orchestration in the style of Docker Swarm."""
__version__ = "0.1.0"
