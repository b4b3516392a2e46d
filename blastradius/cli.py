"""The ``blastradius`` command line: one small function per command, one error boundary, no logic.

Exit codes (``analyze``, ``audit``, ``demo``; the report is written whatever the code):

- 0 — done: nothing at or above ``--fail-on`` and, when ``--fail-on`` is set, coverage complete
  (``--fail-on none``, the default, always exits 0 on a produced report);
- 1 — a reachable dataset at or above ``--fail-on`` (``audit``: reached by an *active* key);
- 2 — usage error, or nothing useful could be produced (with a one-paragraph diagnosis);
- 3 — nothing at or above ``--fail-on`` found, but coverage is incomplete for a service whose gap
  could hide such a dataset (``Coverage.blind_spots``): not a verified "clean", named on stderr.

stdout carries the report only; progress, warnings and diagnostics go to stderr.
"""

from __future__ import annotations

import enum
import json
import logging
import shutil
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape

from blastradius import api
from blastradius.errors import BlastRadiusError, UsageError
from blastradius.keys import parse_access_key_id
from blastradius.model import Snapshot
from blastradius.render import GRAPH_FORMATS, RENDERERS, render
from blastradius.render.audit import AUDIT_RENDERERS, render_audit
from blastradius.report import Coverage, Report, sensitivity_rank

app = typer.Typer(
    name="blastradius",
    help="Leaked AWS access key → which data it can reach, by which path, and what to do now.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

err = Console(stderr=True, highlight=False)
log = logging.getLogger("blastradius")


class PathsMode(enum.StrEnum):
    """How many explaining paths per dataset: the first shortest one, or every one of equal cost."""

    first = "first"
    all = "all"


class FailOn(enum.StrEnum):
    """Sensitivity at or above which a reachable dataset makes the exit code 1."""

    high = "high"
    medium = "medium"
    low = "low"
    none = "none"


KeyOpt = Annotated[str, typer.Option("--key", "-k", help="The leaked access key id (AKIA… or ASIA…).")]
SnapshotOpt = Annotated[
    list[Path] | None,
    typer.Option(
        "--snapshot",
        help="Work offline on a saved snapshot (or raw `aws iam get-account-authorization-details` output); "
        "repeat to merge the snapshots of several accounts into one analysis.",
    ),
]
ProfileOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--profile", help="AWS profile of the auditor credentials (repeatable: one account per profile)."
    ),
]
RoleArnOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--role-arn",
        help="Also collect the account of this role, assumed with the auditor credentials (sts:AssumeRole; "
        "repeatable).",
    ),
]
RegionOpt = Annotated[
    list[str] | None, typer.Option("--region", help="Region to collect (repeatable; default: the session's).")
]
AllRegionsOpt = Annotated[bool, typer.Option("--all-regions", help="Collect every enabled region.")]
EndpointOpt = Annotated[
    str | None,
    typer.Option(
        "--endpoint-url",
        envvar="AWS_ENDPOINT_URL",
        help="Send every AWS call to this endpoint (e.g. a moto server).",
    ),
]
# What each command can print: ``rotate`` prints one report section (the runbook), which the graph
# exports do not have; ``audit`` has renderers of its own.
REPORT_FORMATS = tuple(RENDERERS)
RUNBOOK_FORMATS = tuple(f for f in RENDERERS if f not in GRAPH_FORMATS)
AUDIT_FORMATS = tuple(AUDIT_RENDERERS)


def _format_option(formats: tuple[str, ...]) -> Any:
    """``--format/-f`` whose help lists exactly ``formats``."""
    return typer.Option("--format", "-f", help=f"Output format: {', '.join(formats)}.")


