"""Loading compose files: YAML, schema validation, interpolation, Docker's messages."""
from __future__ import annotations

import textwrap

import pytest

from swarmlab import stack
from swarmlab.stack import ComposeError


def compose(body: str) -> str:
    return textwrap.dedent(body).lstrip()


def refused(text: str, env: dict | None = None) -> ComposeError:
    with pytest.raises(ComposeError) as e:
        stack.load(text, env=env or {})
    return e.value


def test_samples_load_clean():
    for name in ("vote", "metrics"):
        project = stack.load(stack.sample_path(name), env={})
        assert project.version == "3.8"
        assert project.unsupported == () and project.warnings == ()
    vote = stack.load(stack.sample_path("vote"), env={})
    assert set(vote.services) == {"kv", "vote", "result", "worker"}


def test_schema_error_names_file_line_and_key(tmp_path):
    path = tmp_path / "bad.yml"
    path.write_text(compose("""
        version: "3.8"
        services:
          web:
            image: swarmlab/web:1
            deploy:
              replicas: many
    """))
    with pytest.raises(ComposeError) as e:
        stack.load(path, env={})
    err = e.value
    assert (err.file, err.line, err.key) == (str(path), 6, "services.web.deploy.replicas")
    assert str(err) == f"{path}:6: services.web.deploy.replicas must be a integer"


def test_unknown_key_points_at_the_key():
    err = refused(compose("""
        version: "3.8"
        services:
          web:
            image: swarmlab/web:1
            deploy:
              replica: 2
    """))
    assert err.line == 6
    assert err.message == "services.web.deploy Additional property replica is not allowed"


def test_yaml_errors_have_lines():
    err = refused("version: '3.8'\nservices:\n  web:\n    image: [unclosed\n")
    assert err.file == "<string>" and err.line >= 4 and err.message.startswith("yaml:")
    err = refused("version: '3.8'\nservices:\n  web:\n    image: a\n    image: b\n")
    assert err.line == 5 and 'mapping key "image" already defined at line 4' in err.message
    err = refused("version: '3.8'\nservices:\n  80: {image: a}\n")
    assert "non-string key in services" in err.message
    assert refused("- just\n- a list\n").message == "Top-level object must be a mapping"
    assert refused("\n").message == "Top-level object must be a mapping"


def test_alias_bomb_is_refused_not_expanded():
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    lines += [f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 10) + "]" for i in range(1, 8)]
    err = refused("version: '3.8'\n" + "\n".join(lines) + "\nservices: {}\n")
    assert "document too large" in err.message


def test_versions():
    base = "services:\n  web:\n    image: swarmlab/web:1\n"
    assert stack.load("version: '3'\n" + base, env={}).version == "3.0"
    assert refused("version: 3.8\n" + base).message == "version must be a string"  # as Docker says
    assert stack.load("version: '3.9'\n" + base, env={}).version == "3.9"
    assert stack.load("services:\n  web:\n    image: swarmlab/web:1\n", env={}).version == ""
    assert refused("version: '2.4'\n" + base).message == "unsupported Compose file version: 2.4"
    # 3.0 has no `configs` (they came in 3.3): Docker's 3.0 schema refuses them
    err = refused("version: '3.0'\n" + base + "configs:\n  c:\n    file: x\n")
    assert "Additional property configs is not allowed" in err.message


def test_interpolation_as_docker_does_it():
    text = compose("""
        version: "3.8"
        services:
          web:
            image: "swarmlab/web:${TAG:-1}"
            environment:
              PLAIN: $HOME_DIR
              EMPTY_DEFAULT: "${EMPTY-unset}"
              DOLLAR: "$$NOT_A_VAR"
            deploy:
              replicas: ${REPLICAS}
    """)
    project = stack.load(text, env={"REPLICAS": "3", "HOME_DIR": "/h", "EMPTY": ""})
    web = project.services["web"]
    assert web["image"] == "swarmlab/web:1"
    assert web["deploy"]["replicas"] == 3  # cast to the integer the schema wants
    assert web["environment"] == {"PLAIN": "/h", "EMPTY_DEFAULT": "", "DOLLAR": "$NOT_A_VAR"}
    project = stack.load(text, env={"REPLICAS": "1", "TAG": "2"})
    assert project.services["web"]["image"] == "swarmlab/web:2"
    assert project.warnings == ("The HOME_DIR variable is not set. Defaulting to a blank string.",)


