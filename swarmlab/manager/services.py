"""Service, secret and config operations with Docker's validation, on a write transaction.

Everything is checked before anything is written, so a refused request changes nothing.
An update keeps the old spec as `PreviousSpec` and, when the task template (or
`ForceUpdate`) changed, starts a rolling update (`UpdateStatus` updating); a rollback
swaps `Spec` and `PreviousSpec` (`rollback_started`, "manually requested rollback").
"""
from __future__ import annotations

import dataclasses
import re

from ..objects import (
    AlreadyExists, Config, ConfigSpec, FailedPrecondition, InvalidArgument, JobIteration,
    JobStatus, PublishMode, Secret, SecretSpec, SequenceError, Service, ServiceSpec,
    TaskState, Unimplemented, UpdateState, UpdateStatus, Endpoint,
)
from ..scheduler import parse_all
from ..store import ReadTx, WriteTx

_DNS_NAME = re.compile(r"^[a-zA-Z0-9](?:[-_]*[A-Za-z0-9]+)*$")
NAME_CONFLICT = "name conflicts with an existing object"


def validate_service_spec(tx: ReadTx, spec: ServiceSpec, service_id: str = "") -> None:
    """Docker's checks on a service spec; raise InvalidArgument (or AlreadyExists)."""
    if not spec.name or len(spec.name) > 63 or not _DNS_NAME.match(spec.name):
        raise InvalidArgument("name must be valid as a DNS name component")
    container = spec.task_template.container_spec
    if container is None or not container.image:
        raise InvalidArgument("ContainerSpec: image reference must be provided")
    modes = [m for m in (spec.mode.replicated, spec.mode.global_, spec.mode.replicated_job,
                         spec.mode.global_job) if m is not None]
    if len(modes) != 1:
        raise InvalidArgument("exactly one service mode must be set")
    if spec.mode.replicated is not None and spec.mode.replicated.replicas < 0:
        raise InvalidArgument("replicas cannot be negative")
    placement = spec.task_template.placement
    if placement is not None:
        parse_all(placement.constraints)
        if placement.max_replicas < 0:
            raise InvalidArgument("max replicas cannot be negative")
    for cfg in (spec.update_config, spec.rollback_config):
        if cfg is not None and not 0 <= cfg.max_failure_ratio <= 1:
            raise InvalidArgument("UpdateConfig: max failure ratio must be between 0 and 1")
    for other in tx.services():
        if other.id != service_id and other.spec.name == spec.name:
            raise AlreadyExists(NAME_CONFLICT)
    _check_references(tx, spec)
    _check_ingress_ports(tx, spec, service_id)


def _check_references(tx: ReadTx, spec: ServiceSpec) -> None:
    container = spec.task_template.container_spec
    assert container is not None
    secrets = {s.id for s in tx.secrets()}
    for ref in container.secrets:
        if ref.secret_id not in secrets:
            raise InvalidArgument(f"secret not found: {ref.secret_name or ref.secret_id}")
    configs = {c.id for c in tx.configs()}
    for ref in container.configs:
        if ref.config_id not in configs:
            raise InvalidArgument(f"config not found: {ref.config_name or ref.config_id}")


def _check_ingress_ports(tx: ReadTx, spec: ServiceSpec, service_id: str) -> None:
    if spec.endpoint_spec is None:
        return
    wanted = {(p.protocol, p.published_port) for p in spec.endpoint_spec.ports
              if p.publish_mode == PublishMode.INGRESS and p.published_port}
    for other in tx.services():
        if other.id == service_id or other.endpoint is None:
            continue
        for p in other.endpoint.ports:  # as published (dynamic ports included)
            if p.publish_mode == PublishMode.INGRESS and (p.protocol, p.published_port) in wanted:
                raise InvalidArgument(
                    f"port '{p.published_port}' is already in use by service "
                    f"'{other.spec.name}' ({other.id}) as an ingress port")


#: Docker's range for ingress ports published without a number (`-p 80`)
DYNAMIC_PORTS = range(30000, 32768)


def endpoint_for(tx: ReadTx, spec: ServiceSpec, service_id: str) -> Endpoint | None:
    """The service's endpoint: its ports, with a free published port from Docker's
    dynamic range for every ingress port the user left unnumbered."""
    if spec.endpoint_spec is None:
        return None
    used = {(p.protocol, p.published_port) for s in tx.services() if s.id != service_id
            and s.endpoint is not None for p in s.endpoint.ports}
    used |= {(p.protocol, p.published_port) for p in spec.endpoint_spec.ports}
    ports = []
    for p in spec.endpoint_spec.ports:
        if p.publish_mode == PublishMode.INGRESS and not p.published_port:
            free = next((n for n in DYNAMIC_PORTS if (p.protocol, n) not in used), None)
            if free is None:
                raise InvalidArgument("no more ports available in the dynamic range")
            used.add((p.protocol, free))
            p = dataclasses.replace(p, published_port=free)
        ports.append(p)
    return Endpoint(spec=spec.endpoint_spec, ports=tuple(ports))