FormatOpt = Annotated[str, _format_option(REPORT_FORMATS)]
RunbookFormatOpt = Annotated[str, _format_option(RUNBOOK_FORMATS)]
AuditFormatOpt = Annotated[str, _format_option(AUDIT_FORMATS)]
OutputOpt = Annotated[
    Path | None, typer.Option("--output", "-o", help="Write the report to FILE (mode 0600).")
]
FailOnOpt = Annotated[
    FailOn,
    typer.Option(
        "--fail-on",
        help="Exit 1 when a reachable dataset is at or above this sensitivity; exit 3 when none is found "
        "but coverage is incomplete (a gap could hide one).",
    ),
]
PathsOpt = Annotated[
    PathsMode,
    typer.Option("--paths", help="first: one shortest path per dataset; all: every path of equal best cost."),
]
PoliciesOpt = Annotated[
    Path | None, typer.Option("--policies", help="Directory of rule packs overriding the shipped ones.")
]
ContextOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--assume-context",
        help="Force a condition key's value, KEY=VALUE (repeatable), e.g. aws:SourceIp=10.0.0.5.",
    ),
]
DebugOpt = Annotated[bool, typer.Option("--debug", help="Log AWS calls and re-raise errors with tracebacks.")]
SecretStdinOpt = Annotated[
    bool,
    typer.Option(
        "--secret-stdin",
        help="Read the leaked secret from stdin (first line; optional second line: session token) and "
        "identify the key with sts:GetCallerIdentity. Never pass a secret as an argument.",
    ),
]
ExposedSinceOpt = Annotated[
    str | None,
    typer.Option(
        "--exposed-since",
        help="Start of the exposure window (ISO 8601 date or time) for the runbook's investigation steps; "
        "default: the key's creation date.",
    ),
]
PrincipalOpt = Annotated[
    str | None,
    typer.Option(
        "--principal",
        help="With --snapshot: the key's owner (user name or ARN) when the snapshot does not list the key, "
        "e.g. get-account-authorization-details output, which holds no access keys.",
    ),
]
SelfViewOpt = Annotated[
    bool,
    typer.Option(
        "--self-view",
        help="No auditor credentials: the LEAKED KEY reads what it can about itself (its own user or role "
        "and policies, read-only calls, each listed with its result) and that partial view is analysed. "
        "Needs --secret-stdin; every call shows in the key owner's CloudTrail.",
    ),
]
NoEvidenceOpt = Annotated[
    bool,
    typer.Option(
        "--no-evidence",
        help="Live: skip CloudTrail (what the key did) and the bounded object counts of sensitive buckets.",
    ),
]
EventsOpt = Annotated[
    Path | None,
    typer.Option(
        "--cloudtrail-events",
        help="With --snapshot: saved `aws cloudtrail lookup-events` output (JSON) as the key's evidence.",
    ),
]
ServicesOpt = Annotated[
    list[str] | None, typer.Option("--services", help="Collect only these services (repeatable).")
]
JobsOpt = Annotated[
    int | None,
    typer.Option(
        "--jobs", min=1, help="Processes the analysis may use (default: the CPUs available; same result)."
    ),
]


@contextmanager
def _boundary(debug: bool) -> Iterator[None]:
    """The one error boundary: a ``BlastRadiusError`` becomes a diagnosis on stderr and exit code 2."""
    root = logging.getLogger()
    handler: logging.Handler | None = None
    saved_level = root.level
    if debug:
        # A handler of our own, removed on the way out (basicConfig does nothing when the root logger
        # already has a handler, and would outlive the command when the app runs in-process).
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
        root.addHandler(handler)
        root.setLevel(logging.DEBUG)
        for noisy in ("botocore.hooks", "botocore.loaders", "urllib3"):
            logging.getLogger(noisy).setLevel(logging.INFO)
    try:
        yield
    except BlastRadiusError as e:
        if debug:
            raise
        # Escaped: diagnostics quote file names and policy text, which may hold "[...]" (rich markup).
        err.print(
            f"[bold red]error:[/] {escape(e.diagnostics())}", highlight=False, markup=True, soft_wrap=True
        )
        raise typer.Exit(2) from None
    except KeyboardInterrupt:
        err.print("interrupted")
        raise typer.Exit(130) from None
    finally:
        if handler is not None:
            root.removeHandler(handler)
            root.setLevel(saved_level)


def _check_format(fmt: str, formats: tuple[str, ...] = REPORT_FORMATS, what: str = "format") -> str:
    if fmt not in formats:
        raise UsageError(f"unknown {what} {fmt!r}", hint=f"Choose among: {', '.join(formats)}.")
    return fmt


