"""The quiz: every accepted spelling is right, wrong answers are wrong, widgets check at once."""
from __future__ import annotations

import pytest

from swarmlab.quiz import QUESTIONS, check, parse, question_widget, quiz_widget

RIGHT = {
    "swarm-init": ["docker swarm init", "swarmlab swarm init",
                   "docker swarm init --advertise-addr 192.168.99.100",
                   "@node1$ docker swarm init"],
    "scale": ["docker service scale myservice=8", "docker service update --replicas 8 myservice",
              "docker service update --replicas=8 myservice",
              "docker service update myservice --replicas 8",
              "swarmlab service scale myservice=8",
              "swarmlab --node node1 service update --replicas 8 myservice",
              "$ docker service scale myservice=8 --detach"],
    "join-token-manager": ["docker swarm join-token manager", "docker swarm join-token -q manager",
                           "swarmlab swarm join-token manager"],
    "drain": [1, "Containers on this node will be stopped and re-scheduled on other nodes"],
    "paused": [1, "No, it can be `pause`"],
    "managers-production": [2, "3"],
    "datacenters": [0, "3-2-2"],
    "stack-ps": [[2], ["`docker stack ps app`"], "docker stack ps app"],
    "secret-add": ["docker service update --secret-add TOKEN api",
                   "docker service update --secret-add=TOKEN api",
                   "docker service update --secret-add source=TOKEN api",
                   "docker service update --secret-add source=TOKEN,target=TOKEN api",
                   "swarmlab service update --secret-add TOKEN api"],
    "update-config": [0, "Lors d'une mise à jour du service api, les replicas seront mis à jour "
                         "2 par 2, toutes les 10 secondes"],
    "global-mode": ["--mode global", "--mode=global", "docker service create --mode global nginx"],
    "create-nginx": ["docker service create --replicas=3 --publish 8080:80 nginx",
                     "docker service create --replicas 3 -p 8080:80 nginx",
                     "docker service create -p 8080:80 --replicas 3 nginx:latest",
                     "docker service create --name www -p 8080:80 --replicas 3 nginx",
                     "docker service create --publish published=8080,target=80 --replicas 3 nginx",
                     "swarmlab service create -p 8080:80 --replicas 3 nginx"],
    "state-dir": ["/var/lib/docker/swarm", "/var/lib/docker/swarm/", " `/var/lib/docker/swarm` "],
}

WRONG = {
    "swarm-init": ["docker swarm join", "docker init", "", "docker swarm init --force-new-cluster"],
    "scale": ["docker service scale myservice=7", "docker service update --replicas 8 other",
              "docker service create --replicas 8 myservice", "docker service scale myservice",
              "kubectl scale myservice=8", "docker service update --replicas 8 myservice 'oops"],
    "join-token-manager": ["docker swarm join-token worker", "docker swarm join --token manager"],
    "drain": [0, 2, 3, 9, "node3 leaves the swarm"],
    "paused": [0, 2],
    "managers-production": [0, 1, 3, "4"],
    "datacenters": [1, 2, 3, "4-2-1"],
    "stack-ps": [[0], [2, 3], [], [0, 1, 2, 3]],
    "secret-add": ["docker service update --secret-rm TOKEN api",
                   "docker service update --secret-add TOKEN web",
                   "docker secret create TOKEN api"],
    "update-config": [1, 2, 3],
    "global-mode": ["--mode replicated", "--global", "--replicas 0"],
    "create-nginx": ["docker service create --replicas=3 --publish 80:8080 nginx",
                     "docker service create --replicas=2 --publish 8080:80 nginx",
                     "docker service create --replicas=3 --publish 8080:80 httpd",
                     "docker service create --replicas=3 nginx",
                     "docker service create --replicas=3 --publish 8080:80 "
                     "--constraint node.role==manager nginx"],
    "state-dir": ["/var/lib/docker", "/etc/docker/swarm", "/var/lib/swarm"],
}


def test_every_question_is_covered_here():
    ids = [q.id for q in QUESTIONS]
    assert len(ids) == len(set(ids)) == 13  # the course's quiz has 13 questions
    assert set(RIGHT) == set(WRONG) == set(ids)


