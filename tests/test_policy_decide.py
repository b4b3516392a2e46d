"""decide(): AWS's evaluation order and its special cases, one documented rule per id and both sides of each.

Doc pages: "Policy evaluation logic" (policy-evaluation-logic), "Cross-account policy evaluation logic"
(cross-account), "Permissions boundaries for IAM entities" (boundaries), "AWS JSON policy elements:
NotPrincipal" (notprincipal), "Key policies in AWS KMS" (kms-key-policies), the STS AssumeRole API
reference and "Update a role trust policy" (trust-policy), DESIGN.md §4 (attacker-model).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest

from blastradius.policy import (
    Context,
    Decision,
    Policy,
    Request,
    RequestPrincipal,
    Verdict,
    decide,
    parse_policy,
)

ACCT = "111122223333"
OTHER = "444455556666"
BUCKET = "arn:aws:s3:::exports"
OBJECT = "arn:aws:s3:::exports/2024/customers.csv"
TABLE = f"arn:aws:dynamodb:us-east-1:{ACCT}:table/customers"
ROLE_ARN = f"arn:aws:iam::{ACCT}:role/data-sync"
KEY = f"arn:aws:kms:us-east-1:{ACCT}:key/1234abcd"

ALICE = RequestPrincipal(
    arn=f"arn:aws:iam::{ACCT}:user/alice",
    account_id=ACCT,
    kind="user",
    user_name="alice",
    user_id="AIDAALICE",
)
APP = RequestPrincipal(
    arn=f"arn:aws:iam::{ACCT}:role/app",
    account_id=ACCT,
    kind="role",
    session_arn=f"arn:aws:sts::{ACCT}:assumed-role/app/s1",
    user_id="AROAAPP:s1",
)
MALLORY = RequestPrincipal(
    arn=f"arn:aws:iam::{OTHER}:user/mallory", account_id=OTHER, kind="user", user_name="mallory"
)
ROOT = RequestPrincipal(arn=f"arn:aws:iam::{ACCT}:root", account_id=ACCT, kind="root")
SLR = RequestPrincipal(
    arn=f"arn:aws:iam::{ACCT}:role/aws-service-role/x/AWSServiceRoleForX",
    account_id=ACCT,
    kind="role",
    session_arn=f"arn:aws:sts::{ACCT}:assumed-role/AWSServiceRoleForX/s",
    service_linked=True,
)
LAMBDA = RequestPrincipal(arn="lambda.amazonaws.com", account_id="", kind="service")
GOOGLE = RequestPrincipal(arn="accounts.google.com", account_id="", kind="federated")


def stmt(effect: str = "Allow", action: Any = "*", resource: Any = "*", **extra: Any) -> dict[str, Any]:
    out: dict[str, Any] = {"Effect": effect, **extra}
    if action is not None:
        out["Action"] = action
    if resource is not None and "NotResource" not in extra:
        out["Resource"] = resource
    return out


def pol(*statements: dict[str, Any], name: str = "p") -> Policy:
    return parse_policy({"Version": "2012-10-17", "Statement": list(statements)}, name=name)


ALLOW_ALL = pol(stmt(), name="AllowAll")
FULL_ACCESS = pol(stmt(Sid="FullAWSAccess"), name="FullAWSAccess")
S3_READ = pol(
    stmt(action=["s3:GetObject", "s3:ListBucket"], resource=[BUCKET, f"{BUCKET}/*"]), name="ExportsRead"
)


def grant_to(principal: Any, action: Any = "s3:*", resource: Any = "*", **extra: Any) -> Policy:
    return pol(stmt(action=action, resource=resource, Principal=principal, **extra), name="resource-policy")


@dataclass
class Case:
    principal: RequestPrincipal
    expected: Verdict
    action: str = "s3:GetObject"
    resource: str = OBJECT
    resource_account: str | None = ACCT
    values: dict[str, Any] = field(default_factory=dict)
    mode: str = "exact"
    reason: str = ""  # substring expected in a condition (CONDITIONAL) or in the explanation
    kwargs: dict[str, Any] = field(default_factory=dict)

    def run(self) -> Decision:
        ctx = Context.for_principal(
            self.principal, mode="exact" if self.mode == "exact" else "attacker", values=self.values
        )
        request = Request(
            principal=self.principal,
            action=self.action,
            resource=self.resource,
            resource_account=self.resource_account,
            context=ctx,
        )
        return decide(request, **self.kwargs)


def C(principal: RequestPrincipal, expected: Verdict, **kw: Any) -> Case:
    known = {f for f in Case.__dataclass_fields__ if f not in ("principal", "expected")}
    direct = {k: v for k, v in kw.items() if k in known}
    return Case(principal, expected, **direct, kwargs={k: v for k, v in kw.items() if k not in known})


A, CD, ID, ED = Verdict.ALLOW, Verdict.CONDITIONAL, Verdict.IMPLICIT_DENY, Verdict.EXPLICIT_DENY
DENY_EXPORTS = pol(stmt("Deny", "s3:*", [BUCKET, f"{BUCKET}/*"], Sid="NoExports"), name="guard")
BOUNDARY_DDB = pol(stmt(action="dynamodb:*"), name="boundary")
BOUNDARY_S3 = pol(stmt(action="s3:*"), name="boundary")
SESSION_DDB = pol(stmt(action="dynamodb:*"), name="session")

CASES: dict[str, Case] = {
    # ---------------------------------------------------------------- basics
    "implicit-deny-by-default__policy-evaluation-logic": C(ALICE, ID),
    "identity-allow-grants__policy-evaluation-logic": C(ALICE, A, identity_policies=[S3_READ]),
    "identity-allow-other-action-not-granted__policy-evaluation-logic": C(
        ALICE, ID, action="s3:PutObject", identity_policies=[S3_READ]
    ),
    "explicit-deny-overrides-allow__policy-evaluation-logic": C(
        ALICE, ED, identity_policies=[S3_READ, DENY_EXPORTS]
    ),
    "deny-elsewhere-does-not-touch__policy-evaluation-logic": C(
        ALICE, A, resource=TABLE, action="dynamodb:Scan", identity_policies=[ALLOW_ALL, DENY_EXPORTS]
    ),
    "notaction-allow-covers-unlisted__notaction-element": C(
        ALICE, A, identity_policies=[pol(stmt(action=None, NotAction="iam:*"))]
    ),
    "notaction-allow-excludes-listed__notaction-element": C(
        ALICE,
        ID,
        action="iam:CreateUser",
        resource="*",
        identity_policies=[pol(stmt(action=None, NotAction="iam:*"))],
    ),
    "notaction-deny-denies-unlisted__notaction-element": C(
        ALICE, ED, identity_policies=[ALLOW_ALL, pol(stmt("Deny", action=None, NotAction=["iam:Get*"]))]
    ),
    "notaction-deny-spares-listed__notaction-element": C(
        ALICE,
        A,
        action="iam:GetUser",
        resource="*",
        identity_policies=[ALLOW_ALL, pol(stmt("Deny", action=None, NotAction=["iam:Get*"]))],
    ),
    "notresource-allow-everything-else__notresource-element": C(
        ALICE,
        A,
        resource=TABLE,
        action="dynamodb:Scan",
        identity_policies=[pol(stmt(resource=None, NotResource=[BUCKET, f"{BUCKET}/*"]))],
    ),
    "notresource-allow-not-the-listed__notresource-element": C(
        ALICE, ID, identity_policies=[pol(stmt(resource=None, NotResource=[BUCKET, f"{BUCKET}/*"]))]
    ),
    "notresource-deny-everything-but__notresource-element": C(
        ALICE,
        ED,
        resource=TABLE,
        action="dynamodb:Scan",
        identity_policies=[ALLOW_ALL, pol(stmt("Deny", resource=None, NotResource=f"{BUCKET}/*"))],
    ),
    "notresource-deny-spares-listed__notresource-element": C(
        ALICE, A, identity_policies=[ALLOW_ALL, pol(stmt("Deny", resource=None, NotResource=f"{BUCKET}/*"))]
    ),
    "resource-policy-deny-overrides-identity-allow__policy-evaluation-logic": C(
        ALICE, ED, identity_policies=[ALLOW_ALL], resource_policy=pol(stmt("Deny", "s3:*", Principal="*"))
    ),
    "resource-policy-deny-for-other-principal__policy-evaluation-logic": C(
        ALICE,
        A,
        identity_policies=[ALLOW_ALL],
        resource_policy=pol(stmt("Deny", "s3:*", Principal={"AWS": f"arn:aws:iam::{ACCT}:user/bob"})),
    ),
    "variable-grants-own-prefix__variables": C(
        ALICE,
        A,
        resource="arn:aws:s3:::home/alice/notes.txt",
        identity_policies=[pol(stmt(resource="arn:aws:s3:::home/${aws:username}/*"))],
    ),
    "variable-denies-other-prefix__variables": C(
        ALICE,
        ID,
        resource="arn:aws:s3:::home/bob/notes.txt",
        identity_policies=[pol(stmt(resource="arn:aws:s3:::home/${aws:username}/*"))],
    ),
    "root-has-full-access__policy-evaluation-logic": C(ROOT, A),
    "root-explicitly-denied__policy-evaluation-logic": C(ROOT, ED, scps=[[FULL_ACCESS, DENY_EXPORTS]]),
    # ---------------------------------------------------------------- same account, resource-based policies
    "same-account-resource-policy-user-arn-alone__policy-evaluation-logic": C(
        ALICE, A, resource_policy=grant_to({"AWS": ALICE.arn})
    ),
    "same-account-resource-policy-other-user__policy-evaluation-logic": C(
        ALICE, ID, resource_policy=grant_to({"AWS": f"arn:aws:iam::{ACCT}:user/bob"})
    ),
    "same-account-identity-alone__policy-evaluation-logic": C(
        ALICE,
        A,
        identity_policies=[S3_READ],
        resource_policy=grant_to({"AWS": f"arn:aws:iam::{ACCT}:user/bob"}),
    ),
    "same-account-account-principal-delegates-only__principal-account": C(
        ALICE, ID, resource_policy=grant_to({"AWS": ACCT})
    ),
    "same-account-account-principal-with-identity__principal-account": C(
        ALICE, A, identity_policies=[S3_READ], resource_policy=grant_to({"AWS": f"arn:aws:iam::{ACCT}:root"})
    ),
    "same-account-star-principal-alone__principal-all-principals": C(ALICE, A, resource_policy=grant_to("*")),
    "same-account-role-arn-alone__policy-evaluation-logic": C(
        APP, A, resource_policy=grant_to({"AWS": APP.arn})
    ),
    "same-account-session-arn-alone__policy-evaluation-logic": C(
        APP, A, resource_policy=grant_to({"AWS": APP.session_arn})
    ),
    "resource-policy-condition-unknown__attacker-model": C(
        ALICE,
        CD,
        mode="attacker",
        reason="aws:SourceVpce must equal vpce-1",
        resource_policy=grant_to("*", Condition={"StringEquals": {"aws:SourceVpce": "vpce-1"}}),
    ),
    "service-principal-in-resource-policy__principal-services": C(
        LAMBDA, A, action="s3:PutObject", resource_policy=grant_to({"Service": "lambda.amazonaws.com"})
    ),
    "service-principal-not-listed__principal-services": C(
        LAMBDA, ID, action="s3:PutObject", resource_policy=grant_to({"Service": "ec2.amazonaws.com"})
    ),
    "canonical-user-grants-no-iam-principal__principal-account": C(
        ALICE, ID, resource_policy=grant_to({"CanonicalUser": "79a59df900b949e55d96a1e698fbacedfd6e09d9"})
    ),
    # ---------------------------------------------------------------- cross account
    "cross-account-identity-alone-insufficient__cross-account": C(MALLORY, ID, identity_policies=[ALLOW_ALL]),
    "cross-account-resource-alone-insufficient__cross-account": C(
        MALLORY, ID, resource_policy=grant_to({"AWS": MALLORY.arn})
    ),
    "cross-account-both-allow__cross-account": C(
        MALLORY, A, identity_policies=[ALLOW_ALL], resource_policy=grant_to({"AWS": MALLORY.arn})
    ),
    "cross-account-account-principal-and-identity__cross-account": C(
        MALLORY, A, identity_policies=[ALLOW_ALL], resource_policy=grant_to({"AWS": OTHER})
    ),
    "cross-account-other-account-named__cross-account": C(
        MALLORY, ID, identity_policies=[ALLOW_ALL], resource_policy=grant_to({"AWS": "999988887777"})
    ),
    "cross-account-star-needs-identity__principal-all-principals": C(
        MALLORY, ID, resource_policy=grant_to("*")
    ),
    "cross-account-no-resource-policy__cross-account": C(MALLORY, ID, identity_policies=[ALLOW_ALL]),
    "cross-account-boundary-still-applies__cross-account": C(
        MALLORY,
        ID,
        identity_policies=[ALLOW_ALL],
        permissions_boundary=BOUNDARY_DDB,
        resource_policy=grant_to({"AWS": MALLORY.arn}),
    ),
    # ---------------------------------------------------------------- permissions boundaries
    "boundary-caps-identity__boundaries": C(
        ALICE, ID, identity_policies=[ALLOW_ALL], permissions_boundary=BOUNDARY_DDB
    ),
    "boundary-allows-identity__boundaries": C(
        ALICE, A, identity_policies=[ALLOW_ALL], permissions_boundary=BOUNDARY_S3
    ),
    "boundary-grants-nothing-alone__boundaries": C(ALICE, ID, permissions_boundary=BOUNDARY_S3),
    "boundary-deny-is-explicit__boundaries": C(
        ALICE,
        ED,
        identity_policies=[ALLOW_ALL],
        permissions_boundary=pol(stmt(), stmt("Deny", "s3:GetObject")),
    ),
    "boundary-not-limiting-user-arn-resource-policy__policy-evaluation-logic": C(
        ALICE, A, permissions_boundary=BOUNDARY_DDB, resource_policy=grant_to({"AWS": ALICE.arn})
    ),
    "boundary-limits-role-arn-resource-policy__policy-evaluation-logic": C(
        APP, ID, permissions_boundary=BOUNDARY_DDB, resource_policy=grant_to({"AWS": APP.arn})
    ),
    "boundary-allowing-role-arn-resource-policy__policy-evaluation-logic": C(
        APP, A, permissions_boundary=BOUNDARY_S3, resource_policy=grant_to({"AWS": APP.arn})
    ),
    "boundary-not-limiting-session-arn-resource-policy__policy-evaluation-logic": C(
        APP, A, permissions_boundary=BOUNDARY_DDB, resource_policy=grant_to({"AWS": APP.session_arn})
    ),
    "boundary-not-limiting-star-principal__principal-roles": C(
        APP, A, permissions_boundary=BOUNDARY_DDB, resource_policy=grant_to("*")
    ),
    "boundary-limits-account-principal__boundaries": C(
        ALICE,
        ID,
        identity_policies=[ALLOW_ALL],
        permissions_boundary=BOUNDARY_DDB,
        resource_policy=grant_to({"AWS": ACCT}),
    ),
    # ---------------------------------------------------------------- session policies
    "session-policy-caps-identity__policy-evaluation-logic": C(
        APP, ID, identity_policies=[ALLOW_ALL], session_policy=SESSION_DDB
    ),
    "session-policy-allowing__policy-evaluation-logic": C(
        APP,
        A,
        action="dynamodb:Scan",
        resource=TABLE,
        identity_policies=[ALLOW_ALL],
        session_policy=SESSION_DDB,
    ),
    "session-policy-limits-role-arn-resource-policy__policy-evaluation-logic": C(
        APP, ID, session_policy=SESSION_DDB, resource_policy=grant_to({"AWS": APP.arn})
    ),
    "session-policy-not-limiting-session-arn__policy-evaluation-logic": C(
        APP, A, session_policy=SESSION_DDB, resource_policy=grant_to({"AWS": APP.session_arn})
    ),
    "session-policy-deny-is-explicit__policy-evaluation-logic": C(
        APP, ED, identity_policies=[ALLOW_ALL], session_policy=pol(stmt("Deny"))
    ),
    # ---------------------------------------------------------------- role trust policies
    "trust-user-named-needs-no-identity__trust-policy": C(
        ALICE,
        A,
        action="sts:AssumeRole",
        resource=ROLE_ARN,
        resource_policy_required=True,
        resource_policy=grant_to({"AWS": ALICE.arn}, action="sts:AssumeRole", resource=None),
    ),
    "trust-account-named-needs-identity__trust-policy": C(
        ALICE,
        ID,
        action="sts:AssumeRole",
        resource=ROLE_ARN,
        resource_policy_required=True,
        resource_policy=grant_to({"AWS": ACCT}, action="sts:AssumeRole", resource=None),
    ),
    "trust-account-named-with-identity__trust-policy": C(
        ALICE,
        A,
        action="sts:AssumeRole",
        resource=ROLE_ARN,
        resource_policy_required=True,
        identity_policies=[pol(stmt(action="sts:AssumeRole", resource=ROLE_ARN))],
        resource_policy=grant_to({"AWS": ACCT}, action="sts:AssumeRole", resource=None),
    ),
    "trust-must-allow-even-with-identity__trust-policy": C(
        ALICE,
        ID,
        action="sts:AssumeRole",
        resource=ROLE_ARN,
        resource_policy_required=True,
        identity_policies=[ALLOW_ALL],
        resource_policy=grant_to({"Service": "ec2.amazonaws.com"}, action="sts:AssumeRole", resource=None),
    ),
    "trust-missing-policy-denies__trust-policy": C(
        ALICE,
        ID,
        action="sts:AssumeRole",
        resource=ROLE_ARN,
        resource_policy_required=True,
        identity_policies=[ALLOW_ALL],
    ),
    "trust-user-named-boundary-must-allow__trust-policy": C(
        ALICE,
        ID,
        action="sts:AssumeRole",
        resource=ROLE_ARN,
        resource_policy_required=True,
        permissions_boundary=BOUNDARY_S3,
        resource_policy=grant_to({"AWS": ALICE.arn}, action="sts:AssumeRole", resource=None),
    ),
    "trust-user-named-boundary-allows__trust-policy": C(
        ALICE,
        A,
        action="sts:AssumeRole",
        resource=ROLE_ARN,
        resource_policy_required=True,
        permissions_boundary=pol(stmt(action="sts:*")),
        resource_policy=grant_to({"AWS": ALICE.arn}, action="sts:AssumeRole", resource=None),
    ),
    "trust-cross-account-named-needs-identity__cross-account": C(
        MALLORY,
        ID,
        action="sts:AssumeRole",
        resource=ROLE_ARN,
        resource_policy_required=True,
        resource_policy=grant_to({"AWS": MALLORY.arn}, action="sts:AssumeRole", resource=None),
    ),
    "trust-cross-account-with-identity__cross-account": C(
        MALLORY,
        A,
        action="sts:AssumeRole",
        resource=ROLE_ARN,
        resource_policy_required=True,
        identity_policies=[pol(stmt(action="sts:AssumeRole"))],
        resource_policy=grant_to({"AWS": OTHER}, action="sts:AssumeRole", resource=None),
    ),
    "trust-federated-web-identity__principal-web-identity": C(
        GOOGLE,
        A,
        action="sts:AssumeRoleWithWebIdentity",
        resource=ROLE_ARN,
        resource_policy_required=True,
        resource_policy=grant_to(
            {"Federated": "accounts.google.com"}, action="sts:AssumeRoleWithWebIdentity", resource=None
        ),
    ),
    "trust-external-id-unknown__attacker-model": C(
        MALLORY,
        CD,
        action="sts:AssumeRole",
        resource=ROLE_ARN,
        resource_policy_required=True,
        mode="attacker",
        reason="sts:ExternalId must equal s3cr3t",
        identity_policies=[ALLOW_ALL],
        resource_policy=grant_to(
            {"AWS": OTHER},
            action="sts:AssumeRole",
            resource=None,
            Condition={"StringEquals": {"sts:ExternalId": "s3cr3t"}},
        ),
    ),
    # ---------------------------------------------------------------- KMS key policies
    "kms-enable-iam-policies-with-iam-allow__kms-key-policies": C(
        ALICE,
        A,
        action="kms:Decrypt",
        resource=KEY,
        resource_policy_required=True,
        identity_policies=[pol(stmt(action="kms:Decrypt", resource=KEY))],
        resource_policy=grant_to({"AWS": f"arn:aws:iam::{ACCT}:root"}, action="kms:*"),
    ),
    "kms-enable-iam-policies-without-iam-allow__kms-key-policies": C(
        ALICE,
        ID,
        action="kms:Decrypt",
        resource=KEY,
        resource_policy_required=True,
        resource_policy=grant_to({"AWS": f"arn:aws:iam::{ACCT}:root"}, action="kms:*"),
    ),
    "kms-iam-allow-without-key-policy-grant__kms-key-policies": C(
        ALICE,
        ID,
        action="kms:Decrypt",
        resource=KEY,
        resource_policy_required=True,
        identity_policies=[ALLOW_ALL],
        resource_policy=grant_to({"AWS": f"arn:aws:iam::{ACCT}:role/admin"}, action="kms:*"),
    ),
    "kms-key-policy-names-user-alone__kms-key-policies": C(
        ALICE,
        A,
        action="kms:Decrypt",
        resource=KEY,
        resource_policy_required=True,
        resource_policy=grant_to({"AWS": ALICE.arn}, action="kms:Decrypt"),
    ),
    "kms-root-needs-key-policy__kms-key-policies": C(
        ROOT,
        ID,
        action="kms:Decrypt",
        resource=KEY,
        resource_policy_required=True,
        resource_policy=grant_to({"AWS": ALICE.arn}, action="kms:Decrypt"),
    ),
    "kms-root-enabled-by-key-policy__kms-key-policies": C(
        ROOT,
        A,
        action="kms:Decrypt",
        resource=KEY,
        resource_policy_required=True,
        resource_policy=grant_to({"AWS": ACCT}, action="kms:*"),
    ),
    "kms-iam-deny-without-key-policy-allow__kms-key-policies": C(
        ALICE,
        ED,
        action="kms:Decrypt",
        resource=KEY,
        resource_policy_required=True,
        identity_policies=[pol(stmt("Deny", "kms:*"))],
        resource_policy=grant_to({"AWS": ALICE.arn}, action="kms:*"),
    ),
    # ---------------------------------------------------------------- NotPrincipal
    "notprincipal-deny-spares-listed-user-and-account__notprincipal": C(
        ALICE,
        A,
        identity_policies=[ALLOW_ALL],
        resource_policy=pol(
            stmt("Deny", "s3:*", NotPrincipal={"AWS": [ALICE.arn, f"arn:aws:iam::{ACCT}:root"]})
        ),
    ),
    "notprincipal-deny-denies-everyone-else__notprincipal": C(
        APP,
        ED,
        identity_policies=[ALLOW_ALL],
        resource_policy=pol(
            stmt("Deny", "s3:*", NotPrincipal={"AWS": [ALICE.arn, f"arn:aws:iam::{ACCT}:root"]})
        ),
    ),
    "notprincipal-deny-user-without-account-may-deny__notprincipal": C(
        ALICE,
        CD,
        identity_policies=[ALLOW_ALL],
        reason="exempts the caller but not the account ARN",
        resource_policy=pol(stmt("Deny", "s3:*", NotPrincipal={"AWS": [ALICE.arn]})),
    ),
    "notprincipal-deny-session-role-account-spared__notprincipal": C(
        APP,
        A,
        identity_policies=[ALLOW_ALL],
        resource_policy=pol(stmt("Deny", "s3:*", NotPrincipal={"AWS": [APP.session_arn, APP.arn, ACCT]})),
    ),
    "notprincipal-deny-session-without-role-may-deny__notprincipal": C(
        APP,
        CD,
        identity_policies=[ALLOW_ALL],
        reason="not the role ARN",
        resource_policy=pol(stmt("Deny", "s3:*", NotPrincipal={"AWS": [APP.session_arn, ACCT]})),
    ),
    "notprincipal-deny-role-only-denies-session__notprincipal": C(
        APP,
        ED,
        identity_policies=[ALLOW_ALL],
        resource_policy=pol(stmt("Deny", "s3:*", NotPrincipal={"AWS": [APP.arn, ACCT]})),
    ),
    "notprincipal-deny-always-denies-boundary-holders__boundaries": C(
        ALICE,
        ED,
        identity_policies=[ALLOW_ALL],
        permissions_boundary=BOUNDARY_S3,
        resource_policy=pol(stmt("Deny", "s3:*", NotPrincipal={"AWS": [ALICE.arn, ACCT]})),
    ),
    "notprincipal-allow-grants-unlisted__notprincipal": C(
        ALICE,
        A,
        resource_policy=pol(stmt("Allow", "s3:*", NotPrincipal={"AWS": f"arn:aws:iam::{ACCT}:user/bob"})),
    ),
    "notprincipal-allow-excludes-listed__notprincipal": C(
        ALICE, ID, resource_policy=pol(stmt("Allow", "s3:*", NotPrincipal={"AWS": ALICE.arn}))
    ),
    # ---------------------------------------------------------------- SCPs and RCPs
    "scp-every-level-allows__policy-evaluation-logic": C(
        ALICE, A, identity_policies=[S3_READ], scps=[[FULL_ACCESS], [FULL_ACCESS], [pol(stmt(action="s3:*"))]]
    ),
    "scp-one-level-lacks-allow__policy-evaluation-logic": C(
        ALICE,
        ID,
        identity_policies=[S3_READ],
        reason="organisation level 1",
        scps=[[FULL_ACCESS], [pol(stmt(action="dynamodb:*"))], [FULL_ACCESS]],
    ),
    "scp-level-with-no-policies__policy-evaluation-logic": C(
        ALICE, ID, identity_policies=[S3_READ], scps=[[FULL_ACCESS], []]
    ),
    "scp-does-not-grant__policy-evaluation-logic": C(ALICE, ID, scps=[[FULL_ACCESS]]),
    "scp-deny-is-explicit__policy-evaluation-logic": C(
        ALICE, ED, identity_policies=[S3_READ], scps=[[FULL_ACCESS, pol(stmt("Deny", "s3:*"))]]
    ),
    "scp-limits-resource-policy-grants__policy-evaluation-logic": C(
        ALICE, ID, resource_policy=grant_to({"AWS": ALICE.arn}), scps=[[pol(stmt(action="dynamodb:*"))]]
    ),
    "scp-service-linked-role-exempt__policy-evaluation-logic": C(
        SLR,
        A,
        identity_policies=[ALLOW_ALL],
        scps=[[pol(stmt(action="dynamodb:*")), pol(stmt("Deny", "s3:*"))]],
    ),
    "scp-applies-to-root__policy-evaluation-logic": C(ROOT, ID, scps=[[pol(stmt(action="dynamodb:*"))]]),
    "rcp-level-lacks-allow__policy-evaluation-logic": C(
        ALICE, ID, identity_policies=[S3_READ], rcps=[[pol(stmt(action="dynamodb:*", Principal="*"))]]
    ),
    "rcp-allows__policy-evaluation-logic": C(
        ALICE, A, identity_policies=[S3_READ], rcps=[[pol(stmt(Principal="*"))]]
    ),
    "rcp-deny-outside-org__policy-evaluation-logic": C(
        MALLORY,
        ED,
        identity_policies=[ALLOW_ALL],
        resource_policy=grant_to("*"),
        rcps=[
            [
                pol(stmt(Principal="*")),
                pol(
                    stmt(
                        "Deny",
                        "s3:*",
                        Principal="*",
                        Condition={"StringNotEquals": {"aws:PrincipalOrgID": "o-1"}},
                    )
                ),
            ]
        ],
    ),
    "rcp-service-linked-role-exempt__policy-evaluation-logic": C(
        SLR, A, identity_policies=[ALLOW_ALL], rcps=[[pol(stmt("Deny", "s3:*", Principal="*"))]]
    ),
    # ---------------------------------------------------------------- attacker model
    "source-ip-allow-is-conditional__attacker-model": C(
        ALICE,
        CD,
        mode="attacker",
        reason="aws:SourceIp must be in 203.0.113.0/24 (IpAddress, statement 'OfficeOnly'",
        identity_policies=[
            pol(stmt(Sid="OfficeOnly", Condition={"IpAddress": {"aws:SourceIp": "203.0.113.0/24"}}))
        ],
    ),
    "source-ip-allow-exact-mode-absent__attacker-model": C(
        ALICE,
        ID,
        identity_policies=[
            pol(stmt(Sid="OfficeOnly", Condition={"IpAddress": {"aws:SourceIp": "203.0.113.0/24"}}))
        ],
    ),
    "source-ip-assumed-in-range__attacker-model": C(
        ALICE,
        A,
        mode="attacker",
        values={"aws:SourceIp": "203.0.113.50"},
        identity_policies=[pol(stmt(Condition={"IpAddress": {"aws:SourceIp": "203.0.113.0/24"}}))],
    ),
    "source-ip-assumed-out-of-range__attacker-model": C(
        ALICE,
        ID,
        mode="attacker",
        values={"aws:SourceIp": "198.51.100.50"},
        identity_policies=[pol(stmt(Condition={"IpAddress": {"aws:SourceIp": "203.0.113.0/24"}}))],
    ),
    "secure-transport-deny-avoided__attacker-model": C(
        ALICE,
        A,
        mode="attacker",
        identity_policies=[
            S3_READ,
            pol(stmt("Deny", "s3:*", Condition={"Bool": {"aws:SecureTransport": "false"}})),
        ],
    ),
    "secure-transport-deny-when-pinned__attacker-model": C(
        ALICE,
        ED,
        mode="attacker",
        values={"aws:SecureTransport": "false"},
        identity_policies=[
            S3_READ,
            pol(stmt("Deny", "s3:*", Condition={"Bool": {"aws:SecureTransport": "false"}})),
        ],
    ),
    "requested-region-allow-satisfied__attacker-model": C(
        ALICE,
        A,
        mode="attacker",
        identity_policies=[pol(stmt(Condition={"StringEquals": {"aws:RequestedRegion": "eu-west-1"}}))],
    ),
    "unknown-key-deny-caps-at-conditional__attacker-model": C(
        ALICE,
        CD,
        mode="attacker",
        reason="unless aws:SourceVpce does not equal vpce-9",
        identity_policies=[
            S3_READ,
            pol(stmt("Deny", "s3:*", Condition={"StringNotEquals": {"aws:SourceVpce": "vpce-9"}})),
        ],
    ),
    "unknown-key-deny-without-allow-still-implicit__attacker-model": C(
        ALICE,
        ID,
        mode="attacker",
        identity_policies=[
            pol(stmt("Deny", "s3:*", Condition={"StringNotEquals": {"aws:SourceVpce": "vpce-9"}}))
        ],
    ),
    "mfa-deny-ifexists-conditional__attacker-model": C(
        ALICE,
        CD,
        mode="attacker",
        reason="aws:MultiFactorAuthPresent is false (if present)",
        identity_policies=[
            S3_READ,
            pol(stmt("Deny", "s3:*", Condition={"BoolIfExists": {"aws:MultiFactorAuthPresent": "false"}})),
        ],
    ),
    "unknown-operator-conditional__condition-operators": C(
        ALICE,
        CD,
        mode="attacker",
        reason="unknown condition operator StringMaybe",
        identity_policies=[pol(stmt(Condition={"StringMaybe": {"aws:username": "alice"}}))],
    ),
    "unknown-operator-exact-mode-conditional__condition-operators": C(
        ALICE,
        CD,
        reason="unknown condition operator StringMaybe",
        identity_policies=[pol(stmt(Condition={"StringMaybe": {"aws:username": "alice"}}))],
    ),
    "definite-allow-beats-conditional-allow__attacker-model": C(
        ALICE,
        A,
        mode="attacker",
        identity_policies=[S3_READ, pol(stmt(Condition={"IpAddress": {"aws:SourceIp": "203.0.113.0/24"}}))],
    ),
    "principal-tag-known-absent__attacker-model": C(
        ALICE,
        ID,
        mode="attacker",
        identity_policies=[pol(stmt(Condition={"StringEquals": {"aws:PrincipalTag/level": "admin"}}))],
    ),
    "principal-tag-known-present__attacker-model": C(
        RequestPrincipal(
            arn=ALICE.arn, account_id=ACCT, kind="user", user_name="alice", tags={"level": "admin"}
        ),
        A,
        mode="attacker",
        identity_policies=[pol(stmt(Condition={"StringEquals": {"aws:PrincipalTag/level": "admin"}}))],
    ),
    "conditional-boundary-makes-conditional__attacker-model": C(
        ALICE,
        CD,
        mode="attacker",
        reason="aws:SourceIp",
        identity_policies=[ALLOW_ALL],
        permissions_boundary=pol(stmt(Condition={"IpAddress": {"aws:SourceIp": "10.0.0.0/8"}})),
    ),
    "conditional-scp-makes-conditional__attacker-model": C(
        ALICE,
        CD,
        mode="attacker",
        reason="aws:SourceVpc",
        identity_policies=[ALLOW_ALL],
        scps=[[pol(stmt(Condition={"StringEquals": {"aws:SourceVpc": "vpc-1"}}))]],
    ),
}


@pytest.mark.parametrize("case", list(CASES.values()), ids=list(CASES))
def test_decide(case: Case) -> None:
    decision = case.run()
    assert decision.verdict is case.expected, decision.explain
    assert decision.allowed is (case.expected in (A, CD))
    if case.expected is CD:
        assert decision.conditions
        if case.reason:
            assert any(case.reason in c for c in decision.conditions), decision.conditions
    elif case.reason:
        assert case.reason in decision.explain
    if case.expected is A:
        assert not decision.conditions


def test_decision_names_the_deciding_statements() -> None:
    allowed = CASES["identity-allow-grants__policy-evaluation-logic"].run()
    assert [ref.policy for ref in allowed.matched] == ["ExportsRead"]
    denied = CASES["explicit-deny-overrides-allow__policy-evaluation-logic"].run()
    assert [(ref.policy, ref.label(), ref.effect) for ref in denied.matched] == [
        ("guard", "NoExports", "Deny")
    ]
    assert "statement 'NoExports' of policy guard" in denied.explain
    conditional = CASES["unknown-key-deny-caps-at-conditional__attacker-model"].run()
    assert {ref.effect for ref in conditional.matched} == {"Allow", "Deny"}


def test_either_of_two_conditional_allows() -> None:
    case = C(
        ALICE,
        CD,
        mode="attacker",
        identity_policies=[
            pol(stmt(Sid="Office", Condition={"IpAddress": {"aws:SourceIp": "203.0.113.0/24"}})),
            pol(stmt(Sid="Vpn", Condition={"StringEquals": {"aws:SourceVpc": "vpc-1"}})),
        ],
    )
    (reason,) = case.run().conditions
    assert (
        reason.startswith("either aws:SourceIp must be in 203.0.113.0/24") and "; or aws:SourceVpc" in reason
    )


def test_implicit_deny_explains_the_layer() -> None:
    assert "permissions boundary" in CASES["boundary-caps-identity__boundaries"].run().explain
    assert "Cross-account" in CASES["cross-account-identity-alone-insufficient__cross-account"].run().explain
    assert "must allow explicitly" in CASES["trust-missing-policy-denies__trust-policy"].run().explain
    assert "session policy" in CASES["session-policy-caps-identity__policy-evaluation-logic"].run().explain


def test_resource_account_none_means_same_account() -> None:
    case = C(ALICE, A, resource_account=None, resource_policy=grant_to({"AWS": ALICE.arn}))
    assert case.run().verdict is A


def test_policies_are_reusable_across_requests() -> None:
    ctx = Context.for_principal(ALICE, mode="exact")
    for n in range(50):
        request = Request(
            principal=ALICE,
            action="s3:GetObject",
            resource=f"{BUCKET}/{n}",
            resource_account=ACCT,
            context=ctx,
        )
        assert decide(request, identity_policies=[S3_READ]).verdict is A