def _parse_since(text: str | None) -> str | None:
    """Validate ``--exposed-since``: an ISO 8601 date or date-time, returned normalised to UTC."""
    if text is None:
        return None
    import datetime as dt

    try:
        when = dt.datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise UsageError(
            f"--exposed-since {text!r} is not an ISO 8601 date or time",
            hint="e.g. 2022-01-31 or 2022-01-31T08:00Z",
        ) from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    return when.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _parse_context(pairs: list[str] | None) -> dict[str, str]:
    out: dict[str, str] = {}
    for pair in pairs or ():
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise UsageError(f"--assume-context {pair!r} is not KEY=VALUE", hint="e.g. aws:SourceIp=10.0.0.5")
        out[key.strip()] = value.strip()
    return out


def _emit(report: Report, fmt: str, output: Path | None, *, only: str | None = None) -> None:
    """Render to stdout (colour and width of a TTY) or to a private file; ``only`` picks one section."""
    tty = output is None and sys.stdout.isatty()
    if fmt == "json":  # bytes as they are written: a 10,000-principal JSON report is 372 MB
        from blastradius.render.jsonfmt import render_json_bytes

        _write(render_json_bytes(report, only=only), output)
        return
    width = max(100, shutil.get_terminal_size().columns) if tty else None
    _write(render(report, fmt, color=tty, width=width, only=only), output)


def _write(text: str | bytes, output: Path | None) -> None:
    """The rendered text (or its UTF-8 bytes) to stdout, or to a private (0600) file with a note on
    stderr."""
    if output is None:
        if isinstance(text, bytes):
            sys.stdout.flush()
            sys.stdout.buffer.write(text)
            if not text.endswith(b"\n"):
                sys.stdout.buffer.write(b"\n")
            sys.stdout.buffer.flush()
            return
        sys.stdout.write(text)  # not ``text + "\n"``: a large report's text is hundreds of MB
        if not text.endswith("\n"):
            sys.stdout.write("\n")
        return
    api.write_private(output, text)
    err.print(f"report written to {output}", markup=False, soft_wrap=True)


EXIT_FINDINGS = 1
EXIT_INCOMPLETE = 3


def _exit_for(report: Report, fail_on: FailOn) -> None:
    """Exit 1 on a dataset at or above ``--fail-on``, else 3 when coverage could hide one."""
    if fail_on is FailOn.none:
        return
    threshold = sensitivity_rank(fail_on.value)
    if any(sensitivity_rank(d.sensitivity) >= threshold for d in report.datasets):
        raise typer.Exit(EXIT_FINDINGS)
    _exit_if_blind(report.coverage, fail_on)


def _exit_if_blind(coverage: Coverage, fail_on: FailOn) -> None:
    """Exit 3 when nothing at or above ``--fail-on`` was found but a gap could hide it (unknown ≠ clean)."""
    blind = coverage.blind_spots()
    if blind:
        err.print(
            f"no reachable dataset at or above --fail-on {fail_on.value} was found, but coverage is "
            f"incomplete for {', '.join(blind)}: not a verified clean result (exit {EXIT_INCOMPLETE}; "
            "the report's coverage section lists every gap).",
            markup=False,
            soft_wrap=True,
        )
        raise typer.Exit(EXIT_INCOMPLETE)


def _read_secret() -> api.LeakedCredentials:
    """First stdin line is the secret, an optional second the session token; never from argv."""
    if sys.stdin.isatty():
        import getpass

        secret = getpass.getpass("leaked secret access key (not echoed): ")
        token = None
    else:
        lines = sys.stdin.read().splitlines()
        secret = lines[0].strip() if lines else ""
        token = lines[1].strip() if len(lines) > 1 and lines[1].strip() else None
    if not secret:
        raise UsageError(
            "--secret-stdin was given but stdin held no secret", hint='echo "$SECRET" | blastradius …'
        )
    return api.LeakedCredentials.from_input(secret, token)


class _Progress:
    """Collection progress on stderr (rich), fed by the collector's observer callbacks."""

    def __init__(self) -> None:
        from rich.progress import BarColumn, Progress, TextColumn

        self._progress = Progress(
            TextColumn("collect"),
            BarColumn(),
            TextColumn("{task.completed}/{task.total} {task.description}"),
            console=err,
            transient=True,
            # A bar only makes sense on a terminal; in a pipe or CI log it would leave blank lines.
            disable=not err.is_terminal,
        )
        self._task = self._progress.add_task("", total=None)
        self.lines: list[str] = []

    def __enter__(self) -> _Progress:
        self._progress.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self._progress.__exit__(None, None, None)
        for line in self.lines:
            err.print(line, highlight=False)

    def set_total(self, total: int) -> None:
        self._progress.update(self._task, total=total)

    def on_start(self, service: str, region: str) -> None:
        self._progress.update(self._task, description=f"{service} {region}")

    def on_done(self, service: str, region: str, count: int, error: str | None) -> None:
        self._progress.advance(self._task)
        if error is None:
            mark = f"✓ {count}"
        elif error == "partial":
            mark = f"~ partial ({count} seen, some calls failed)"
        else:
            mark = f"✗ {error}"
        self.lines.append(f"  {service:<15} {region:<15} {mark}")


