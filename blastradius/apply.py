"""``rotate --apply``: execute the containment calls the rotation plan marks as safe to automate.

The plan decides *what* (``RotationStep.actions``, from ``automate = ...`` in rotation.toml); this module
only executes, in plan order, each call idempotently:

* ``iam:UpdateAccessKey`` Status=Inactive — deactivate, never delete (the key id ties the evidence
  together; "Manage access keys for IAM users"). Already inactive: nothing to do.
* ``iam:PutUserPolicy`` / ``iam:PutRolePolicy`` — the deny-sessions-issued-before-now inline policy of
  "Revoke IAM role temporary security credentials" (``aws:TokenIssueTime`` DateLessThan the cut-off).
  The same document already attached, or the same revocation with another cut-off: left unchanged
  (moving the cut-off later would also cut legitimate sessions started since).
* ``iam:TagUser`` — the access key's description (a user tag keyed by the key id, "Permissions required
  to manage access keys") set to "COMPROMISED ...". Already so described: nothing to do.

Every call (checks and writes) and every outcome is appended to a local audit log (JSON lines, mode
0600). The first failure stops the run; ``ApplyResult.statement()`` says what was and was not done.
Progress goes to an observer: this module never prints.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import stat
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from botocore.exceptions import BotoCoreError, ClientError

from blastradius.aws import error_code, error_message
from blastradius.report import ApplyAction, RotationStep

CHANGED = "changed"
UNCHANGED = "unchanged"
FAILED = "failed"


@dataclass(frozen=True, slots=True, kw_only=True)
class Outcome:
    """What one action did."""

    step: int
    step_id: str
    action: ApplyAction
    result: str  # changed | unchanged | failed
    detail: str
    error_code: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class ApplyResult:
    """All outcomes in order; ``not_done`` are the actions after a failure (never attempted)."""

    outcomes: tuple[Outcome, ...]
    not_done: tuple[tuple[RotationStep, ApplyAction], ...] = ()
    audit_log: Path | None = None

    @property
    def failed(self) -> Outcome | None:
        """The failed action, if one stopped the run."""
        return next((o for o in self.outcomes if o.result == FAILED), None)

    @property
    def changed_anything(self) -> bool:
        """Whether any call changed the account."""
        return any(o.result == CHANGED for o in self.outcomes)

    def statement(self) -> str:
        """What was and was not done, in words, for the responder and the incident file."""
        lines: list[str] = []
        done = [o for o in self.outcomes if o.result != FAILED]
        failed = self.failed
        if failed is not None:
            lines.append(
                f"STOPPED at step {failed.step} ({failed.step_id}): {failed.action.operation} on "
                f"{failed.action.target} failed: {failed.detail}"
            )
        if done:
            lines.append("Done:" if failed is not None else "Containment applied:")
            lines.extend(f"  - {o.action.description}: {o.detail}" for o in done)
        if failed is not None:
            lines.append("NOT done:")
            lines.append(f"  - {failed.action.description} (failed)")
            lines.extend(f"  - {a.description} (not attempted)" for _, a in self.not_done)
        elif not self.changed_anything and done:
            lines.append("Nothing changed: every containment step was already in place.")
        if self.audit_log is not None:
            lines.append(f"Audit log: {self.audit_log}")
        return "\n".join(lines)


class ApplyObserver(Protocol):
    """Progress callbacks (the CLI prints them)."""

    def on_action(self, step: RotationStep, action: ApplyAction) -> None: ...

    def on_outcome(self, outcome: Outcome) -> None: ...


def automatable(plan: Sequence[RotationStep]) -> list[tuple[RotationStep, ApplyAction]]:
    """The (step, action) pairs ``apply`` would execute, in plan order."""
    return [(step, action) for step in plan for action in step.actions]


def default_audit_log(key_id: str) -> Path:
    """``./blastradius-apply-KEYID.jsonl``: next to the responder's other incident files."""
    return Path(f"blastradius-apply-{key_id}.jsonl")


