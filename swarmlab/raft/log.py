"""The replicated log held in memory by the core.

Theory of operation: the log is a snapshot (everything up to `snapshot.index`,
compacted away) followed by a list of entries. `persisted` says how far the
shell has made the log durable; everything after it goes out in the next
`Ready.entries`. `committed` and `applied` are the paper's commitIndex and
lastApplied (Figure 2).
"""
from __future__ import annotations

from .messages import Entry, Snapshot


class CompactedError(LookupError):
    """The entry asked for lies inside the snapshot."""


class RaftLog:
    def __init__(self, snapshot: Snapshot, entries: list[Entry], committed: int) -> None:
        self.snapshot = snapshot
        self.entries: list[Entry] = list(entries)
        # the log is always contiguous after the snapshot
        assert not self.entries or self.entries[0].index == snapshot.index + 1
        self.committed = max(committed, snapshot.index)
        self.applied = snapshot.index
        self.persisted = self.last_index()
        self.pending_snapshot: Snapshot | None = None  # received, not yet persisted

    # -- queries -----------------------------------------------------------
    def first_index(self) -> int:
        return self.snapshot.index + 1

    def last_index(self) -> int:
        return self.entries[-1].index if self.entries else self.snapshot.index

    def last_term(self) -> int:
        return self.entries[-1].term if self.entries else self.snapshot.term

    def term(self, index: int) -> int:
        """Term of the entry at `index`; 0 past the end; CompactedError before the snapshot."""
        off = self.snapshot.index
        if index == off:
            return self.snapshot.term
        if index < off:
            raise CompactedError(index)
        if index > self.last_index():
            return 0
        return self.entries[index - off - 1].term

    def match_term(self, index: int, term: int) -> bool:
        try:
            return self.term(index) == term
        except CompactedError:
            return False

    def slice(self, lo: int, hi: int, max_bytes: int | None = None) -> list[Entry]:
        """Entries [lo, hi), at least one, at most `max_bytes` of data after the first."""
        if lo < self.first_index():
            raise CompactedError(lo)
        off = self.snapshot.index + 1
        out = self.entries[lo - off : hi - off]
        if max_bytes is not None and len(out) > 1:
            size = 0
            for i, e in enumerate(out):
                size += len(e.data) + 16
                if size > max_bytes and i > 0:
                    return out[:i]
        return out

    def is_up_to_date(self, last_index: int, last_term: int) -> bool:
        """Paper §5.4.1: the candidate's log is at least as up-to-date as ours."""
        lt = self.last_term()
        return last_term > lt or (last_term == lt and last_index >= self.last_index())

    def find_conflict_by_term(self, index: int, term: int) -> int:
        """Largest i <= index whose term is <= term (fast back-off, thesis §5.3 note)."""
        index = min(index, self.last_index())
        while index > self.snapshot.index:
            if self.term(index) <= term:
                return index
            index -= 1
        return index

    # -- changes -----------------------------------------------------------
    def append(self, entries: list[Entry] | tuple[Entry, ...]) -> None:
        """Append entries, replacing any conflicting suffix (paper §5.3 step 3)."""
        if not entries:
            return
        first = entries[0].index
        assert first > self.committed, "never overwrite committed entries"
        assert first <= self.last_index() + 1
        if first <= self.last_index():
            del self.entries[first - self.snapshot.index - 1 :]
            self.persisted = min(self.persisted, first - 1)
        self.entries.extend(entries)

    def maybe_append(self, prev_index: int, prev_term: int, committed: int,
                     entries: tuple[Entry, ...]) -> int | None:
        """AppendEntries receiver (Figure 2). Returns the last new index, or None on mismatch."""
        if not self.match_term(prev_index, prev_term):
            return None
        last_new = prev_index + len(entries)
        conflict = 0
        for e in entries:
            if e.index <= self.snapshot.index:
                continue
            if not self.match_term(e.index, e.term):
                conflict = e.index
                break
        if conflict:
            assert conflict > self.committed, "conflict with a committed entry"
            self.append(entries[conflict - entries[0].index :])
        self.commit_to(min(committed, last_new))
        return last_new

    def commit_to(self, index: int) -> bool:
        if index > self.committed:
            self.committed = min(index, self.last_index())
            return True
        return False

    def unpersisted(self) -> list[Entry]:
        if self.persisted >= self.last_index():
            return []
        return self.entries[self.persisted - self.snapshot.index :]

    def next_committed(self) -> list[Entry]:
        """Committed, not applied; only what is durable here as well."""
        hi = min(self.committed, self.last_index())
        if hi <= self.applied:
            return []
        return self.slice(self.applied + 1, hi + 1)

    def restore(self, snap: Snapshot) -> None:
        """Replace the whole log with a received snapshot (InstallSnapshot)."""
        self.snapshot = snap
        self.entries = []
        self.committed = snap.index
        self.applied = snap.index
        self.persisted = snap.index
        self.pending_snapshot = snap

    def compact(self, snap: Snapshot) -> None:
        """Drop entries up to snap.index, which the state machine has captured."""
        assert snap.index <= self.applied
        if snap.index <= self.snapshot.index:
            return
        drop = snap.index - self.snapshot.index
        self.entries = self.entries[drop:]
        self.snapshot = snap