def _live_args(
    profile: list[str] | None,
    region: list[str] | None,
    all_regions: bool,
    endpoint_url: str | None,
    role_arn: list[str] | None = None,
) -> api.LiveOptions:
    return api.LiveOptions(
        profiles=tuple(profile or ()),
        role_arns=tuple(role_arn or ()),
        regions=tuple(region or ()),
        all_regions=all_regions,
        endpoint_url=endpoint_url or None,
    )


def _analyze(
    *,
    key: str,
    snapshot: list[Path] | None,
    profile: list[str] | None,
    region: list[str] | None,
    all_regions: bool,
    endpoint_url: str | None,
    secret_stdin: bool,
    policies: Path | None,
    assume_context: list[str] | None,
    principal: str | None = None,
    exposed_since: str | None = None,
    paths: str = "first",
    no_evidence: bool = False,
    cloudtrail_events: Path | None = None,
    role_arn: list[str] | None = None,
    self_view: bool = False,
    jobs: int | None = None,
) -> Report:
    overrides = _parse_context(assume_context)
    since = _parse_since(exposed_since)
    if self_view:
        if profile or all_regions or role_arn or cloudtrail_events is not None:
            raise UsageError(
                "--self-view uses no auditor credentials and no region discovery: drop --profile, "
                "--role-arn, --all-regions and --cloudtrail-events",
                hint="Name the regions to list data stores in with --region (repeatable).",
            )
        return _self_view(
            key, snapshot, principal, secret_stdin, region, endpoint_url, policies, overrides, since
        )
    if snapshot:
        if secret_stdin:
            raise UsageError("--secret-stdin needs live credentials; it cannot be combined with --snapshot")
        if role_arn:
            raise UsageError("--role-arn collects live; it cannot be combined with --snapshot")
        return api.analyze(
            key,
            snapshot=snapshot[0] if len(snapshot) == 1 else snapshot,
            policies=policies,
            context_overrides=overrides,
            principal=principal,
            exposed_since=since,
            paths=paths,
            events_file=cloudtrail_events,
            jobs=jobs,
        )
    if cloudtrail_events is not None:
        raise UsageError("--cloudtrail-events applies with --snapshot; live, CloudTrail is read directly")
    leaked = _read_secret() if secret_stdin else None
    if leaked is not None:
        err.print(
            "[yellow]warning:[/] identifying the key calls sts:GetCallerIdentity WITH THE LEAKED KEY; "
            "the call is recorded in the key owner's CloudTrail (and alerts an attacker watching it).",
            markup=True,
        )
    with _Progress() as progress:
        return api.analyze(
            key,
            live=_live_args(profile, region, all_regions, endpoint_url, role_arn),
            leaked=leaked,
            policies=policies,
            context_overrides=overrides,
            observer=progress,
            principal=principal,
            exposed_since=since,
            paths=paths,
            evidence=not no_evidence,
            jobs=jobs,
        )


