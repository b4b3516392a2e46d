"""AWS's authorisation decision, in three values: ALLOW, CONDITIONAL (with why), or a deny (with which).

Order, from "Policy evaluation logic" / "How AWS enforcement code logic evaluates requests to allow or deny
access" and "Cross-account policy evaluation logic":

1. An explicit deny in any applicable policy (identity, permissions boundary, resource-based, session, SCP,
   RCP) denies.
2. SCPs: every level from the root to the account must have an allow; RCPs likewise on the resource side,
   for the actions of the services RCPs support only (``RCP_SUPPORTED_SERVICES``; "an RCP does not affect
   unsupported services"). Neither applies to service-linked roles.
3. Resource-based and identity-based policies:

   * same account: an allow in either suffices, but a resource policy that names only the *account* (id or
     root ARN) delegates to the account's IAM policies, and one that names the *role* ARN is still limited by
     the role's permissions boundary and session policy; one that names the IAM *user* or the *role
     session* (or ``*``) is not limited by an implicit deny in identity policies, boundary or session
     policy;
   * cross account: the identity side (identity policy AND boundary AND session policy) must allow AND the
     resource policy must allow the principal (directly or via its account);
   * role trust policies and KMS key policies (``resource_policy_required``) must themselves allow. A key
     policy that names only the account ("Enable IAM policies") needs an IAM allow too ("Key policies in
     AWS KMS"). A trust policy that names a same-account user or session directly needs no identity
     allow (STS AssumeRole API reference), but the caller's boundary still applies ("Update a role trust
     policy": "If a permissions boundary is set for the user, then it must allow the sts:AssumeRole
     action").

4. The permissions boundary, then the session policy, cap identity-based grants.

Each layer is three-valued: a Deny that may apply (UNKNOWN) caps the result at CONDITIONAL ("unless ..."), an
Allow that may apply makes the layer conditional. Layers combine in Kleene logic.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

from blastradius.policy.context import Request
from blastradius.policy.document import Policy, StatementRef
from blastradius.policy.match import PrincipalMatch, Tri

__all__ = ["RCP_SUPPORTED_SERVICES", "Decision", "Verdict", "decide", "rcps_apply"]

RCP_SUPPORTED_SERVICES: frozenset[str] = frozenset(
    {
        "aoss", "appconfig", "appstream", "autoscaling", "autoscaling-plans", "budgets", "clouddirectory",
        "cloudfront", "cloudsearch", "cloudtrail-data", "codeartifact", "codebuild", "codecommit",
        "codepipeline", "cognito-identity", "cognito-idp", "comprehend", "comprehendmedical",
        "compute-optimizer", "cost-optimization-hub", "dax", "dsql", "dynamodb", "ecr", "ecr-public",
        "events", "firehose", "fis", "fms", "gamelift", "health", "inspector-scan", "kendra",
        "kinesisvideo", "kms", "logs", "memorydb", "networkmonitor", "notifications", "opensearch",
        "pca-connector-ad", "personalize", "polly", "pricing", "resource-groups", "rolesanywhere", "s3",
        "secretsmanager", "servicediscovery", "signin", "sqs", "sts", "support", "swf", "textract",
        "timestream-influxdb", "transcribe", "transfer", "translate", "wafv2", "workspaces", "xray",
    }
)  # fmt: skip
"""The service prefixes whose actions RCPs apply to.