def test_interpolation_errors():
    err = refused("version: '3.8'\nservices:\n  web:\n    image: 'x${'\n")
    assert err.line == 4
    assert err.message == ('invalid interpolation format for services.web.image: "x${". '
                           "You may need to escape any $ with another $.")
    err = refused("version: '3.8'\nservices:\n  web:\n    image: '${TAG:?set TAG}'\n")
    assert "required variable TAG is missing a value: set TAG" in err.message
    err = refused("version: '3.8'\nservices:\n  web:\n    image: a\n    deploy:\n      replicas: ${N}\n",
                  env={"N": "two"})
    assert err.line == 6 and "error while interpolating services.web.deploy.replicas" in err.message


def test_environment_from_the_shell():
    text = "version: '3.8'\nservices:\n  web:\n    image: a\n    environment:\n      - FROM_SHELL\n      - SET=1\n"
    project = stack.load(text, env={"FROM_SHELL": "yes"})
    assert project.services["web"]["environment"] == {"FROM_SHELL": "yes", "SET": "1"}
    assert stack.load(text, env={}).services["web"]["environment"] == {"FROM_SHELL": None, "SET": "1"}


def test_unsupported_and_deprecated_options_are_reported_like_docker():
    project = stack.load(compose("""
        version: "3.8"
        services:
          web:
            image: swarmlab/web:1
            build: .
            privileged: true
            container_name: web
          db:
            image: swarmlab/kv:1
            restart: always
            cap_add: [NET_ADMIN]
    """), env={})
    assert project.unsupported == ("build", "cap_add", "privileged", "restart")
    assert project.deprecated == (("container_name", "Setting the container name is not supported."),)
    lines: list[str] = []
    plan_only = stack.plan(project, "s")
    assert "s_web" in plan_only.services
    from swarmlab.stack._deploy import _report_ignored
    _report_ignored(project, lines.append)
    assert lines[0] == "Ignoring unsupported options: build, cap_add, privileged, restart\n"
    assert lines[1] == "Ignoring deprecated options:\n\ncontainer_name: Setting the container name is not supported.\n"


def test_forbidden_options_refuse_the_file():
    err = refused("version: '3.8'\nservices:\n  web:\n    image: a\n    mem_limit: 1g\n")
    assert err.line == 5
    assert err.message == ("Compose file contains unsupported options:\n\n"
                           "mem_limit: Set resource limits using deploy.resources\n")


def test_semantic_errors_are_found_at_load(tmp_path):
    base = "version: '3.8'\nservices:\n  web:\n    image: a\n"
    assert 'undefined secret "s"' in refused(base + "    secrets: [s]\n").message
    assert 'undefined network "front"' in refused(base + "    networks: [front]\n").message
    assert "Invalid containerPort: abc" in refused(base + "    ports: ['8080:abc']\n").message
    assert "time: unknown unit" in refused(base + "    stop_grace_period: 10x\n").message \
        or "Does not match format 'duration'" in refused(base + "    stop_grace_period: 10x\n").message
    assert "invalid size" in refused(
        base + "    deploy:\n      resources:\n        limits:\n          memory: 12XB\n").message
    err = refused(base + "    deploy:\n      mode: global\n      replicas: 2\n")
    assert err.message.endswith("replicas can only be used with replicated or replicated-job mode")
    assert err.line == 7
    err = refused(base + "secrets:\n  s:\n    file: ./missing.txt\n")
    assert "missing.txt: No such file or directory" in err.message


def test_file_paths_and_lists(tmp_path):
    (tmp_path / "a.yml").write_text("version: '3.8'\nservices:\n  web:\n    image: swarmlab/web:1\n")
    (tmp_path / "b.yml").write_text("version: '3.8'\nservices:\n  web:\n    deploy:\n      replicas: 3\n")
    merged = stack.load([str(tmp_path / "a.yml"), str(tmp_path / "b.yml")], env={})
    assert merged.services["web"] == {"image": "swarmlab/web:1", "deploy": {"replicas": 3}}
    err = refused(str(tmp_path / "nope.yml"))
    assert err.message.startswith(f"open {tmp_path / 'nope.yml'}")