def _self_view(
    key: str,
    snapshot: list[Path] | None,
    principal: str | None,
    secret_stdin: bool,
    region: list[str] | None,
    endpoint_url: str | None,
    policies: Path | None,
    overrides: dict[str, str],
    since: str | None,
) -> Report:
    """``analyze --self-view``: refuse what cannot combine, warn, then let the key look at itself."""
    if snapshot or principal is not None:
        raise UsageError("--self-view collects live as the leaked key; it cannot be combined with --snapshot")
    if not secret_stdin:
        raise UsageError(
            "--self-view acts as the leaked key and needs its secret: add --secret-stdin",
            hint='echo "$SECRET" | blastradius analyze --key AKIA… --self-view --secret-stdin',
        )
    parse_access_key_id(key)  # a malformed key id fails before the secret is read or any call made
    leaked = _read_secret()
    err.print(
        "[yellow]warning:[/] --self-view makes read-only calls AS THE LEAKED KEY (sts:GetCallerIdentity, "
        "iam:GetUser/GetRole and its policies, s3:ListBuckets, dynamodb:ListTables, "
        "secretsmanager:ListSecrets, ssm:DescribeParameters, kms:ListKeys); every one is recorded in the "
        "key owner's CloudTrail, updates the key's last-used date and may alert an attacker watching it. "
        "The result is PARTIAL: what the key "
        "could not read is unknown, not safe.",
        markup=True,
    )
    return api.analyze(
        key,
        live=api.LiveOptions(regions=tuple(region or ()), endpoint_url=endpoint_url or None),
        leaked=leaked,
        policies=policies,
        context_overrides=overrides,
        exposed_since=since,
        self_view=True,
    )


@app.command()
def analyze(
    key: KeyOpt,
    snapshot: SnapshotOpt = None,
    principal: PrincipalOpt = None,
    exposed_since: ExposedSinceOpt = None,
    profile: ProfileOpt = None,
    role_arn: RoleArnOpt = None,
    region: RegionOpt = None,
    all_regions: AllRegionsOpt = False,
    endpoint_url: EndpointOpt = None,
    secret_stdin: SecretStdinOpt = False,
    self_view: SelfViewOpt = False,
    fmt: FormatOpt = "table",
    output: OutputOpt = None,
    fail_on: FailOnOpt = FailOn.none,
    policies: PoliciesOpt = None,
    assume_context: ContextOpt = None,
    no_evidence: NoEvidenceOpt = False,
    cloudtrail_events: EventsOpt = None,
    debug: DebugOpt = False,
    paths: PathsOpt = PathsMode.first,
    jobs: JobsOpt = None,
) -> None:
    """Which data can this leaked key reach, by which path, did it touch it — and what to do now."""
    with _boundary(debug):
        _check_format(fmt)
        report = _analyze(
            key=key,
            snapshot=snapshot,
            profile=profile,
            region=region,
            all_regions=all_regions,
            endpoint_url=endpoint_url,
            secret_stdin=secret_stdin,
            policies=policies,
            assume_context=assume_context,
            principal=principal,
            exposed_since=exposed_since,
            paths=paths.value,
            no_evidence=no_evidence,
            cloudtrail_events=cloudtrail_events,
            role_arn=role_arn,
            self_view=self_view,
            jobs=jobs,
        )
        _emit(report, fmt, output)
    _exit_for(report, fail_on)


class _ApplyProgress:
    """``rotate --apply`` progress on stderr."""

    def on_action(self, step: object, action: object) -> None:
        del step, action

    def on_outcome(self, outcome: object) -> None:
        from blastradius.apply import Outcome

        assert isinstance(outcome, Outcome)
        mark = {"changed": "✓", "unchanged": "=", "failed": "✗"}[outcome.result]
        err.print(f"  {mark} {outcome.action.description}: {outcome.detail}", markup=False, soft_wrap=True)


def _stdin_is_terminal() -> bool:
    return sys.stdin.isatty()


def _confirm_apply(report: Report, yes: bool) -> bool:
    """Show what --apply will do; ask unless --yes; refuse without a TTY and without --yes."""
    from blastradius.apply import automatable

    todo = automatable(report.rotation_plan)
    if not todo:
        err.print("nothing to apply: the plan has no automatable step (is the key's user known?)")
        return False
    err.print(f"rotate --apply will make these {len(todo)} call(s) with your credentials:", markup=False)
    for step, action in todo:
        err.print(
            f"  step {step.step} {action.operation} {action.target} — {action.description}", markup=False
        )
    err.print("Nothing else is executed: the other steps stay commands for you to run.", markup=False)
    if yes:
        return True
    if not _stdin_is_terminal():
        raise UsageError(
            "--apply asks for confirmation, but stdin is not a terminal",
            hint="Review the plan (run without --apply) and pass --yes to apply it from a script.",
        )
    return typer.confirm("Apply these containment calls now?", default=False, err=True)


