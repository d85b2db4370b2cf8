"""FileStorage: durable round trips, conflicts, compaction, torn tails, and MemoryStorage as a model."""
import os
import tempfile

import pytest
from hypothesis import settings, strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from swarmlab.raft.shell.file_storage import FileStorage, read_records
from swarmlab.raft.messages import Entry, EntryType, HardState, Snapshot
from swarmlab.raft.storage import MemoryStorage


def ents(first, terms, tag=b"x"):
    return [Entry(t, first + i, tag + b"%d" % (first + i)) for i, t in enumerate(terms)]


def reopen(st_: FileStorage) -> FileStorage:
    st_.close()
    return FileStorage(st_.dir)


def test_fresh_directory_loads_nothing(tmp_path):
    assert FileStorage(tmp_path / "n1").load() is None


def test_round_trip_after_reopen(tmp_path):
    s = FileStorage(tmp_path)
    boot = Snapshot(0, 0, (1, 2, 3))
    s.save(HardState(1, 1, 0), [], boot)
    s.save(None, ents(1, [1, 1, 1]), None)
    s.save(HardState(2, 3, 2), ents(4, [2, 2], b"y"), None)
    s = reopen(s)
    st_ = s.load()
    assert st_.hard_state == HardState(2, 3, 2)
    assert st_.snapshot == boot
    assert st_.entries == ents(1, [1, 1, 1]) + ents(4, [2, 2], b"y")
    s.close()


def test_conflicting_entries_replace_the_suffix(tmp_path):
    s = FileStorage(tmp_path)
    s.save(HardState(1, 0, 0), ents(1, [1, 1, 1, 1]), None)
    s.save(HardState(3, 0, 0), ents(3, [3], b"new"), None)
    for store in (s, reopen(s)):
        assert [e.term for e in store.load().entries] == [1, 1, 3]
        assert store.load().entries[-1].data == b"new3"
    store.close()


def test_compaction_drops_the_prefix_and_shrinks_the_file(tmp_path):
    s = FileStorage(tmp_path)
    s.save(HardState(1, 1, 0), [], Snapshot(0, 0, (1,)))
    for i in range(50):
        s.save(HardState(1, 1, i), [Entry(1, i + 1, bytes(100))], None)
    size = os.path.getsize(s.log_path)
    s.compact(Snapshot(45, 1, (1,), b"state@45"))
    assert os.path.getsize(s.log_path) < size / 4
    s = reopen(s)
    st_ = s.load()
    assert st_.snapshot == Snapshot(45, 1, (1,), b"state@45")
    assert [e.index for e in st_.entries] == [46, 47, 48, 49, 50]
    assert st_.hard_state == HardState(1, 1, 49)
    s.save(None, [Entry(1, 51, b"after")], None)
    assert reopen(s).load().entries[-1] == Entry(1, 51, b"after")


def test_installed_snapshot_that_conflicts_drops_the_whole_log(tmp_path):
    s = FileStorage(tmp_path)
    s.save(HardState(1, 0, 0), ents(1, [1, 1, 1]), None)
    s.save(HardState(4, 0, 10), [], Snapshot(10, 4, (1, 2, 3), b"img"))
    st_ = reopen(s).load()
    assert st_.entries == [] and st_.snapshot.index == 10 and st_.hard_state.commit == 10


def test_crash_between_snapshot_and_log_rewrite(tmp_path):
    """The snapshot file is renamed in, the log still holds the old entries."""
    s = FileStorage(tmp_path)
    s.save(HardState(1, 1, 5), ents(1, [1] * 8), Snapshot(0, 0, (1,)))
    s.close()
    # Write only the snapshot file, as _write_snapshot would, then "crash".
    t = FileStorage(tmp_path)
    t._replace(t.snap_path, __import__("swarmlab.raft.shell.file_storage", fromlist=["x"]).encode_record(
        [5, 1, [1], b"five"]))
    t.close()
    st_ = FileStorage(tmp_path).load()
    assert st_.snapshot == Snapshot(5, 1, (1,), b"five")
    assert [e.index for e in st_.entries] == [6, 7, 8]


