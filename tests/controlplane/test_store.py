"""The store as a deterministic state machine: versions, commands, watches, snapshots."""
import json

import pytest

from swarmlab.clock import ManualClock
from swarmlab.objects import (
    InvalidArgument, Node, NodeSpec, NotFound, SequenceError, Task, TaskState,
    TaskStatus,
)
from swarmlab.store import MemoryStore, ProposalNotApplied, decode_command


class RecordingProposer:
    """Applies at once, and keeps every command, as a Raft log would."""

    def __init__(self):
        self.log: list[bytes] = []
        self.store = None

    def propose(self, command: bytes) -> None:
        self.log.append(command)
        self.store.apply(command)


def make_store():
    p = RecordingProposer()
    s = MemoryStore(p, ManualClock(5_000_000_000), name="m1")
    p.store = s
    return s, p


def test_create_update_bumps_version_and_times():
    s, _ = make_store()
    s.update(lambda tx: tx.create(Node(id="n1", spec=NodeSpec(name="a"))))
    n = s.view().node("n1")
    assert n.version.index == 1 and n.created_at == n.updated_at == 5_000_000_000
    s.clock.advance(1)
    s.update(lambda tx: tx.update(n.replace(spec=NodeSpec(name="b"))))
    n2 = s.view().node("n1")
    assert n2.version.index == 2 and n2.spec.name == "b"
    assert n2.created_at == 5_000_000_000 and n2.updated_at == 6_000_000_000


def test_lookup_resolves_as_dockerd():
    """Full ID, then name, then ID prefix; a name or prefix matching more than one is
    ambiguous (dockerd's getNode/getService), none is not found."""
    s, _ = make_store()
    for ident, name in (("abc1", "a"), ("abc2", "dup"), ("xyz3", "dup")):
        s.update(lambda tx, i=ident, n=name: tx.create(Node(id=i, spec=NodeSpec(name=n))))
    v = s.view()
    assert v.lookup("node", "abc1").id == "abc1" and v.lookup("node", "a").id == "abc1"
    assert v.lookup("node", "xy").id == "xyz3"
    with pytest.raises(InvalidArgument, match=r"^node abc is ambiguous \(2 matches found\)$"):
        v.lookup("node", "abc")
    with pytest.raises(InvalidArgument, match=r"^node dup is ambiguous \(2 matches found\)$"):
        v.lookup("node", "dup")
    with pytest.raises(NotFound, match="^node q not found$"):
        v.lookup("node", "q")


def test_stale_version_is_refused_and_changes_nothing():
    s, _ = make_store()
    s.update(lambda tx: tx.create(Node(id="n1")))
    stale = s.view().node("n1")
    s.update(lambda tx: tx.update(stale.replace(spec=NodeSpec(name="first"))))
    with pytest.raises(SequenceError, match="update out of sequence"):
        s.update(lambda tx: tx.update(stale.replace(spec=NodeSpec(name="second"))))
    assert s.view().node("n1").spec.name == "first" and s.index == 2


def test_apply_refuses_a_stale_command_atomically():
    """Two writers proposed from the same version: the second, applied later, is refused
    whole on every replica (the check runs again at apply time)."""
    s, p = make_store()
    s.update(lambda tx: tx.create(Node(id="n1")))
    s.update(lambda tx: tx.create(Node(id="n2")))
    n1, n2 = s.view().node("n1"), s.view().node("n2")
    s.update(lambda tx: tx.update(n1.replace(spec=NodeSpec(name="x"))))
    # craft a command as another manager would have, from the older view
    from swarmlab.store import Action, Command, encode_command
    late = encode_command(Command("m2-1", 0, (
        Action("update", "node", "n2", n2.replace(spec=NodeSpec(name="y")), n2.version.index),
        Action("update", "node", "n1", n1.replace(spec=NodeSpec(name="z")), n1.version.index))))
    before = s.snapshot()
    err = s.apply(late)
    assert isinstance(err, SequenceError)
    assert s.snapshot() == before


def test_unknown_object_and_backward_task_state_refused():
    s, _ = make_store()
    with pytest.raises(NotFound):
        s.update(lambda tx: tx.update(Node(id="ghost")))
    s.update(lambda tx: tx.create(Task(id="t1", status=TaskStatus(state=TaskState.RUNNING))))
    t = s.view().task("t1")
    with pytest.raises(InvalidArgument, match="backward from running to pending"):
        s.update(lambda tx: tx.update(t.replace(status=TaskStatus(state=TaskState.PENDING))))
    with pytest.raises(InvalidArgument, match="desired state cannot move backward"):
        s.update(lambda tx: tx.update(t.replace(desired_state=TaskState.READY)))
    assert s.view().task("t1").status.state == TaskState.RUNNING