@app.command()
def rotate(
    key: KeyOpt,
    snapshot: SnapshotOpt = None,
    principal: PrincipalOpt = None,
    exposed_since: ExposedSinceOpt = None,
    profile: ProfileOpt = None,
    role_arn: RoleArnOpt = None,
    region: RegionOpt = None,
    all_regions: AllRegionsOpt = False,
    endpoint_url: EndpointOpt = None,
    secret_stdin: SecretStdinOpt = False,
    fmt: RunbookFormatOpt = "table",
    output: OutputOpt = None,
    policies: PoliciesOpt = None,
    apply: Annotated[
        bool,
        typer.Option(
            "--apply",
            help="Execute the containment steps that are safe to automate (deactivate the key, deny old "
            "sessions, mark the key compromised), after confirmation. Nothing else is executed.",
        ),
    ] = False,
    yes: Annotated[bool, typer.Option("--yes", help="With --apply: do not ask (for scripts).")] = False,
    audit_log: Annotated[
        Path | None,
        typer.Option(
            "--audit-log",
            help="With --apply: JSON-lines log of every call and its result "
            "(mode 0600; default ./blastradius-apply-KEY.jsonl).",
        ),
    ] = None,
    debug: DebugOpt = False,
) -> None:
    """Print the rotation / remediation runbook for a leaked key; --apply executes its containment part."""
    with _boundary(debug):
        if fmt in GRAPH_FORMATS:
            raise UsageError(
                f"--format {fmt} exports the attack graph and has no runbook section",
                hint=f"Choose among: {', '.join(RUNBOOK_FORMATS)}.",
            )
        _check_format(fmt, RUNBOOK_FORMATS)
        if apply and snapshot is not None:
            raise UsageError(
                "--apply acts on the live account; it cannot be combined with --snapshot",
                hint="Run rotate --apply with the auditor's credentials (--profile) so the plan is current.",
            )
        report = _analyze(
            key=key,
            snapshot=snapshot,
            profile=profile,
            region=region,
            all_regions=all_regions,
            endpoint_url=endpoint_url,
            secret_stdin=secret_stdin,
            policies=policies,
            assume_context=None,
            principal=principal,
            exposed_since=exposed_since,
            role_arn=role_arn,
        )
        _emit(report, fmt, output, only="rotation_plan")
        if not apply or not _confirm_apply(report, yes):
            return
        result = api.apply_containment(
            report,
            _live_args(profile, region, all_regions, endpoint_url),
            audit_log=audit_log,
            observer=_ApplyProgress(),
        )
        err.print(result.statement(), markup=False, soft_wrap=True)
    if result.failed is not None:
        raise typer.Exit(2)


@app.command()
def collect(
    output: Annotated[Path, typer.Option("--output", "-o", help="Snapshot file to write (mode 0600).")],
    profile: ProfileOpt = None,
    role_arn: RoleArnOpt = None,
    region: RegionOpt = None,
    all_regions: AllRegionsOpt = False,
    endpoint_url: EndpointOpt = None,
    services: ServicesOpt = None,
    debug: DebugOpt = False,
) -> None:
    """Collect the auditor's account(s) (read-only) into a snapshot for offline analysis."""
    with _boundary(debug), _Progress() as progress:
        snap = api.collect(
            _live_args(profile, region, all_regions, endpoint_url, role_arn),
            services=services,
            observer=progress,
        )
        api.save_snapshot(snap, output)
    which = f"accounts {', '.join(snap.accounts)}" if len(snap.accounts) > 1 else f"account {snap.account_id}"
    err.print(
        f"snapshot of {which} written to {output} "
        f"({len(snap.users)} users, {len(snap.roles)} roles, {len(snap.datasets)} datasets, "
        f"{len(snap.compute)} compute resources, {len(snap.gaps)} coverage gaps)",
        markup=False,
        soft_wrap=True,
    )


