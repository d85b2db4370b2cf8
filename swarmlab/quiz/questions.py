"""The course's quiz, every question, as data.

The text is the course's own (French where the course is French, with an
English translation beside it). Answers and explanations live here, not in the
notebooks. Kinds:
- `single`: one choice is right (`correct` holds its index);
- `multiple`: tick every right box (`correct` holds all their indices);
- `command`: type a command; any of `accepted` matches, spelled any way Docker
  (or swarmlab) reads the same (see `commands.py`); options in `allow_extra`
  may be added;
- `option`: type an option; it may be given alone or inside a whole command;
- `text`: type a short answer (a path), compared after trimming.
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Choice:
    text: str
    text_en: str | None = None  # the translation, when `text` is French


@dataclass(frozen=True, slots=True)
class Question:
    id: str
    section: str  # the course section it tests
    text: str  # as the course asks it
    kind: str
    explanation: str
    text_en: str | None = None  # translation, or a precision the course leaves implicit
    choices: tuple[Choice, ...] = ()
    correct: tuple[int, ...] = ()
    accepted: tuple[str, ...] = ()
    allow_extra: frozenset[str] = frozenset()
    explanation_fr: str | None = None  # the course's own explanation, in French


Q = Question
QUESTIONS: tuple[Question, ...] = (
    Q("swarm-init", "Commands", "Which command to create a Swarm?", "command",
      accepted=("docker swarm init",),
      allow_extra=frozenset({"--advertise-addr", "--listen-addr", "--data-path-addr",
                             "--autolock", "--default-addr-pool"}),
      explanation="`docker swarm init` turns this Docker engine into the first manager (and "
                  "leader) of a new swarm, and prints the `docker swarm join` command for "
                  "workers. Add `--advertise-addr` when the machine has several addresses."),
    Q("scale", "Service", "Which command to update replicas of a deployed service?", "command",
      text_en="Which command sets the deployed service `myservice` to 8 replicas?",
      accepted=("docker service update --replicas 8 myservice",
                "docker service scale myservice=8"),
      allow_extra=frozenset({"--detach", "--quiet"}),
      explanation="Both `docker service scale myservice=8` and `docker service update "
                  "--replicas 8 myservice` change the service's desired replica count; the "
                  "orchestrator then starts (or stops) tasks until 8 run. `scale` is the short "
                  "form and can scale several services at once."),
    Q("join-token-manager", "Commands", "Which command to get token to add a node as manager?",
      "command", accepted=("docker swarm join-token manager",),
      allow_extra=frozenset({"--quiet"}),
      explanation="`docker swarm join-token manager`, run on a manager, prints the `docker "
                  "swarm join --token SWMTKN-...` command that makes another engine join as a "
                  "manager (`join-token worker` for a worker; `-q` prints the token only)."),
    Q("drain", "Node", "What do this command `docker node update --availability drain node3`?",
      "single",
      choices=(Choice("node3 leaves the swarm"),
               Choice("Containers on this node will be stopped and re-scheduled on other nodes"),
               Choice("node3 keeps its containers but gets no new task"),
               Choice("node3 is promoted to manager")),
      correct=(1,),
      explanation="Drain: the managers assign no new task to node3 and stop the tasks running "
                  "there; their services' orchestrators start replacements on other nodes. "
                  "Keeping the running tasks while refusing new ones is `pause`."),
    Q("paused", "Node", "Does the availability of a node can be `paused`?", "single",
      text_en="Can a node's availability be `paused`?",
      choices=(Choice("Yes, `paused` is one of the availabilities"),
               Choice("No, it can be `pause`"),
               Choice("No, a node is only `active` or `drain`")),
      correct=(1,),
      explanation="The availabilities are `active`, `pause` and `drain`: the value is "
                  "`pause` (`docker node update --availability pause node2`), not `paused`."),
    Q("managers-production", "Fault tolerance",
      "Count of managers is recommended for a Swarm in production?", "single",
      choices=(Choice("1"), Choice("2"), Choice("3"), Choice("4")), correct=(2,),
      explanation="3. A swarm of 3 managers tolerates the loss of one manager, because the "
                  "quorum of 2 is still there for the votes. Using 4 managers would change "
                  "nothing: their quorum of 3 also tolerates the loss of a single manager.",
      explanation_fr="Un Swarm comportant 3 managers tolère la panne d'un manager car le quorum "
                     "de 2 sera présent pour les décisions de vote. Utiliser 4 managers ne "
                     "changerait rien car le quorum de 3 tolèrerait également la panne d'un "
                     "seul manager."),
    Q("datacenters", "Fault tolerance",
      "Dans le cadre d'un Swarm composé de 7 managers et réparti sur 3 datacenters, quelle est "
      "la répartition recommandée pour les managers ?", "single",
      text_en="For a swarm of 7 managers spread over 3 datacenters, what is the recommended "
              "distribution of the managers?",
      choices=(Choice("3-2-2"), Choice("4-2-1"), Choice("5-1-1"), Choice("4-3-0")),
      correct=(0,),
      explanation="3-2-2. 7 managers need a quorum of 4. Losing any one datacenter of a 3-2-2 "
                  "split leaves 4 or 5 managers, still a quorum. With 4-2-1, 5-1-1 or 4-3-0, "
                  "losing the biggest datacenter leaves 3 or fewer: the swarm can no longer "
                  "elect a leader nor change anything.",
      explanation_fr="3-2-2 : avec 7 managers le quorum est de 4 ; la perte de n'importe quel "
                     "datacenter laisse au moins 4 managers."),
    Q("stack-ps", "Stack",
      "Get services status of a stack deployed with `docker stack deploy -c docker-stack.yml "
      "app`?", "multiple",
      text_en="Tick every command that shows the status of the services (their tasks) of the "
              "stack `app`.",
      choices=(Choice("`docker stack ls`"), Choice("`docker stack ls app`"),
               Choice("`docker stack ps app`"), Choice("`docker services ls`")),
      correct=(2,),
      explanation="`docker stack ps app` lists the tasks of the stack's services with their "
                  "node, desired and current state. `docker stack ls` lists stacks (it takes no "
                  "stack name), and there is no `docker services` command (`docker service ls` "
                  "would list every service, without their tasks' status)."),
    Q("secret-add", "Secret", "Command to get access to the secret `TOKEN` for the service `api`?",
      "command", accepted=("docker service update --secret-add TOKEN api",),
      allow_extra=frozenset({"--detach", "--quiet"}),
      explanation="`docker service update --secret-add TOKEN api` gives the service the secret; "
                  "its tasks are replaced and the new containers read it in "
                  "`/run/secrets/TOKEN`. `--secret-rm TOKEN` takes it away."),
    Q("update-config", "Service",
      "`docker service update --update-delay 10s --update-parallelism 2 api`?", "single",
      text_en="What does `docker service update --update-delay 10s --update-parallelism 2 api` "
              "do?",
      choices=(
          Choice("Lors d'une mise à jour du service api, les replicas seront mis à jour 2 par 2, "
                 "toutes les 10 secondes",
                 "When the service api is updated, its replicas will be updated 2 at a time, "
                 "every 10 seconds"),
          Choice("Le service api est mis à jour 2 fois, à 10 secondes d'intervalle",
                 "The service api is updated twice, 10 seconds apart"),
          Choice("Le service api passe à 2 replicas dans 10 secondes",
                 "The service api is scaled to 2 replicas in 10 seconds"),
          Choice("Tous les replicas de api redémarrent maintenant, 2 par 2",
                 "All replicas of api restart now, 2 at a time")),
      correct=(0,),
      explanation="It changes the service's update policy (UpdateConfig): the next rolling "
                  "update (a new image, for instance) replaces the replicas 2 by 2 and waits 10 "
                  "s between batches. Changing only the policy restarts no task.",
      explanation_fr="Lors d'une mise à jour du service api, les replicas seront mis à jour 2 "
                     "par 2, toutes les 10 secondes."),
    Q("global-mode", "Service", "Option to launch a service with a replica on each node?",
      "option", accepted=("--mode global",),
      explanation="`--mode global` (for example `docker service create --mode global "
                  "--name agent IMAGE`): one task on every node that matches the service's "
                  "constraints, including nodes that join later. The default is "
                  "`--mode replicated` with `--replicas N`."),
    Q("create-nginx", "Service",
      "Launch a service, with the image `nginx`, publish on port `80` from `8080` of each node, "
      "with 3 replicas?", "command",
      text_en="Which command launches a service from the image `nginx` with 3 replicas, "
              "publishing port 8080 of every node to port 80 of the containers?",
      accepted=("docker service create --replicas=3 --publish 8080:80 nginx",),
      allow_extra=frozenset({"--name", "--detach", "--quiet"}),
      explanation="`docker service create --replicas=3 --publish 8080:80 nginx` (`-p` can "
                  "replace `--publish`; the published port comes first, then the container's). "
                  "Through the routing mesh, port 8080 answers on every node, even nodes that "
                  "run no replica."),
    Q("state-dir", "Node", "Where is the swarm state stored in a manager node?", "text",
      accepted=("/var/lib/docker/swarm",),
      explanation="In `/var/lib/docker/swarm`: the manager's Raft log and snapshots (encrypted) "
                  "and its certificates. Back it up to restore a swarm."),
)

BY_ID: dict[str, Question] = {q.id: q for q in QUESTIONS}
