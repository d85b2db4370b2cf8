"""Compare typed commands the way Docker reads them, not character by character.

`parse("docker service update --replicas=8 myservice")` and
`parse("swarmlab service update myservice --replicas 8")` give the same
`ParsedCommand`: the program (`docker` or `swarmlab`, with swarmlab's global
`--lab`/`--node` options) and a shell prompt are dropped, long and short
option spellings are merged (`-p` = `--publish`), `--opt=value` equals
`--opt value`, options may come in any order, and values are normalised where
Docker accepts several spellings of one thing (`8080:80` and
`published=8080,target=80`; `nginx` and `nginx:latest`; `--secret-add TOKEN`
and `--secret-add source=TOKEN`).
"""
from __future__ import annotations

import re
import shlex
from dataclasses import dataclass

SHORT = {"-p": "--publish", "-q": "--quiet", "-c": "--compose-file", "-f": "--format",
         "-d": "--detach", "-e": "--env", "-l": "--label", "-t": "--tty", "-i": "--interactive"}
#: options that take no value; every other option takes one
FLAGS = {"--quiet", "--detach", "--force", "--rollback", "--insecure", "--rotate",
         "--interactive", "--tty", "--help", "--all", "--no-trunc", "--pretty",
         "--with-registry-auth"}
#: swarmlab's own global options, placed before the subcommand
SWARMLAB_GLOBALS = {"--lab", "--node"}
_PROMPT = re.compile(r"^(@[\w.-]+)?[$#]$")


class CommandError(ValueError):
    """The text is not a command at all (empty, unbalanced quotes)."""


@dataclass(frozen=True, slots=True)
class ParsedCommand:
    words: tuple[str, ...]  # subcommands and positional arguments, in order
    options: frozenset[tuple[str, str]]  # (long name, normalised value or "")

    def option_names(self) -> set[str]:
        return {name for name, _ in self.options}

    def without(self, names: set[str]) -> "ParsedCommand":
        return ParsedCommand(self.words, frozenset(o for o in self.options if o[0] not in names))


def parse(text: str) -> ParsedCommand:
    try:
        tokens = shlex.split(text.strip())
    except ValueError as e:
        raise CommandError(str(e)) from None
    while tokens and _PROMPT.match(tokens[0]):
        tokens = tokens[1:]
    if tokens[:1] == ["sudo"]:
        tokens = tokens[1:]
    if tokens[:1] == ["swarmlab"]:
        tokens = _drop_globals(tokens[1:])
    elif tokens[:1] == ["docker"]:
        tokens = tokens[1:]
    if not tokens:
        raise CommandError("no command given")
    return _split(tokens)


def _drop_globals(tokens: list[str]) -> list[str]:
    while tokens and tokens[0].split("=")[0] in SWARMLAB_GLOBALS:
        tokens = tokens[1:] if "=" in tokens[0] else tokens[2:]
    return tokens


def _split(tokens: list[str]) -> ParsedCommand:
    words: list[str] = []
    options: set[tuple[str, str]] = set()
    k = 0
    while k < len(tokens):
        tok = tokens[k]
        k += 1
        if not tok.startswith("-") or tok == "-":
            words.append(_word(tok))
            continue
        name, eq, value = tok.partition("=")
        name = SHORT.get(name, name)
        if not eq and name not in FLAGS and k < len(tokens):
            value, k = tokens[k], k + 1
        options.add((name, normalise(name, value)))
    return ParsedCommand(tuple(words), frozenset(options))


def _word(tok: str) -> str:
    return tok[: -len(":latest")] if tok.endswith(":latest") else tok


def normalise(name: str, value: str) -> str:
    """One spelling for values Docker reads the same way."""
    if name == "--publish":
        return _publish(value)
    if name in ("--secret-add", "--secret", "--config-add", "--config"):
        return _source(value)
    if name in ("--replicas", "--update-parallelism") and value.strip().isdigit():
        return str(int(value))
    if name == "--image":
        return _word(value)
    return value


def _publish(value: str) -> str:
    if "=" not in value:
        return value.removesuffix("/tcp")
    kv = dict(p.split("=", 1) for p in value.split(",") if "=" in p)
    if kv.get("protocol", "tcp") != "tcp" or kv.get("mode", "ingress") != "ingress":
        return value
    return f"{kv.get('published', '')}:{kv.get('target', '')}"


def _source(value: str) -> str:
    if "=" not in value:
        return value
    kv = dict(p.split("=", 1) for p in value.split(",") if "=" in p)
    src = kv.get("source", kv.get("src", ""))
    if set(kv) <= {"source", "src", "target"} and kv.get("target", src) == src:
        return src
    return value


def same_command(answer: str, form: str, allow_extra: set[str] = frozenset()) -> bool:
    """True when `answer` is `form` up to spelling; options named in `allow_extra`
    (long names, e.g. {"--name"}) may be added to the answer."""
    try:
        a, f = parse(answer), parse(form)
    except CommandError:
        return False
    return a.without(set(allow_extra) - f.option_names()) == f