@app.command()
def audit(
    snapshot: SnapshotOpt = None,
    profile: ProfileOpt = None,
    role_arn: RoleArnOpt = None,
    region: RegionOpt = None,
    all_regions: AllRegionsOpt = False,
    endpoint_url: EndpointOpt = None,
    fmt: AuditFormatOpt = "table",
    output: OutputOpt = None,
    fail_on: Annotated[
        FailOn,
        typer.Option(
            "--fail-on",
            help="Exit 1 when an active key reaches a dataset at or above this sensitivity; exit 3 when "
            "none does but coverage is incomplete (a gap could hide one).",
        ),
    ] = FailOn.none,
    policies: PoliciesOpt = None,
    assume_context: ContextOpt = None,
    jobs: JobsOpt = None,
    debug: DebugOpt = False,
) -> None:
    """Every access key of the account ranked by blast radius (one graph for all keys)."""
    from blastradius.audit import fails

    with _boundary(debug):
        _check_format(fmt, AUDIT_FORMATS, "audit format")
        overrides = _parse_context(assume_context)
        source: list[Path] | Snapshot | None = snapshot
        if snapshot and role_arn:
            raise UsageError("--role-arn collects live; it cannot be combined with --snapshot")
        if not snapshot:
            # Collected first, outside the audit: its worker processes fork, which is best done with no
            # progress-bar thread running.
            with _Progress() as progress:
                source = api.collect(
                    _live_args(profile, region, all_regions, endpoint_url, role_arn), observer=progress
                )
        report = api.audit(snapshot=source, policies=policies, context_overrides=overrides, jobs=jobs)
        tty = output is None and sys.stdout.isatty()
        width = max(100, shutil.get_terminal_size().columns) if tty else None
        _write(render_audit(report, fmt, color=tty, width=width), output)
    if fails(report, fail_on.value):
        raise typer.Exit(EXIT_FINDINGS)
    if fail_on is not FailOn.none:
        _exit_if_blind(report.coverage, fail_on)


@app.command()
def demo(
    fmt: FormatOpt = "table",
    output: OutputOpt = None,
    fail_on: FailOnOpt = FailOn.none,
    apply: Annotated[
        bool,
        typer.Option(
            "--apply",
            help="Then apply the runbook's containment to the demo account (no confirmation: it is an "
            "in-process fake), analyze again and show the diff.",
        ),
    ] = False,
    audit_log: Annotated[
        Path | None, typer.Option("--audit-log", help="With --apply: where to write the audit log.")
    ] = None,
    debug: DebugOpt = False,
) -> None:
    """Replay a leaked-key incident in an embedded moto account: full report and runbook, no AWS needed."""
    from blastradius import demo as demo_mod

    if apply:
        with _boundary(debug):
            _demo_apply(fmt, output, audit_log)
        return
    with _boundary(debug):
        _check_format(fmt)
        err.print(
            "[bold]demo:[/] a subcontractor's access key was pushed to a public repository. Building the "
            "account in an in-process moto AWS, then running the real pipeline against it…",
            markup=True,
        )
        report = demo_mod.run_demo()
        _emit(report, fmt, output)
    _exit_for(report, fail_on)


def _demo_apply(fmt: str, output: Path | None, audit_log: Path | None) -> None:
    import json
    import tempfile

    from blastradius import demo as demo_mod
    from blastradius.diff import render_diff

    _check_format(fmt)
    if fmt not in ("table", "json", "markdown"):
        raise UsageError(f"demo --apply prints table, json or markdown, not {fmt!r}")
    log = audit_log or Path(tempfile.mkdtemp(prefix="blastradius-demo-")) / "apply.jsonl"
    err.print(
        "[bold]demo --apply:[/] the incident, then the runbook's containment applied to the demo's moto "
        "account WITHOUT asking (it is an in-process fake; `rotate --apply` on a real account asks first), "
        "then the analysis again and the diff.",
        markup=True,
    )
    result = demo_mod.run_demo_apply(log, observer=_ApplyProgress())
    err.print(result.applied.statement(), markup=False, soft_wrap=True)
    if fmt == "json":
        text = json.dumps(
            {
                "before": result.before.to_json(),
                "apply": [
                    {"step": o.step, **o.action.to_json(), "result": o.result, "detail": o.detail}
                    for o in result.applied.outcomes
                ],
                "after": result.after.to_json(),
                "diff": result.diff.to_json(),
            },
            indent=2,
        )
    else:
        rule = "\n---\n\n" if fmt == "markdown" else "\n" + "─" * 100 + "\n"
        text = (
            render(result.before, fmt)
            + rule
            + ("## After containment\n\n" if fmt == "markdown" else "AFTER CONTAINMENT\n")
            + render_diff(result.diff, fmt)
        )
    if output is None:
        sys.stdout.write(text if text.endswith("\n") else text + "\n")
    else:
        api.write_private(output, text)
        err.print(f"report written to {output}", markup=False, soft_wrap=True)
    if result.applied.failed is not None:
        raise typer.Exit(2)


