"""`python -m swarmlab.raft ...` runs one manager process (see swarmlab.raft.shell.server)."""
from .shell.server import main

main()
