"""Raft's I/O shell: the asyncio server, the TCP transport, the wire codec and file storage.

The pure core (`swarmlab.raft`) knows nothing of these; the shell drives it with ticks
derived from real time and does the persisting, sending and applying its `Ready` asks for.
"""