class SimFormat(enum.StrEnum):
    """Output of ``simulate`` and ``explain``."""

    table = "table"
    json = "json"


InputOpt = Annotated[
    str,
    typer.Option("--input", "-i", help="Case file (one case object or a list of cases); '-' reads stdin."),
]
SimFormatOpt = Annotated[SimFormat, typer.Option("--format", "-f", help="Output format: table or json.")]


@app.command()
def simulate(
    input_: InputOpt,
    fmt: SimFormatOpt = SimFormat.table,
    debug: DebugOpt = False,
) -> None:
    """Decide requests from a JSON file offline, like AWS's policy simulator (exact context, no AWS)."""
    from blastradius import simulate as sim

    with _boundary(debug):
        if input_ == "-":
            text, source = sys.stdin.read(), "stdin"
        else:
            try:
                text, source = Path(input_).read_text(encoding="utf-8"), input_
            except OSError as e:
                raise UsageError(f"--input {input_}: cannot read ({e.strerror})") from None
        cases, many = sim.load_cases(text, source)
        results = sim.run_cases(cases, indexed=many)
        if fmt is SimFormat.json:
            payload = [r.to_json() for r in results] if many else results[0].to_json()
            sys.stdout.write(json.dumps(payload, indent=2) + "\n")
        else:
            tty = sys.stdout.isatty()
            width = max(100, shutil.get_terminal_size().columns) if tty else 120
            Console(highlight=False, width=width).print(sim.render_table(results))
        failed = [r.error for r in results if r.error is not None]
        for message in failed:
            err.print(f"error: {message}", markup=False, soft_wrap=True)
    if failed:
        raise typer.Exit(2)


@app.command()
def diff(
    before: Annotated[Path, typer.Argument(help="The report before remediation (--format json).")],
    after: Annotated[Path, typer.Argument(help="The report after remediation (--format json).")],
    fmt: Annotated[
        str, typer.Option("--format", "-f", help="Output format: table, json, markdown.")
    ] = "table",
    output: OutputOpt = None,
    fail_on: Annotated[
        FailOn,
        typer.Option(
            "--fail-on", help="Exit 1 when AFTER still reaches a dataset at or above this sensitivity."
        ),
    ] = FailOn.none,
    debug: DebugOpt = False,
) -> None:
    """What appeared or disappeared between two reports; exit 1 if AFTER still reaches --fail-on data."""
    from blastradius.diff import diff_files, render_diff

    with _boundary(debug):
        result = diff_files(before, after)
        text = render_diff(result, fmt)
        if output is None:
            sys.stdout.write(text)
        else:
            api.write_private(output, text)
            err.print(f"diff written to {output}", markup=False, soft_wrap=True)
    if fail_on is not FailOn.none and result.at_or_above(fail_on.value):
        raise typer.Exit(1)


@app.command()
def explain(
    key: KeyOpt,
    snapshot: Annotated[Path, typer.Option("--snapshot", help="The snapshot analyze worked on.")],
    dataset: Annotated[str, typer.Option("--dataset", "-d", help="The dataset's name or ARN.")],
    level: Annotated[
        str | None, typer.Option("--level", help="Access level to explain: list, read, write or admin.")
    ] = None,
    principal: PrincipalOpt = None,
    fmt: SimFormatOpt = SimFormat.table,
    policies: PoliciesOpt = None,
    assume_context: ContextOpt = None,
    debug: DebugOpt = False,
) -> None:
    """Why is a dataset reachable from the key (every policy, statement and condition) — or why not."""
    from blastradius import explain as explain_mod

    with _boundary(debug):
        result = api.explain(
            key,
            dataset,
            snapshot=snapshot,
            level=level,
            principal=principal,
            policies=policies,
            context_overrides=_parse_context(assume_context),
        )
        if fmt is SimFormat.json:
            sys.stdout.write(json.dumps(result.to_json(), indent=2) + "\n")
        else:
            tty = sys.stdout.isatty()
            width = max(100, shutil.get_terminal_size().columns) if tty else 120
            Console(highlight=False, width=width).print(explain_mod.render_tree(result))


def main() -> None:
    """Console-script entry point."""
    app()
