"""The name dockerd gives a service created without one: `adjective_surname`, e.g.
`focused_turing`, picked at random (dockerd does this as it converts the Engine API's
spec for swarmkit; swarmkit itself insists on a name). Lists of our own choosing, in
the style of moby's name generator: the surnames are of scientists and engineers."""
from __future__ import annotations

import random

ADJECTIVES = (
    "admiring", "affectionate", "amazing", "awesome", "blissful", "bold", "brave", "busy",
    "charming", "clever", "compassionate", "competent", "confident", "cool", "dazzling",
    "determined", "eager", "ecstatic", "elastic", "elegant", "epic", "focused", "friendly",
    "gallant", "gifted", "goofy", "gracious", "happy", "hopeful", "inspiring", "jolly",
    "keen", "kind", "laughing", "loving", "lucid", "modest", "nice", "nifty", "nostalgic",
    "optimistic", "peaceful", "pensive", "practical", "quirky", "relaxed", "serene",
    "sharp", "stoic", "sweet", "tender", "trusting", "upbeat", "vibrant", "vigilant",
    "wizardly", "youthful", "zealous", "zen",
)

SURNAMES = (
    "agnesi", "babbage", "bardeen", "bose", "cerf", "curie", "darwin", "dijkstra",
    "einstein", "euclid", "faraday", "fermi", "feynman", "franklin", "galileo", "gauss",
    "goldberg", "hamilton", "hopper", "hypatia", "johnson", "kepler", "knuth", "lamport",
    "leavitt", "liskov", "lovelace", "maxwell", "meitner", "mendel", "morse", "newton",
    "noether", "pascal", "pasteur", "perlman", "raman", "ritchie", "shannon", "sinoussi",
    "tesla", "thompson", "torvalds", "turing", "volta", "wilson", "wozniak", "yalow",
)


def random_name(rng: random.Random | None = None) -> str:
    r = rng or random
    return f"{r.choice(ADJECTIVES)}_{r.choice(SURNAMES)}"


__all__ = ["ADJECTIVES", "SURNAMES", "random_name"]