Source: AWS Organizations User Guide, "Resource control policies (RCPs)", section "List of AWS services
that support RCPs" (https://docs.aws.amazon.com/organizations/latest/userguide/orgs_manage_policies_rcps.html
#rcp-supported-services), the page as published 2026-09-26, checked 2026-11-25: 62 services, each listed
with its ``prefix:``. At launch (November 2024) the list was S3, STS, KMS, SQS and Secrets Manager; AWS
extends it over time, so re-check the page when updating. Requests to any other service ignore RCPs. The
same page exempts ``kms:RetireGrant`` ("RCPs do not impact the kms:RetireGrant permission").
"""

_RCP_EXEMPT_ACTIONS = frozenset({"kms:retiregrant"})


def rcps_apply(action: str) -> bool:
    """Whether RCPs constrain ``action`` (``service:Name``): a listed service, not an exempt action."""
    service, _, _ = action.partition(":")
    return service.lower() in RCP_SUPPORTED_SERVICES and action.lower() not in _RCP_EXEMPT_ACTIONS


class Verdict(StrEnum):
    """The outcome of one decision."""

    ALLOW = "allow"
    CONDITIONAL = "conditional"
    IMPLICIT_DENY = "implicit-deny"
    EXPLICIT_DENY = "explicit-deny"


@dataclass(frozen=True, slots=True, kw_only=True)
class Decision:
    """A verdict with the statements that decided it and, if CONDITIONAL, the conditions left open."""

    verdict: Verdict
    matched: tuple[StatementRef, ...]
    conditions: tuple[str, ...]
    explain: str = ""

    @property
    def allowed(self) -> bool:
        """ALLOW or CONDITIONAL: the request can succeed (perhaps only under the listed conditions)."""
        return self.verdict in (Verdict.ALLOW, Verdict.CONDITIONAL)


# A grant is (level, granting statements, open conditions): level 0 = no allow, 1 = conditional, 2 = allow.
_Grant = tuple[int, tuple[StatementRef, ...], tuple[str, ...]]
_NO: _Grant = (0, (), ())
_YES: _Grant = (2, (), ())


def _and(*grants: _Grant) -> _Grant:
    level = 2
    for g in grants:
        if g[0] < level:
            level = g[0]
            if level == 0:
                return _NO
    if all(g is _YES for g in grants[1:]):
        return grants[0]
    refs = tuple(r for g in grants for r in g[1])
    reasons = tuple(c for g in grants if g[0] == 1 for c in g[2])
    return level, refs, reasons


def _or(*grants: _Grant) -> _Grant:
    level = max(g[0] for g in grants)
    if level == 0:
        return _NO
    winners = [g for g in grants if g[0] == level]
    refs = tuple(r for g in winners for r in g[1])
    if level == 2 or len(winners) == 1:
        return level, refs, (winners[0][2] if level == 1 else ())
    return 1, refs, (_either([g[2] for g in winners]),)


def _either(alternatives: Sequence[tuple[str, ...]]) -> str:
    return "either " + "; or ".join(" and ".join(reasons) for reasons in alternatives)


class _Layer:
    """The allow statements of one policy layer that apply (or may apply), with their principal matches."""

    __slots__ = ("allow", "maybe")

    def __init__(self) -> None:
        self.allow: list[tuple[StatementRef, PrincipalMatch]] = []
        self.maybe: list[tuple[StatementRef, PrincipalMatch, tuple[str, ...]]] = []

    def grant(self, *, keep_refs: bool = True, accept: frozenset[PrincipalMatch] | None = None) -> _Grant:
        if not self.allow and not self.maybe:
            return _NO
        if accept is None and self.allow and not keep_refs:
            return _YES
        allow = [ref for ref, m in self.allow if accept is None or m in accept]
        if allow:
            return 2, tuple(allow) if keep_refs else (), ()
        maybe = [(ref, reasons) for ref, m, reasons in self.maybe if accept is None or m in accept]
        if not maybe:
            return _NO
        refs = tuple(ref for ref, _ in maybe) if keep_refs else ()
        if len(maybe) == 1:
            return 1, refs, maybe[0][1]
        return 1, refs, (_either([reasons for _, reasons in maybe]),)


class _ExplicitDeny(Exception):
    def __init__(self, ref: StatementRef, layer: str) -> None:
        super().__init__(ref.describe())
        self.ref = ref
        self.layer = layer


def _evaluate(
    policies: Sequence[Policy],
    request: Request,
    layer: str,
    resource_side: bool,
    has_boundary: bool,
    open_denies: list[tuple[StatementRef, tuple[str, ...]]],
) -> _Layer:
    """Evaluate one layer; raise ``_ExplicitDeny`` on the first Deny that applies."""
    result = _EMPTY
    action = request.action
    for policy in policies:
        for statement in policy.statements_for(action):
            state, match, reasons = statement.evaluate_matched(
                request, resource_side=resource_side, has_boundary=has_boundary
            )
            if state is Tri.NO:
                continue
            if statement.is_deny:
                if state is Tri.YES:
                    raise _ExplicitDeny(statement.ref, layer)
                open_denies.append((statement.ref, reasons))
                continue
            if result is _EMPTY:
                result = _Layer()
            if state is Tri.YES:
                result.allow.append((statement.ref, match))
            else:
                result.maybe.append((statement.ref, match, reasons))
    return result


_EMPTY = _Layer()  # shared "nothing applies" result; never appended to

_CALLER = frozenset(m for m in PrincipalMatch if m.names_caller)
_ROLE = frozenset({PrincipalMatch.DIRECT_ROLE})
_ACCOUNT = frozenset({PrincipalMatch.ACCOUNT})
_ANY_MATCH = frozenset(m for m in PrincipalMatch if m is not PrincipalMatch.NONE)


def decide(
    request: Request,
    *,
    identity_policies: Sequence[Policy] = (),
    permissions_boundary: Policy | None = None,
    resource_policy: Policy | None = None,
    session_policy: Policy | None = None,
    scps: Sequence[Sequence[Policy]] = (),
    rcps: Sequence[Sequence[Policy]] = (),
    resource_policy_required: bool = False,
) -> Decision:
    """Decide one request the way AWS does (see the module docstring for the order and the special cases).

    ``scps`` and ``rcps`` are levels, root first, each the policies attached at that level (pass none for
    the management account). SCPs do not apply to service principals' calls; RCPs only to actions of
    the services that support them (``rcps_apply``); neither applies to service-linked roles.
    ``resource_policy_required`` marks role trust policies and KMS key policies, which must themselves
    allow; among those, an ``sts:*`` action marks a trust policy (the caller's
    boundary and session policy then also cap a direct grant). A ``resource_account`` of None is treated
    as the principal's account.
    """
    principal = request.principal
    has_boundary = permissions_boundary is not None
    open_denies: list[tuple[StatementRef, tuple[str, ...]]] = []
    guardrails = not principal.service_linked
    # SCPs cap principals *of member accounts* ("Authorization policies in AWS Organizations": SCPs are
    # principal-centric); an AWS service principal is not one, so only RCPs (resource-centric) apply to
    # its calls — which is why RCP perimeter examples exempt aws:PrincipalIsAWSService explicitly.
    principal_guardrails = guardrails and principal.kind != "service"
    try:
        scp_levels = [
            _evaluate(level, request, "SCP", False, has_boundary, open_denies)
            for level in (scps if principal_guardrails else ())
        ]
        rcp_levels = [
            _evaluate(level, request, "RCP", True, has_boundary, open_denies)
            for level in (rcps if guardrails and rcps_apply(request.action) else ())
        ]
        identity = _evaluate(
            identity_policies, request, "identity-based policy", False, has_boundary, open_denies
        )
        boundary = (
            _evaluate(
                (permissions_boundary,), request, "permissions boundary", False, has_boundary, open_denies
            )
            if permissions_boundary is not None
            else None
        )
        session = (
            _evaluate((session_policy,), request, "session policy", False, has_boundary, open_denies)
            if session_policy is not None
            else None
        )
        resource = (
            _evaluate((resource_policy,), request, "resource-based policy", True, has_boundary, open_denies)
            if resource_policy is not None
            else None
        )
    except _ExplicitDeny as deny:
        return Decision(
            verdict=Verdict.EXPLICIT_DENY,
            matched=(deny.ref,),
            conditions=(),
            explain=(
                f"Explicit deny: {deny.ref.describe()} ({deny.layer}) applies to {request.action} on "
                f"{request.resource}; an explicit deny in any policy overrides every allow "
                "(Policy evaluation logic)."
            ),
        )

    kind = principal.kind
    # The account root user has full access unless something denies it ("Policy evaluation logic");
    # services and identity providers have no identity-based policies.
    if kind == "root":
        ident: _Grant = _YES
    elif kind in ("service", "federated"):
        ident = _NO
    else:
        ident = identity.grant()
    bound = boundary.grant(keep_refs=False) if boundary is not None else _YES
    sess = session.grant(keep_refs=False) if session is not None else _YES
    if resource is not None and (resource.allow or resource.maybe):
        r_caller = resource.grant(accept=_CALLER)
        r_role = resource.grant(accept=_ROLE)
        r_account = resource.grant(accept=_ACCOUNT)
        r_any = resource.grant(accept=_ANY_MATCH)
    else:
        r_caller = r_role = r_account = r_any = _NO

    same_account = (
        request.resource_account is None
        or request.resource_account == principal.account_id
        or kind in ("service", "federated")
    )
    trust = resource_policy_required and request.action.lower().startswith("sts:")
    limited = _and(ident, bound, sess)
    paths: list[tuple[str, _Grant]]
    if same_account:
        caller_path = _and(r_caller, bound, sess) if trust else r_caller
        role_path = _and(r_role, bound, sess)
        if resource_policy_required:
            first = (
                "identity-based policy, enabled by the account principal in the resource policy",
                _and(r_account, limited),
            )
        else:
            first = ("identity-based policy", limited)
        paths = [
            first,
            ("resource-based policy naming the caller", caller_path),
            ("resource-based policy naming the role", role_path),
        ]
    else:
        paths = [
            ("identity-based policy and the resource-based policy of the other account", _and(limited, r_any))
        ]
    core = _or(*(g for _, g in paths))
    scp_grants = [lvl.grant(keep_refs=False) for lvl in scp_levels]
    rcp_grants = [lvl.grant(keep_refs=False) for lvl in rcp_levels]
    final = _and(core, *scp_grants, *rcp_grants)

    if final[0] == 0:
        return Decision(
            verdict=Verdict.IMPLICIT_DENY,
            matched=(),
            conditions=(),
            explain=_implicit_explain(
                request,
                scp_grants=scp_grants,
                rcp_grants=rcp_grants,
                ident=ident,
                bound=bound,
                sess=sess,
                r_any=r_any,
                same_account=same_account,
                required=resource_policy_required,
                has_resource_policy=resource is not None,
            ),
        )
    unless = tuple("unless " + " and ".join(reasons) for _, reasons in open_denies)
    winner = next(name for name, g in paths if g[0] == core[0])
    granted_by = ", ".join(ref.describe() for ref in final[1]) or "the account root user's implicit access"
    if final[0] == 2 and not unless:
        return Decision(
            verdict=Verdict.ALLOW,
            matched=final[1],
            conditions=(),
            explain=(
                f"Allowed via the {winner}: {granted_by}; no explicit deny applies (Policy evaluation logic)."
            ),
        )
    conditions = final[2] + unless
    return Decision(
        verdict=Verdict.CONDITIONAL,
        matched=final[1] + tuple(ref for ref, _ in open_denies),
        conditions=conditions,
        explain=(
            f"Conditionally allowed via the {winner}: {granted_by}; open conditions: "
            + "; ".join(conditions)
            + "."
        ),
    )


def _implicit_explain(
    request: Request,
    *,
    scp_grants: Sequence[_Grant],
    rcp_grants: Sequence[_Grant],
    ident: _Grant,
    bound: _Grant,
    sess: _Grant,
    r_any: _Grant,
    same_account: bool,
    required: bool,
    has_resource_policy: bool,
) -> str:
    """Name the first layer that withheld an allow."""
    what = f"{request.action} on {request.resource}"
    for number, grant in enumerate(scp_grants):
        if grant[0] == 0:
            return (
                f"Implicit deny: no SCP at organisation level {number} (root = 0) allows {what}; every level "
                "from the root to the account must allow (Policy evaluation logic, AWS Organizations SCPs)."
            )
    for number, grant in enumerate(rcp_grants):
        if grant[0] == 0:
            return (
                f"Implicit deny: no RCP at organisation level {number} (root = 0) allows {what}; every level "
                "must allow (Policy evaluation logic, AWS Organizations RCPs)."
            )
    if required and r_any[0] == 0:
        return (
            f"Implicit deny: the {'resource' if has_resource_policy else 'missing resource'} policy does not "
            f"allow this principal {what}; role trust policies and KMS key policies must allow explicitly "
            "(Policy evaluation logic; Key policies in AWS KMS)."
        )
    if not same_account and r_any[0] == 0:
        return (
            f"Implicit deny: cross-account request and the resource-based policy does not allow {what} "
            "for this principal; both sides must allow (Cross-account policy evaluation logic)."
        )
    if ident[0] == 0:
        if required:
            return (
                f"Implicit deny: the resource policy names only the account, which delegates to IAM, and no "
                f"identity-based policy allows {what} (Key policies in AWS KMS)."
            )
        return (
            f"Implicit deny: no identity-based or resource-based policy allows {what} "
            "(Policy evaluation logic)."
        )
    if bound[0] == 0:
        return (
            f"Implicit deny: the permissions boundary does not allow {what}, and no resource-based policy "
            "grants it to the user or session directly (Permissions boundaries for IAM entities)."
        )
    if sess[0] == 0:
        return (
            f"Implicit deny: the session policy does not allow {what} "
            "(Policy evaluation logic, session policies)."
        )
    return f"Implicit deny: no applicable policy allows {what} (Policy evaluation logic)."
