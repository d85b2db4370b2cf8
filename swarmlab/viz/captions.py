"""A frame's caption: what happened in it and why, or, in a quiet frame, what is about to."""
from __future__ import annotations

from typing import Any

from .frames import Arrow, NodeView, node_name

#: at most this many sentences in a caption
_SENTENCES = 3


def caption(m: Any, views: tuple[NodeView, ...], arrows: tuple[Arrow, ...],
             notes: tuple[str, ...]) -> str:
    """What the frame shows, and why (see the module docstring)."""
    said = list(m.said)
    for (cand, pre), answers in m.votes.items():
        yes = [node_name(v) for v, ok, _ in answers if ok]
        no = [(node_name(v), why) for v, ok, why in answers if not ok]
        what = "pre-vote" if pre else "vote"
        if yes:
            said.append(f"{', '.join(yes)} grant{'s' if len(yes) == 1 else ''} "
                        f"{node_name(cand)} " + (f"its {what}" if len(yes) == 1
                                                 else f"their {what}s"))
        for v, why in no[:2]:
            said.append(f"{v} refuses {node_name(cand)} its {what}: {why}")
    for src, dst, typ in m.drops:
        said.append(f"the {typ} message from {node_name(src)} to {node_name(dst)} is lost")
    lost = [a for a in arrows if a.dropped]
    loss = ""
    if lost and not m.drops:
        down = sorted({a.dst for a in lost} & {n.id for n in views if n.state == "down"})
        if any(a.dst not in down for a in lost):
            loss = "the messages across the cut are lost"
        elif down:
            loss = f"messages to {', '.join(node_name(i) for i in down)} are lost: it is down"
    if not said:
        said.append(quiet(views, arrows))
    if loss and not any("across the cut" in x for x in said):
        said.insert(1, loss)
    text = "; ".join(s for s in said[:_SENTENCES] if s)
    return text[:1].upper() + text[1:] + "." if text else ""


def quiet(views: tuple[NodeView, ...], arrows: tuple[Arrow, ...]) -> str:
    """The caption of a frame where nothing changed: what is about to happen."""
    leaders = sorted((n for n in views if n.state == "leader"), key=lambda n: -n.term)
    timers = sorted((n.timer_s, n.id) for n in views if n.timer_s is not None)
    if leaders and any(a.type == "HEARTBEAT" for a in arrows):
        lead = leaders[0]
        text = (f"{node_name(lead.id)}, the leader of term {lead.term}, sends heartbeats: "
                f"each one restarts its followers' election timers")
        return text
    if timers:
        left, i = timers[0]
        if leaders:
            return (f"{node_name(leaders[0].id)} leads term {leaders[0].term}; until its next "
                    f"heartbeat the election timers run down ({node_name(i)}'s has "
                    f"{left:.2f} s left)")
        return (f"no leader is heard: the election timers run down; {node_name(i)}'s runs "
                f"out first, in {left:.2f} s")
    if leaders:
        return f"{node_name(leaders[0].id)} leads term {leaders[0].term}"
    return "nothing happens"