def test_torn_tail_at_every_byte_offset(tmp_path):
    s = FileStorage(tmp_path)
    s.save(HardState(1, 1, 0), [], Snapshot(0, 0, (1, 2)))
    s.save(HardState(1, 1, 1), ents(1, [1, 1]), None)
    before = s.load()
    good = os.path.getsize(s.log_path)
    s.save(HardState(2, 2, 2), ents(3, [2, 2, 2]), None)
    after = s.load()
    s.close()
    with open(s.log_path, "rb") as f:
        full = f.read()
    for cut in range(good, len(full) + 1):
        d = tmp_path / f"cut{cut}"
        d.mkdir()
        (d / "snapshot").write_bytes((tmp_path / "snapshot").read_bytes())
        (d / "log").write_bytes(full[:cut])
        r = FileStorage(d)
        assert r.load() == (after if cut == len(full) else before), cut
        assert os.path.getsize(d / "log") == (len(full) if cut == len(full) else good)
        r.save(None, [Entry(9, r.load().entries[-1].index + 1, b"next")], None)  # still writable
        assert reopen(r).load().entries[-1].data == b"next"
        r.close()


def test_corrupt_byte_in_the_tail_is_truncated(tmp_path):
    s = FileStorage(tmp_path)
    s.save(HardState(1, 1, 0), ents(1, [1]), None)
    good = os.path.getsize(s.log_path)
    s.save(HardState(1, 1, 1), ents(2, [1]), None)
    s.close()
    data = bytearray((tmp_path / "log").read_bytes())
    data[-3] ^= 0xFF
    (tmp_path / "log").write_bytes(bytes(data))
    st_ = FileStorage(tmp_path).load()
    assert [e.index for e in st_.entries] == [1] and st_.hard_state.commit == 0
    records, n = read_records((tmp_path / "log").read_bytes())
    assert n == good


# -- model-based: FileStorage must behave like MemoryStorage, across reopenings ---------------
class StorageMachine(RuleBasedStateMachine):
    @initialize()
    def setup(self):
        self.tmp = tempfile.TemporaryDirectory()
        self.file = FileStorage(self.tmp.name, sync=False)
        self.model = MemoryStorage()
        self.term = 1

    def teardown(self):
        self.file.close()
        self.tmp.cleanup()

    def _last(self):
        m = self.model
        return m.entries[-1].index if m.entries else m.snapshot.index

    @rule(back=st.integers(0, 4), n=st.integers(0, 4), bump=st.booleans(), with_hs=st.booleans(),
          data=st.binary(max_size=6))
    def save(self, back, n, bump, with_hs, data):
        if bump:
            self.term += 1
        first = max(self.model.snapshot.index + 1, self._last() + 1 - back)
        entries = [Entry(self.term, first + i, data, EntryType(i % 2)) for i in range(n)]
        hs = HardState(self.term, self.term % 3, min(self._last(), self.term)) if with_hs else None
        self.model.save(hs, entries, None)
        self.file.save(hs, entries, None)

    @rule(ahead=st.integers(0, 6), same_term=st.booleans())
    def install_snapshot(self, ahead, same_term):
        idx = self._last() + ahead - 3
        if idx < self.model.snapshot.index:
            return
        term = self.term
        if same_term and self.model.entries and idx > self.model.snapshot.index:
            term = self.model.entries[idx - self.model.snapshot.index - 1].term \
                if idx <= self._last() else term
        snap = Snapshot(idx, term, (1, 2, 3), b"s%d" % idx)
        hs = HardState(self.term, 0, idx)
        self.model.save(hs, [], snap)
        self.file.save(hs, [], snap)

    @precondition(lambda self: self.model.entries)
    @rule(k=st.integers(0, 10))
    def compact(self, k):
        m = self.model
        idx = m.snapshot.index + min(k, len(m.entries))
        snap = Snapshot(idx, m.entries[idx - m.snapshot.index - 1].term if idx > m.snapshot.index
                        else m.snapshot.term, (1, 2, 3), b"c%d" % idx)
        m.compact(snap)
        self.file.compact(snap)

    @rule()
    def reopen(self):
        self.file.close()
        self.file = FileStorage(self.tmp.name, sync=False)

    @invariant()
    def same_as_model(self):
        if not hasattr(self, "model"):
            return
        assert self.file.load() == self.model.load()


TestStorageMachine = StorageMachine.TestCase
TestStorageMachine.settings = settings(max_examples=60, stateful_step_count=30, deadline=None)