def test_commands_replay_identically_on_another_replica():
    s, p = make_store()
    s.update(lambda tx: tx.create(Node(id="n1")))
    s.update(lambda tx: [tx.create(Task(id=f"t{i}", node_id="n1")) for i in range(3)])
    t = s.view().task("t1")
    s.update(lambda tx: tx.remove(t))
    follower = MemoryStore(name="m2")
    for cmd in p.log:
        assert follower.apply(cmd) is None
    assert follower.snapshot() == s.snapshot()
    doc = json.loads(p.log[1])
    assert doc["actions"][0]["object"]["NodeID"] == "n1"
    assert decode_command(p.log[2]).actions[0].op == "remove"


def test_watch_stream_reports_changes_in_order():
    s, _ = make_store()
    w = s.watch({"task"})
    seen = []
    s.subscribe(lambda ev: seen.append((ev.action, ev.kind)))
    s.update(lambda tx: tx.create(Node(id="n1")))
    s.update(lambda tx: tx.create(Task(id="t1")))
    t = s.view().task("t1")
    s.update(lambda tx: tx.update(t.replace(desired_state=TaskState.SHUTDOWN)))
    s.update(lambda tx: tx.remove(s.view().task("t1")))
    events = w.poll()
    assert [(e.action, e.object.id) for e in events] == [
        ("create", "t1"), ("update", "t1"), ("remove", "t1")]
    assert events[1].old.desired_state == TaskState.RUNNING
    assert seen[0] == ("create", "node") and w.poll() == []


def test_snapshot_restore_round_trip():
    s, _ = make_store()
    s.update(lambda tx: tx.create(Node(id="n1", spec=NodeSpec(labels={"dc": "east"}))))
    s.update(lambda tx: tx.create(Task(id="t1", node_id="n1", slot=3)))
    data = s.snapshot()
    other = MemoryStore(name="m3")
    other.restore(data)
    assert other.snapshot() == data and other.index == s.index
    assert other.view().node("n1").spec.labels == {"dc": "east"}
    # the restored store keeps applying commands from the same point
    t = other.view().task("t1")
    other.update(lambda tx: tx.update(t.replace(desired_state=TaskState.SHUTDOWN)))
    assert other.view().task("t1").version.index == s.index + 1


def test_a_proposer_that_does_not_apply_is_an_error():
    class Lost:
        def propose(self, command):
            pass  # e.g. leadership lost before the entry committed
    s = MemoryStore(Lost())
    with pytest.raises(ProposalNotApplied):
        s.update(lambda tx: tx.create(Node(id="n1")))
    assert s.view().node("n1") is None


def test_reads_are_isolated_from_later_writes():
    s, _ = make_store()
    s.update(lambda tx: tx.create(Node(id="n1")))
    view = s.view()
    s.update(lambda tx: tx.create(Node(id="n2")))
    assert [n.id for n in view.nodes()] == ["n1"]
    assert [n.id for n in s.view().nodes()] == ["n1", "n2"]


def test_the_store_is_rafts_state_machine_applying_commands_only():
    from swarmlab.raft.messages import Entry, EntryType, Snapshot
    from swarmlab.store import COMMAND, StoreMachine
    assert COMMAND == EntryType.NORMAL  # the store reads Raft's entries by shape
    source, p = make_store()
    for k in range(3):
        source.update(lambda tx, k=k: tx.create(Node(id=f"n{k}")))
    replica = MemoryStore(name="m2")
    sm = StoreMachine(replica, snapshot_every=2)
    sm.apply(Entry(1, 1, p.log[0]))
    sm.apply(Entry(1, 2, b"conf", EntryType.CONF_CHANGE))  # membership: not the store's
    assert sm.snapshot() is None
    sm.apply(Entry(1, 3, p.log[1]))
    index, image = sm.snapshot()  # two commands applied: an image up to the last entry
    assert index == 3 and sm.snapshot() is None
    sm.apply(Entry(1, 4, p.log[2]))
    fresh = StoreMachine(MemoryStore(name="m3"), snapshot_every=2)
    fresh.restore(Snapshot(index, 1, (), image))
    assert fresh.index == 3 and [n.id for n in fresh.store.view().nodes()] == ["n0", "n1"]
    assert [n.id for n in replica.view().nodes()] == ["n0", "n1", "n2"]


def test_a_store_on_its_own_thread_is_handed_entries_and_compacts_there():
    from swarmlab.raft.messages import Entry, Snapshot
    from swarmlab.store import StoreMachine

    class Thread:
        def __init__(self):
            self.got = []

        def deliver(self, entries):
            self.got.append(("apply", [e.index for e in entries]))

        def restore(self, data, index):
            self.got.append(("restore", data, index))

    t = Thread()
    sm = StoreMachine(MemoryStore(name="m1"), snapshot_every=1, thread=t)
    sm.restore(Snapshot(7, 2, (), b"image"))
    sm.apply(Entry(2, 8, b"x"))
    assert t.got == [("restore", b"image", 7), ("apply", [8])]
    assert sm.snapshot() is None  # the thread takes its snapshots at the index it applied
    assert sm.store.index == 0  # nothing applied on the caller's thread
