"""Join tokens: Docker's shape, the CA digest in them, rotation, and the joining node's check."""
import hashlib
import random
import re

import pytest

from swarmlab.ca import (
    INVALID_TOKEN, InvalidToken, JoinTokens, RootCA, check_ca_digest, generate_join_token,
    parse_token, token_matches_ca,
)

TOKEN_RE = re.compile(r"^SWMTKN-1-[0-9a-z]{50}-[0-9a-z]{25}$")


@pytest.fixture(scope="module")
def ca():
    return RootCA.create("cluster-a")


def test_token_has_dockers_shape_and_length(ca):
    tokens = JoinTokens.create(ca.digest())
    for t in (tokens.worker, tokens.manager):
        assert TOKEN_RE.match(t), t
        assert len(t) == 85  # as `docker swarm join-token -q worker` prints
    assert tokens.worker != tokens.manager


def test_both_tokens_carry_the_root_ca_digest(ca):
    tokens = JoinTokens.create(ca.digest())
    assert ca.digest() == hashlib.sha256(ca.cert_pem()).hexdigest()
    assert parse_token(tokens.worker)[0] == ca.digest()
    assert parse_token(tokens.manager)[0] == ca.digest()
    assert tokens.worker.split("-")[2] == tokens.manager.split("-")[2]
    assert parse_token(tokens.worker)[1] != parse_token(tokens.manager)[1]


def test_digest_is_zero_padded_base36():
    assert generate_join_token("0" * 63 + "1", random.Random(1)).split("-")[2] == "0" * 49 + "1"
    t = generate_join_token("f" * 64, random.Random(1))
    assert int(t.split("-")[2], 36) == int("f" * 64, 16)


def test_seeded_rng_is_deterministic(ca):
    assert (JoinTokens.create(ca.digest(), random.Random(7))
            == JoinTokens.create(ca.digest(), random.Random(7)))


def test_right_swarm_accepted_wrong_digest_refused(ca):
    tokens = JoinTokens.create(ca.digest())
    check_ca_digest(ca.cert_pem(), tokens.worker)  # the right swarm: no error
    other = RootCA.create("cluster-b")
    with pytest.raises(InvalidToken, match="remote CA does not match fingerprint. Expected: "
                       + ca.digest()):
        check_ca_digest(other.cert_pem(), tokens.worker)
    assert token_matches_ca(tokens.worker, ca.cert_pem())
    assert not token_matches_ca(tokens.worker, other.cert_pem())


def test_tampered_ca_pem_refused(ca):
    token = JoinTokens.create(ca.digest()).worker
    with pytest.raises(InvalidToken, match="does not match fingerprint"):
        check_ca_digest(ca.cert_pem() + b"\n", token)


@pytest.mark.parametrize("bad", [
    "", "SWMTKN", "SWMTKN-1-abc-def", "XXXTKN-1-" + "0" * 50 + "-" + "0" * 25,
    "SWMTKN-1-" + "0" * 49 + "-" + "0" * 25, "SWMTKN-1-" + "0" * 50 + "-" + "0" * 24,
    "SWMTKN-1-" + "A" * 50 + "-" + "0" * 25, "SWMTKN-1-" + "z" * 50 + "-" + "0" * 25,
])
def test_malformed_tokens_refused(bad):
    with pytest.raises(InvalidToken, match="invalid join token"):
        parse_token(bad)


def test_unknown_version_refused():
    with pytest.raises(InvalidToken, match="unrecognized join token version"):
        parse_token("SWMTKN-3-" + "0" * 50 + "-" + "0" * 25)


def test_roles_and_rotated_out_token_refused(ca):
    tokens = JoinTokens.create(ca.digest())
    assert tokens.role_for(tokens.worker) == "worker"
    assert tokens.role_for(tokens.manager + "\n") == "manager"
    rotated = tokens.rotate("worker")
    assert rotated.manager == tokens.manager
    assert rotated.worker != tokens.worker
    assert parse_token(rotated.worker)[0] == ca.digest()  # same swarm, new secret
    with pytest.raises(InvalidToken, match=INVALID_TOKEN):
        rotated.role_for(tokens.worker)
    assert rotated.role_for(rotated.worker) == "worker"
    rotated2 = rotated.rotate("manager")
    with pytest.raises(InvalidToken, match=INVALID_TOKEN):
        rotated2.role_for(tokens.manager)
    with pytest.raises(InvalidToken, match=INVALID_TOKEN):
        rotated2.role_for("")


def test_finished_ca_rotation_changes_the_digest_in_new_tokens(ca):
    tokens = JoinTokens.create(ca.digest())
    rotating = ca.rotate()
    assert rotating.digest() == ca.digest()  # the anchor stays until every node renewed
    done = rotating.finish_rotation()
    new_tokens = tokens.for_ca(done.digest())
    assert parse_token(new_tokens.worker)[0] == done.digest() != ca.digest()
    with pytest.raises(InvalidToken, match="does not match fingerprint"):
        check_ca_digest(done.cert_pem(), tokens.worker)
