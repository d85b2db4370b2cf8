"""Deterministic simulation: one seed drives a virtual clock, an in-memory network and
every node, so any run replays exactly."""