class AuditLog:
    """Append-only JSON lines, created 0600 (it names the account's users, roles and policies)."""

    def __init__(self, path: Path, run_id: str, clock: Callable[[], dt.datetime]) -> None:
        self.path = path
        self.run_id = run_id
        self._clock = clock
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        if stat.S_ISREG(os.fstat(fd).st_mode):
            os.fchmod(fd, 0o600)  # an existing log too; never a device or FIFO the user pointed us at
        self._fh = os.fdopen(fd, "a", encoding="utf-8")

    def write(self, record: Mapping[str, Any]) -> None:
        """One line, flushed at once (a crash must not lose what was already done)."""
        line = {"time": self._clock().strftime("%Y-%m-%dT%H:%M:%S.%fZ"), "run_id": self.run_id, **record}
        self._fh.write(json.dumps(line, sort_keys=False) + "\n")
        self._fh.flush()

    def close(self) -> None:
        """Close the file."""
        self._fh.close()


@dataclass
class _Failed(Exception):
    code: str
    message: str
    extra: dict[str, Any] = field(default_factory=dict)


class _Executor:
    def __init__(self, iam: Any, log: AuditLog) -> None:
        self.iam = iam
        self.log = log

    def call(self, operation: str, **params: Any) -> Any:
        """One IAM call, logged with its result; a failure raises ``_Failed``."""
        method = getattr(self.iam, _snake(operation))
        try:
            response = method(**params)
        except (ClientError, BotoCoreError) as e:
            self.log.write(
                {
                    "type": "call",
                    "call": f"iam:{operation}",
                    "parameters": params,
                    "ok": False,
                    "error_code": error_code(e),
                    "error": error_message(e),
                }
            )
            raise _Failed(error_code(e), error_message(e)) from e
        self.log.write({"type": "call", "call": f"iam:{operation}", "parameters": params, "ok": True})
        return response

    def run(self, action: ApplyAction) -> tuple[str, str]:
        p = dict(action.parameters)
        if action.operation == "iam:UpdateAccessKey":
            return self._deactivate(p)
        if action.operation in ("iam:PutUserPolicy", "iam:PutRolePolicy"):
            return self._deny_policy(action.operation, p)
        if action.operation == "iam:TagUser":
            return self._tag(p)
        raise _Failed("UnsupportedAction", f"{action.operation} is not an action rotate --apply executes")

    def _deactivate(self, p: dict[str, str]) -> tuple[str, str]:
        keys = self.call("ListAccessKeys", UserName=p["UserName"]).get("AccessKeyMetadata", [])
        key = next((k for k in keys if k["AccessKeyId"] == p["AccessKeyId"]), None)
        if key is None:
            raise _Failed("NoSuchEntity", f"user {p['UserName']} has no access key {p['AccessKeyId']}")
        if key["Status"] == "Inactive":
            return UNCHANGED, "already inactive"
        self.call("UpdateAccessKey", UserName=p["UserName"], AccessKeyId=p["AccessKeyId"], Status="Inactive")
        return CHANGED, "deactivated (not deleted)"

    def _deny_policy(self, operation: str, p: dict[str, str]) -> tuple[str, str]:
        who = {"UserName": p["UserName"]} if "UserName" in p else {"RoleName": p["RoleName"]}
        get = "GetUserPolicy" if operation == "iam:PutUserPolicy" else "GetRolePolicy"
        wanted = json.loads(p["PolicyDocument"])
        try:
            existing = self.call(get, PolicyName=p["PolicyName"], **who)["PolicyDocument"]
        except _Failed as e:
            if e.code != "NoSuchEntity":
                raise
            existing = None
        if isinstance(existing, str):
            existing = json.loads(existing)
        if existing is not None:
            if existing == wanted:
                return UNCHANGED, "policy already attached with the same document"
            cutoff = _revocation_cutoff(existing)
            if cutoff is not None and _revocation_cutoff(wanted) is not None:
                return UNCHANGED, (
                    f"policy already attached, denying sessions issued before {cutoff}; left unchanged "
                    "(a later cut-off would also end legitimate sessions started since)"
                )
        self.call(
            operation.split(":", 1)[1], PolicyName=p["PolicyName"], PolicyDocument=p["PolicyDocument"], **who
        )
        if existing is not None:
            return CHANGED, f"replaced a different document of inline policy {p['PolicyName']}"
        return CHANGED, f"inline policy {p['PolicyName']} attached"

    def _tag(self, p: dict[str, str]) -> tuple[str, str]:
        tags = self.call("ListUserTags", UserName=p["UserName"]).get("Tags", [])
        current = next((t["Value"] for t in tags if t["Key"] == p["TagKey"]), None)
        if current is not None and current.startswith("COMPROMISED"):
            return UNCHANGED, f"key already described as compromised ({current!r})"
        value = p["TagValue"]
        if current:
            value = f"{value} - was: {current}"[:256]  # keep the owner's description after ours
        self.call("TagUser", UserName=p["UserName"], Tags=[{"Key": p["TagKey"], "Value": value}])
        return CHANGED, "key described as compromised"


