"""The IAM policy language and AWS's decision logic: parse, match, evaluate (DESIGN.md §4).

Pure: no boto3, no imports from the graph or the collectors. Typical use::

    policy = parse_policy(document, name="inline:app-data")
    ctx = Context.for_principal(principal)
    decision = decide(Request(principal=principal, action="dynamodb:Scan", resource=arn,
                              resource_account="123456789012", context=ctx),
                      identity_policies=[policy])
"""

from blastradius.policy.conditions import Clause
from blastradius.policy.context import (
    ATTACKER_CONTROLLED_KEYS,
    ATTACKER_CONTROLLED_PREFIXES,
    OUTSIDER_UNSATISFIABLE_KEYS,
    Choice,
    Context,
    KeyState,
    Request,
    RequestPrincipal,
    principal_context_values,
)
from blastradius.policy.document import (
    ActionGroups,
    Applicability,
    Policy,
    Statement,
    StatementRef,
    parse_policy,
)
from blastradius.policy.evaluate import RCP_SUPPORTED_SERVICES, Decision, Verdict, decide, rcps_apply
from blastradius.policy.match import PrincipalMatch, Tri, glob_match

__all__ = [
    "ATTACKER_CONTROLLED_KEYS",
    "ATTACKER_CONTROLLED_PREFIXES",
    "OUTSIDER_UNSATISFIABLE_KEYS",
    "RCP_SUPPORTED_SERVICES",
    "ActionGroups",
    "Applicability",
    "Choice",
    "Clause",
    "Context",
    "Decision",
    "KeyState",
    "Policy",
    "PrincipalMatch",
    "Request",
    "RequestPrincipal",
    "Statement",
    "StatementRef",
    "Tri",
    "Verdict",
    "decide",
    "glob_match",
    "parse_policy",
    "principal_context_values",
    "rcps_apply",
]
