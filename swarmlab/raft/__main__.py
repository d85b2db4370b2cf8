"""`python -m swarmlab.raft ...` runs one manager process (see swarmlab.raft.server)."""
from .server import main

main()