def _revocation_cutoff(document: Mapping[str, Any]) -> str | None:
    """The cut-off of a revoke-older-sessions policy (Deny * on * if aws:TokenIssueTime < T), else None."""
    statements = document.get("Statement")
    if isinstance(statements, dict):
        statements = [statements]
    if not isinstance(statements, list) or len(statements) != 1:
        return None
    (s,) = statements
    if not isinstance(s, dict) or s.get("Effect") != "Deny":
        return None
    if s.get("Action") not in ("*", ["*"]) or s.get("Resource") not in ("*", ["*"]):
        return None
    condition = (s.get("Condition") or {}).get("DateLessThan") or {}
    value = next((v for k, v in condition.items() if k.lower() == "aws:tokenissuetime"), None)
    return value if isinstance(value, str) else None


def _snake(operation: str) -> str:
    out = []
    for i, ch in enumerate(operation):
        if ch.isupper() and i:
            out.append("_")
        out.append(ch.lower())
    return "".join(out)


def apply_plan(
    plan: Sequence[RotationStep],
    iam: Any,
    *,
    audit_log: Path,
    key_id: str,
    observer: ApplyObserver | None = None,
    clock: Callable[[], dt.datetime] | None = None,
) -> ApplyResult:
    """Execute the plan's automatable actions with the IAM client ``iam``; stop at the first failure."""
    now = clock or (lambda: dt.datetime.now(dt.UTC))
    todo = automatable(plan)
    log = AuditLog(audit_log, uuid.uuid4().hex, now)
    outcomes: list[Outcome] = []
    not_done: list[tuple[RotationStep, ApplyAction]] = []
    executor = _Executor(iam, log)
    try:
        log.write({"type": "start", "key_id": key_id, "actions": [a.to_json() for _, a in todo]})
        for index, (step, action) in enumerate(todo):
            if observer is not None:
                observer.on_action(step, action)
            try:
                result, detail = executor.run(action)
                code = None
            except _Failed as e:
                result, detail, code = FAILED, f"{e.code}: {e.message}", e.code
            outcome = Outcome(
                step=step.step, step_id=step.id, action=action, result=result, detail=detail, error_code=code
            )
            outcomes.append(outcome)
            log.write(
                {
                    "type": "action",
                    "step": step.step,
                    "step_id": step.id,
                    "operation": action.operation,
                    "target": action.target,
                    "result": result,
                    "detail": detail,
                    "error_code": code,
                }
            )
            if observer is not None:
                observer.on_outcome(outcome)
            if result == FAILED:
                not_done = todo[index + 1 :]
                break
        result_obj = ApplyResult(outcomes=tuple(outcomes), not_done=tuple(not_done), audit_log=audit_log)
        log.write(
            {
                "type": "end",
                "status": "failed" if result_obj.failed else "ok",
                "changed": sum(1 for o in outcomes if o.result == CHANGED),
                "unchanged": sum(1 for o in outcomes if o.result == UNCHANGED),
                "not_done": [a.to_json() for _, a in not_done],
            }
        )
    finally:
        log.close()
    return result_obj