def create_service(tx: WriteTx, service_id: str, spec: ServiceSpec) -> Service:
    validate_service_spec(tx, spec)
    job = JobStatus(job_iteration=JobIteration(0)) if spec.mode.is_job else None
    endpoint = endpoint_for(tx, spec, service_id)
    return tx.create(Service(id=service_id, spec=spec, endpoint=endpoint,  # type: ignore[return-value]
                             job_status=job))


def update_service(tx: WriteTx, ref: str, version: int, spec: ServiceSpec,
                   now_ns: int) -> Service:
    service: Service = tx.lookup("service", ref)  # type: ignore[assignment]
    if service.version.index != version:
        raise SequenceError()
    validate_service_spec(tx, spec, service.id)
    if _mode_kind(spec) != _mode_kind(service.spec):
        raise Unimplemented("service mode change is not allowed")
    if spec.name != service.spec.name:
        raise Unimplemented("renaming services is not supported")
    # swarmkit resets UpdateStatus on every spec update (a scale after a rollback no
    # longer reports it); its updater then starts anew if any slot is out of date: the
    # spec's tasks changed, or an update or rollback was under way or paused
    changes: dict = {"spec": spec, "previous_spec": service.spec, "update_status": None}
    unfinished = service.update_status is not None and service.update_status.state in (
        UpdateState.UPDATING, UpdateState.ROLLBACK_STARTED, UpdateState.PAUSED,
        UpdateState.ROLLBACK_PAUSED)
    if unfinished or spec.task_template != service.spec.task_template or \
            spec.endpoint_spec != service.spec.endpoint_spec:
        if spec.mode.is_job:
            index = service.job_status.job_iteration.index + 1 if service.job_status else 0
            changes["job_status"] = JobStatus(job_iteration=JobIteration(index),
                                              last_execution=now_ns)
        else:
            changes["update_status"] = UpdateStatus(
                state=UpdateState.UPDATING, started_at=now_ns, message="update in progress")
    if spec.endpoint_spec != service.spec.endpoint_spec:
        changes["endpoint"] = endpoint_for(tx, spec, service.id)
    return tx.update(service.replace(**changes))  # type: ignore[return-value]


def _mode_kind(spec: ServiceSpec) -> str:
    mode = spec.mode
    return ("replicated" if mode.replicated else "global" if mode.global_ else
            "replicated-job" if mode.replicated_job else "global-job")


def rollback_service(tx: WriteTx, ref: str, version: int, now_ns: int) -> Service:
    """Server-side rollback (`docker service rollback`, `update --rollback`)."""
    service: Service = tx.lookup("service", ref)  # type: ignore[assignment]
    if service.version.index != version:
        raise SequenceError()
    if service.previous_spec is None:
        raise FailedPrecondition(f"service {service.id} does not have a previous spec")
    status = UpdateStatus(state=UpdateState.ROLLBACK_STARTED, started_at=now_ns,
                          message="manually requested rollback")
    return tx.update(service.replace(spec=service.previous_spec,  # type: ignore[return-value]
                                     previous_spec=service.spec, update_status=status))


def remove_service(tx: WriteTx, ref: str) -> Service:
    service: Service = tx.lookup("service", ref)  # type: ignore[assignment]
    for task in tx.tasks(service.id):
        if task.desired_state < TaskState.REMOVE:
            tx.update(task.replace(desired_state=TaskState.REMOVE))
    tx.remove(service)
    return service


def create_secret(tx: WriteTx, secret_id: str, spec: SecretSpec) -> Secret:
    _check_name("secret", spec.name, [s.spec.name for s in tx.secrets()])
    return tx.create(Secret(id=secret_id, spec=spec))  # type: ignore[return-value]


def create_config(tx: WriteTx, config_id: str, spec: ConfigSpec) -> Config:
    _check_name("config", spec.name, [c.spec.name for c in tx.configs()])
    return tx.create(Config(id=config_id, spec=spec))  # type: ignore[return-value]


def _check_name(kind: str, name: str, taken: list[str]) -> None:
    if not name:
        raise InvalidArgument(f"{kind} name must be provided")
    if name in taken:
        raise AlreadyExists(NAME_CONFLICT)


def remove_secret_or_config(tx: WriteTx, kind: str, ref: str) -> None:
    obj = tx.lookup(kind, ref)
    users = sorted(s.spec.name for s in tx.services()
                   if obj.id in _referenced(s.spec, kind))
    if users:
        raise InvalidArgument(f"{kind} '{obj.spec.name}' is in use by the following service: "  # type: ignore[attr-defined]
                              f"{', '.join(users)}")
    tx.remove(obj)


def _referenced(spec: ServiceSpec, kind: str) -> set[str]:
    c = spec.task_template.container_spec
    if c is None:
        return set()
    if kind == "secret":
        return {r.secret_id for r in c.secrets}
    return {r.config_id for r in c.configs}