@pytest.mark.parametrize("qid,answer", [(q, a) for q, ans in RIGHT.items() for a in ans])
def test_right_answers_are_accepted(qid, answer):
    ok, why = check(qid, answer)
    assert ok, (qid, answer)
    assert why


@pytest.mark.parametrize("qid,answer", [(q, a) for q, ans in WRONG.items() for a in ans])
def test_wrong_answers_are_rejected(qid, answer):
    ok, why = check(qid, answer)
    assert not ok, (qid, answer)
    assert why  # the explanation is shown either way


def test_questions_are_well_formed():
    for q in QUESTIONS:
        assert q.kind in ("single", "multiple", "command", "option", "text")
        assert q.explanation.strip()
        if q.kind in ("single", "multiple"):
            assert q.choices and q.correct and all(0 <= k < len(q.choices) for k in q.correct)
        else:
            assert q.accepted and not q.choices


def test_french_text_is_kept_and_translated():
    fr = [q for q in QUESTIONS if "datacenters" in q.text and "répartition" in q.text]
    assert fr and fr[0].text_en and "distribution" in fr[0].text_en
    upd = next(q for q in QUESTIONS if q.id == "update-config")
    right = upd.choices[upd.correct[0]]
    assert "2 par 2" in right.text and "2 at a time" in right.text_en
    mgr = next(q for q in QUESTIONS if q.id == "managers-production")
    assert "quorum de 2" in mgr.explanation_fr and "quorum of 2" in mgr.explanation


def test_parse_merges_spellings():
    assert parse("docker service update --replicas=8 myservice") == \
        parse("swarmlab --lab demo service update myservice --replicas 8")
    assert parse("docker service create -p 8080:80/tcp nginx:latest") == \
        parse("docker service create --publish published=8080,target=80 nginx")


def test_unknown_question():
    with pytest.raises(KeyError, match="scale"):
        check("nope", "x")


def test_widgets_check_at_once():
    w = question_widget("scale", 2)
    w.input.value = "docker service update --replicas 8 myservice"  # Enter
    assert "right" in w.result.value and "scale" in w.result.value
    w = question_widget("stack-ps")
    w.boxes[0].value = True
    w.button.click()
    assert "not quite" in w.result.value
    w = question_widget("datacenters")
    w.button.click()
    assert "choose or type" in w.result.value
    w.input.value = 0
    w.button.click()
    assert "right" in w.result.value and "quorum" in w.result.value
    assert len(quiz_widget().children) == len(QUESTIONS) + 1  # the score, then the questions


def test_a_wrong_answer_says_what_is_wrong_then_the_answer_comes_after_a_second_try():
    w = question_widget("scale", 2)
    w.input.value = "docker service scale myservice=7"
    assert "not quite" in w.result.value and "Try again" in w.result.value
    assert "options or arguments" in w.result.value
    assert "The answer" not in w.result.value and "orchestrator" not in w.result.value
    w.input.value = "docker node ls"
    assert "is not the command that does this" in w.result.value
    assert "The answer" in w.result.value and "docker service update --replicas 8" in w.result.value
    w.input.value = "docker service scale myservice=8"
    assert "right" in w.result.value and w.right
    m = question_widget("stack-ps")
    m.show_answer()
    assert "The answer" in m.result.value and m.revealed and not m.right


def test_the_quiz_keeps_a_score_and_its_check_wants_every_answer_right():
    from swarmlab.check import CheckFailed
    quiz = quiz_widget(["scale", "swarm-init"])
    assert "0 of 2 right" in quiz.score.value
    with pytest.raises(CheckFailed, match="2 of 2 questions are not answered right yet: 1, 2"):
        quiz.done()
    quiz.questions[0].input.value = "docker service scale myservice=8"
    assert "1 of 2 right" in quiz.score.value
    with pytest.raises(CheckFailed, match="1 of 2 .*: 2 "):
        quiz.done()
    quiz.questions[1].input.value = "docker swarm init"
    quiz.done()
    assert "2 of 2 right" in quiz.score.value
