"""A pure Raft state machine: messages in, a batch of effects out.

Theory of operation (as etcd-io/raft, see STYLE.md):
- `tick()` advances logical time; `step(msg)` handles one message;
  `propose(data)` appends a client command on the leader.
- Nothing here does I/O, reads a clock or uses global randomness: timeouts
  are counted in ticks and randomized with the injected `random.Random`.
- Effects collect until the shell calls `ready()`; it must persist, send and
  apply them (in the order `Ready` documents) and then call `advance(rd)`.
- Roles are swapped handler tables (`_step_leader`, `_step_candidate`,
  `_step_follower`), as in the Raft paper's Figure 2 rules for each role.
- Extensions: pre-vote (thesis §9.6) and check-quorum (§6.2), so a partitioned
  node does not disrupt the cluster and a leader that lost its majority steps
  down, as Docker Swarm's managers do; single-server membership changes
  (§4.1) and leadership transfer (§3.10).
"""
from __future__ import annotations

from random import Random
from dataclasses import dataclass

from .log import CompactedError, RaftLog
from .messages import (
    NONE, ConfChange, ConfChangeType, Entry, EntryType, HardState, Message,
    MessageType as MT, NodeId, Ready, Role, Snapshot, SoftState,
)
from .progress import Progress, ProgressState
from .trace import TraceEvent, Tracer


class NotLeader(Exception):
    """A proposal reached a node that is not the leader."""

    def __init__(self, leader: NodeId) -> None:
        super().__init__(f"not the leader (leader is {leader or 'unknown'})")
        self.leader = leader


class ProposalDropped(Exception):
    """The leader cannot take this proposal now (transfer under way, conf change pending)."""


@dataclass(frozen=True, slots=True)
class Config:
    id: NodeId
    election_tick: int = 10  # followers wait [election_tick, 2*election_tick) ticks
    heartbeat_tick: int = 1
    pre_vote: bool = True
    check_quorum: bool = True
    max_inflight: int = 256  # appends in flight per follower (pipelining)
    max_msg_bytes: int = 1 << 20  # batching limit per append


@dataclass(slots=True)
class InitialState:
    """What a restarting node finds on its storage."""

    hard_state: HardState
    snapshot: Snapshot
    entries: list[Entry]


class RaftNode:
    def __init__(self, config: Config, rng: Random, state: InitialState | None = None,
                 peers: tuple[NodeId, ...] = (), tracer: Tracer | None = None) -> None:
        """Start from `state` (restart), or fresh. A fresh node bootstraps with `peers`
        as the voters (pass () to join an existing cluster and learn them from its leader)."""
        assert config.id != NONE
        self.id = config.id
        self.cfg = config
        self.rng = rng
        self.tracer = tracer
        self.ticks = 0
        self.msgs: list[Message] = []
        bootstrap = None
        if state is None:
            bootstrap = Snapshot(0, 0, tuple(sorted(peers)), b"")
            state = InitialState(HardState(), bootstrap, [])
        self.log = RaftLog(state.snapshot, state.entries, state.hard_state.commit)
        self.log.pending_snapshot = bootstrap  # the membership must be durable from the start
        self.term = state.hard_state.term
        self.vote = state.hard_state.vote
        self.role = Role.FOLLOWER
        self.prs: dict[NodeId, Progress] = {}
        self.votes: dict[NodeId, bool] = {}
        self.lead_transferee = NONE
        self.pending_conf_index = 0
        self._dirty = False  # entries appended that no append message carries yet
        self.voters: tuple[NodeId, ...] = ()
        self._conf_history: list[tuple[int, tuple[NodeId, ...]]] = []
        self._set_voters(state.snapshot.index, state.snapshot.voters)
        self._conf_applied = state.snapshot.index
        self._apply_conf_changes(state.snapshot.index, self.log.committed)
        self._prev_hard = HardState(self.term, self.vote, self.log.committed)
        self._prev_soft: SoftState | None = None
        self.become_follower(self.term, NONE)

    # -- public API ------------------------------------------------------------
    @property
    def is_leader(self) -> bool:
        return self.role is Role.LEADER

    def status(self) -> dict:
        return {
            "id": self.id, "role": self.role.value, "term": self.term, "vote": self.vote,
            "leader": self.leader, "commit": self.log.committed, "applied": self.log.applied,
            "last_index": self.log.last_index(), "first_index": self.log.first_index(),
            "voters": list(self.voters),
        }

    def tick(self) -> None:
        self.ticks += 1
        self._tick()

    def propose(self, data: bytes) -> tuple[int, int]:
        """Append a command. Returns (index, term) it will have if committed."""
        return self._propose(Entry(0, 0, data, EntryType.NORMAL))

    def propose_conf_change(self, cc: ConfChange) -> tuple[int, int]:
        if self.pending_conf_index > self.log.applied:
            raise ProposalDropped("a membership change is already in progress")
        voters = set(self.voters)
        if cc.type is ConfChangeType.ADD_NODE:
            voters.add(cc.node_id)
        else:
            voters.discard(cc.node_id)
        if not voters:
            raise ProposalDropped("cannot remove the last voter")
        data = _encode_conf(cc, tuple(sorted(voters)))
        idx, term = self._propose(Entry(0, 0, data, EntryType.CONF_CHANGE))
        self.pending_conf_index = idx
        return idx, term

    def campaign(self) -> None:
        """Start an election now instead of waiting for the timeout (etcd's MsgHup): a
        manager that bootstraps a cluster alone, or forces a new one, leads at once."""
        if self.role is not Role.LEADER and self._promotable():
            self._campaign(pre=self.cfg.pre_vote)

    def transfer_leadership(self, target: NodeId) -> None:
        """Hand leadership to `target` (thesis §3.10): catch it up, then MsgTimeoutNow."""
        if not self.is_leader:
            raise NotLeader(self.leader)
        if target == self.id or target not in self.voters:
            return
        self.lead_transferee = target
        self.election_elapsed = 0
        self._trace("transfer", to=target)
        pr = self.prs[target]
        if pr.match == self.log.last_index():
            self._send(Message(MT.TIMEOUT_NOW, self.id, target, self.term))
        else:
            self._send_append(target)

    def compact(self, index: int, data: bytes) -> None:
        """The state machine captured everything up to `index` in `data`: drop that log prefix."""
        if index <= self.log.snapshot.index or index > self.log.applied:
            return
        snap = Snapshot(index, self.log.term(index), self._voters_at(index), data)
        self.log.compact(snap)
        self._conf_history = [(index, snap.voters)] + [
            c for c in self._conf_history if c[0] > index]
        self._trace("snapshot", index=index, reason="compact")

    def has_ready(self) -> bool:
        log = self.log
        return bool(
            self.msgs or self._dirty or log.pending_snapshot or log.persisted < log.last_index()
            or min(log.committed, log.last_index()) > log.applied
            or self._hard_state() != self._prev_hard or self._soft_state() != self._prev_soft
        )

    def ready(self) -> Ready:
        self.flush()
        rd = Ready()
        soft = self._soft_state()
        if soft != self._prev_soft:
            rd.soft_state = soft
        hs = self._hard_state()
        if hs != self._prev_hard:
            rd.hard_state = hs
        rd.snapshot = self.log.pending_snapshot
        rd.entries = self.log.unpersisted()
        rd.messages, self.msgs = self.msgs, []
        rd.committed_entries = self.log.next_committed()
        return rd

    def advance(self, rd: Ready) -> None:
        if rd.soft_state is not None:
            self._prev_soft = rd.soft_state
        if rd.hard_state is not None:
            self._prev_hard = rd.hard_state
        if rd.snapshot is not None and self.log.pending_snapshot is rd.snapshot:
            self.log.pending_snapshot = None
        if rd.entries:
            last = rd.entries[-1]
            if self.log.match_term(last.index, last.term):
                self.log.persisted = max(self.log.persisted, last.index)
        if rd.committed_entries:
            last_applied = rd.committed_entries[-1].index
            self.log.applied = max(self.log.applied, last_applied)
            if self.tracer:
                self._trace("apply", first=rd.committed_entries[0].index, last=last_applied)

    # -- roles -----------------------------------------------------------------
    def become_follower(self, term: int, leader: NodeId) -> None:
        self._reset(term)
        self.leader = leader
        self.role = Role.FOLLOWER
        self._step = self._step_follower
        self._tick = self._tick_election
        self._trace("state", state="follower", leader=leader)

    def become_pre_candidate(self) -> None:
        # pre-vote does not change the term or the vote (thesis §9.6)
        self.votes = {}
        self.leader = NONE
        self.role = Role.PRE_CANDIDATE
        self._step = self._step_candidate
        self._tick = self._tick_election
        self._trace("state", state="pre-candidate")

    def become_candidate(self) -> None:
        assert self.role is not Role.LEADER
        self._reset(self.term + 1)
        self.vote = self.id
        self.role = Role.CANDIDATE
        self._step = self._step_candidate
        self._tick = self._tick_election
        self._trace("state", state="candidate")

    def become_leader(self) -> None:
        assert self.role is Role.CANDIDATE
        self._reset(self.term)
        self.leader = self.id
        self.role = Role.LEADER
        self._step = self._step_leader
        self._tick = self._tick_heartbeat
        for pr in self.prs.values():
            pr.recent_active = True
        # A conf change in the uncommitted tail may still be pending.
        self.pending_conf_index = self.log.last_index()
        self._trace("state", state="leader")
        # An entry of our own term lets us commit earlier ones (§5.4.2).
        self._append([Entry(0, 0, b"", EntryType.NORMAL)])

    def _reset(self, term: int) -> None:
        if term != self.term:
            self.term = term
            self.vote = NONE
        self.leader = NONE
        self.election_elapsed = 0
        self.heartbeat_elapsed = 0
        self.randomized_timeout = self.cfg.election_tick + self.rng.randrange(self.cfg.election_tick)
        # one event per reset (not per tick): the replay draws the timer running down from it
        self._trace("timer", timeout=self.randomized_timeout)
        self.votes = {}
        self.lead_transferee = NONE
        last = self.log.last_index()
        self.prs = {v: Progress(match=0, next=last + 1) for v in self.voters}
        if self.id in self.prs:
            self.prs[self.id].match = last

    # -- ticking ---------------------------------------------------------------
    def _promotable(self) -> bool:
        return self.id in self.voters

    def _tick_election(self) -> None:
        self.election_elapsed += 1
        if self._promotable() and self.election_elapsed >= self.randomized_timeout:
            self.election_elapsed = 0
            self._campaign(pre=self.cfg.pre_vote)

    def _tick_heartbeat(self) -> None:
        self.heartbeat_elapsed += 1
        self.election_elapsed += 1
        if self.election_elapsed >= self.cfg.election_tick:
            self.election_elapsed = 0
            if self.cfg.check_quorum and not self._quorum_active():
                self._trace("state", state="follower", reason="check-quorum failed")
                self.become_follower(self.term, NONE)
                return
            if self.lead_transferee != NONE:
                self._trace("transfer", to=self.lead_transferee, aborted=True)
                self.lead_transferee = NONE
        if self.heartbeat_elapsed >= self.cfg.heartbeat_tick:
            self.heartbeat_elapsed = 0
            for peer in self._peers():
                self._send_heartbeat(peer)

    def _quorum_active(self) -> bool:
        active = 0
        for nid, pr in self.prs.items():
            if nid == self.id or pr.recent_active:
                active += 1
            pr.recent_active = False
        return active >= self._quorum()

    # -- elections -------------------------------------------------------------
    def _campaign(self, pre: bool, transfer: bool = False) -> None:
        if pre:
            self.become_pre_candidate()
            term, mtype = self.term + 1, MT.PRE_VOTE
        else:
            self.become_candidate()
            term, mtype = self.term, MT.VOTE
        self.votes[self.id] = True
        if self._tally() == "won":
            return self._won(pre)
        for peer in self._peers():
            self._send(Message(mtype, self.id, peer, term, log_term=self.log.last_term(),
                               index=self.log.last_index(), transfer=transfer))

    def _won(self, pre: bool) -> None:
        if pre:
            self._campaign(pre=False)
        else:
            self.become_leader()

    def _tally(self) -> str:
        granted = sum(1 for v in self.votes.values() if v)
        rejected = len(self.votes) - granted
        if granted >= self._quorum():
            return "won"
        if rejected >= self._quorum():
            return "lost"
        return "pending"

    def _handle_vote_request(self, m: Message) -> None:
        pre = m.type is MT.PRE_VOTE
        can_vote = (
            self.vote == m.src
            or (self.vote == NONE and self.leader == NONE)
            or (pre and m.term > self.term)
        )
        grant = can_vote and self.log.is_up_to_date(m.index, m.log_term)
        resp = MT.PRE_VOTE_RESP if pre else MT.VOTE_RESP
        # a granted pre-vote answers in the future term the candidate asked about
        self._send(Message(resp, self.id, m.src, m.term if grant else self.term, reject=not grant))
        self._trace("vote", to=m.src, granted=grant, pre=pre)
        if grant and not pre:
            self.election_elapsed = 0
            self.vote = m.src

    # -- the message pump ------------------------------------------------------
    def step(self, m: Message) -> None:
        if self.tracer:
            self._trace("recv", type=m.type.name, src=m.src, msg_term=m.term)
        if m.term > self.term:
            if m.type in (MT.VOTE, MT.PRE_VOTE):
                in_lease = (self.cfg.check_quorum and self.leader != NONE
                            and self.election_elapsed < self.cfg.election_tick)
                if in_lease and not m.transfer:
                    return  # we heard from a live leader recently: ignore (thesis §4.2.3)
            if m.type is MT.PRE_VOTE or (m.type is MT.PRE_VOTE_RESP and not m.reject):
                pass  # pre-votes never change our term
            elif m.type in (MT.APP, MT.HEARTBEAT, MT.SNAP):
                self.become_follower(m.term, m.src)
            else:
                self.become_follower(m.term, NONE)
        elif m.term < self.term:
            if m.type in (MT.APP, MT.HEARTBEAT) and (self.cfg.check_quorum or self.cfg.pre_vote):
                # a stale leader: tell it our term so it steps down
                self._send(Message(MT.APP_RESP, self.id, m.src, self.term))
            elif m.type is MT.PRE_VOTE:
                self._send(Message(MT.PRE_VOTE_RESP, self.id, m.src, self.term, reject=True))
            return
        if m.type in (MT.VOTE, MT.PRE_VOTE):
            self._handle_vote_request(m)
        else:
            self._step(m)

    def _step_follower(self, m: Message) -> None:
        if m.type in (MT.APP, MT.HEARTBEAT, MT.SNAP):
            self.election_elapsed = 0
            self.leader = m.src
            {MT.APP: self._handle_append, MT.HEARTBEAT: self._handle_heartbeat,
             MT.SNAP: self._handle_snapshot}[m.type](m)
        elif m.type is MT.TIMEOUT_NOW and self._promotable():
            self._trace("transfer", campaign=True)
            self._campaign(pre=False, transfer=True)

    def _step_candidate(self, m: Message) -> None:
        want = MT.PRE_VOTE_RESP if self.role is Role.PRE_CANDIDATE else MT.VOTE_RESP
        if m.type in (MT.APP, MT.HEARTBEAT, MT.SNAP):
            self.become_follower(m.term, m.src)
            self._step_follower(m)
        elif m.type is want:
            self.votes.setdefault(m.src, not m.reject)
            outcome = self._tally()
            if outcome == "won":
                self._won(self.role is Role.PRE_CANDIDATE)
            elif outcome == "lost":
                self.become_follower(self.term, NONE)

    def _step_leader(self, m: Message) -> None:
        pr = self.prs.get(m.src)
        if pr is None:
            return
        pr.recent_active = True
        if m.type is MT.APP_RESP:
            self._handle_append_response(m, pr)
        elif m.type is MT.HEARTBEAT_RESP:
            if pr.match < self.log.last_index():
                # No progress over a whole heartbeat interval: an append or a snapshot
                # was lost. Probe again from what we know matches.
                if pr.match == pr.hb_match or pr.state is ProgressState.PROBE:
                    pr.become_probe()
                self._send_append(m.src)
            pr.hb_match = pr.match

    # -- follower side of replication -------------------------------------------
    def _handle_append(self, m: Message) -> None:
        if m.index < self.log.committed:
            self._send(Message(MT.APP_RESP, self.id, m.src, self.term, index=self.log.committed))
            return
        last_new = self.log.maybe_append(m.index, m.log_term, m.commit, m.entries)
        if last_new is not None:
            self._apply_conf_changes_to_commit()
            if m.entries and self.tracer:
                self._trace("append", first=m.entries[0].index, last=m.entries[-1].index)
            self._send(Message(MT.APP_RESP, self.id, m.src, self.term, index=last_new))
            return
        # Reject with a hint so the leader can skip a whole term at once.
        hint = self.log.find_conflict_by_term(m.index, m.log_term)
        self._send(Message(MT.APP_RESP, self.id, m.src, self.term, index=m.index, reject=True,
                           reject_hint=hint, log_term=self.log.term(hint)))

    def _handle_heartbeat(self, m: Message) -> None:
        if self.log.commit_to(m.commit):
            self._apply_conf_changes_to_commit()
        self._send(Message(MT.HEARTBEAT_RESP, self.id, m.src, self.term))

    def _handle_snapshot(self, m: Message) -> None:
        snap = m.snapshot
        assert snap is not None
        if snap.index <= self.log.committed:
            pass  # nothing new
        elif self.log.match_term(snap.index, snap.term):
            self.log.commit_to(snap.index)  # we have it all already: fast-forward
            self._apply_conf_changes_to_commit()
        else:
            self.log.restore(snap)
            self._conf_history = []
            self._set_voters(snap.index, snap.voters)
            self._trace("snapshot", index=snap.index, reason="installed", src=m.src)
        self._send(Message(MT.APP_RESP, self.id, m.src, self.term, index=self.log.committed))

    # -- leader side of replication ---------------------------------------------
    def _handle_append_response(self, m: Message, pr: Progress) -> None:
        if m.reject:
            if pr.maybe_decr_to(m.index, self.log.find_conflict_by_term(m.reject_hint, m.log_term)):
                if pr.state is ProgressState.REPLICATE:
                    pr.become_probe()
                self._send_append(m.src)
            return
        old_paused = pr.is_paused(self.cfg.max_inflight)
        if not pr.maybe_update(m.index):
            if old_paused and not pr.is_paused(self.cfg.max_inflight):
                self._send_append(m.src)
            return
        if pr.state is ProgressState.PROBE:
            pr.become_replicate()
        elif pr.state is ProgressState.SNAPSHOT and pr.match >= pr.pending_snapshot:
            pr.become_probe()
            pr.become_replicate()
        if self._maybe_commit():
            self._bcast_append()
        else:
            self._send_append(m.src)
        if m.src == self.lead_transferee and pr.match == self.log.last_index():
            self._send(Message(MT.TIMEOUT_NOW, self.id, m.src, self.term))

    def _maybe_commit(self) -> bool:
        matches = sorted((self.prs[v].match for v in self.voters if v in self.prs), reverse=True)
        if len(matches) < self._quorum():
            return False
        idx = matches[self._quorum() - 1]
        # Only entries of the current term commit by counting replicas (§5.4.2).
        if idx > self.log.committed and self.log.term(idx) == self.term:
            self.log.commit_to(idx)
            self._apply_conf_changes_to_commit()
            self._trace("commit", index=idx)
            return True
        return False

    def _append(self, entries: list[Entry]) -> int:
        li = self.log.last_index()
        entries = [Entry(self.term, li + i + 1, e.data, e.type) for i, e in enumerate(entries)]
        self.log.append(entries)
        self.prs[self.id].maybe_update(self.log.last_index())
        if self.tracer:
            self._trace("append", first=entries[0].index, last=entries[-1].index)
        self._maybe_commit()  # a single-voter cluster commits at once
        self._dirty = True
        return entries[-1].index

    def _propose(self, e: Entry) -> tuple[int, int]:
        if not self.is_leader:
            raise NotLeader(self.leader)
        if self.lead_transferee != NONE:
            raise ProposalDropped("leadership transfer in progress")
        if self.id not in self.prs:
            raise ProposalDropped("this node was removed from the cluster")
        idx = self._append([e])
        return idx, self.term

    def flush(self) -> None:
        """Send appends for entries proposed since the last flush (batching):
        many `propose()` calls between two `ready()`s travel in one append."""
        if self.is_leader and self._dirty:
            self._bcast_append()
        self._dirty = False

    def _bcast_append(self) -> None:
        for peer in self._peers():
            self._send_append(peer)
        self._dirty = False

    def _send_append(self, to: NodeId) -> None:
        pr = self.prs[to]
        if pr.is_paused(self.cfg.max_inflight):
            return
        try:
            prev_term = self.log.term(pr.next - 1)
            ents = self.log.slice(pr.next, self.log.last_index() + 1, self.cfg.max_msg_bytes)
        except CompactedError:
            return self._send_snapshot(to, pr)
        if not ents and pr.state is ProgressState.REPLICATE:
            return  # nothing new; heartbeats keep it alive
        self._send(Message(MT.APP, self.id, to, self.term, log_term=prev_term,
                           index=pr.next - 1, entries=tuple(ents), commit=self.log.committed))
        pr.sent(ents[-1].index if ents else pr.next - 1, len(ents))

    def _send_snapshot(self, to: NodeId, pr: Progress) -> None:
        snap = self.log.snapshot
        pr.become_snapshot(snap.index)
        self._trace("snapshot", index=snap.index, reason="send", to=to)
        self._send(Message(MT.SNAP, self.id, to, self.term, snapshot=snap))

    def _send_heartbeat(self, to: NodeId) -> None:
        commit = min(self.prs[to].match, self.log.committed)
        self._send(Message(MT.HEARTBEAT, self.id, to, self.term, commit=commit))

    # -- membership ------------------------------------------------------------
    def _set_voters(self, index: int, voters: tuple[NodeId, ...]) -> None:
        self.voters = tuple(sorted(voters))
        self._conf_history.append((index, self.voters))
        if self.role is Role.LEADER:
            for v in self.voters:
                if v not in self.prs:
                    self.prs[v] = Progress(match=0, next=self.log.last_index() + 1)
            for v in list(self.prs):
                if v not in self.voters:
                    del self.prs[v]

    def _voters_at(self, index: int) -> tuple[NodeId, ...]:
        best = self._conf_history[0][1] if self._conf_history else self.voters
        for i, v in self._conf_history:
            if i <= index:
                best = v
        return best

    def _apply_conf_changes(self, lo: int, hi: int) -> None:
        """Membership takes effect once committed (as etcd-io/raft applies it)."""
        if hi <= lo:
            return
        for e in self.log.slice(max(lo + 1, self.log.first_index()), hi + 1):
            if e.type is EntryType.CONF_CHANGE:
                cc, voters = _decode_conf(e.data)
                self._set_voters(e.index, voters)
                self._trace("conf", index=e.index, change=cc.type.name, node=cc.node_id,
                            voters=list(voters))
                if cc.type is ConfChangeType.REMOVE_NODE and cc.node_id == self.id \
                        and self.role is Role.LEADER:
                    self.become_follower(self.term, NONE)
        self._conf_applied = hi

    def _apply_conf_changes_to_commit(self) -> None:
        lo = max(self._conf_applied, self.log.snapshot.index)
        if self.log.committed > lo:
            self._apply_conf_changes(lo, self.log.committed)
            if self.is_leader and self._maybe_commit():
                self._bcast_append()

    # -- helpers ---------------------------------------------------------------
    def _peers(self) -> list[NodeId]:
        return [v for v in self.voters if v != self.id]

    def _quorum(self) -> int:
        return len(self.voters) // 2 + 1

    def _send(self, m: Message) -> None:
        self.msgs.append(m)
        if self.tracer:
            self._trace("send", type=m.type.name, dst=m.dst, n=len(m.entries), reject=m.reject)

    def _hard_state(self) -> HardState:
        return HardState(self.term, self.vote, self.log.committed)

    def _soft_state(self) -> SoftState:
        return SoftState(self.leader, self.role)

    def _trace(self, kind: str, **fields) -> None:
        if self.tracer:
            self.tracer(TraceEvent(kind, self.id, self.term, self.ticks, fields))


def _encode_conf(cc: ConfChange, voters: tuple[NodeId, ...]) -> bytes:
    return cc.encode() + b"|" + b",".join(b"%d" % v for v in voters)


def _decode_conf(data: bytes) -> tuple[ConfChange, tuple[NodeId, ...]]:
    head, _, tail = data.partition(b"|")
    voters = tuple(int(v) for v in tail.split(b",") if v)
    return ConfChange.decode(head), voters
