#!/usr/bin/env python3
"""Benchmark: ``blastradius simulate`` on a list of varied cases, all in one process.

    python benchmarks/bench_simulate.py --cases 10000 --repeat 3

Generates ``--cases`` cases (seeded, so every run decides the same list): a mix of principals (user, role
session, other-account user), actions, resources, 1-3 identity policies with Allow/Deny statements and
condition blocks over every operator family, and, at random, a permissions boundary, a resource policy,
a session policy, SCP and RCP levels. Each repeat parses and decides the whole list with the simulate code
path (``load_cases`` + ``run_cases``, exactly what ``simulate --input -`` does after reading stdin), in a
fresh interpreter so that no policy cache carries over. Reports the median cases per second (stderr: a
line for humans; stdout: JSON).
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

ACCT = "111122223333"
OTHER = "444455556666"
PRINCIPALS = [
    f"arn:aws:iam::{ACCT}:user/alice",
    f"arn:aws:iam::{ACCT}:user/bob",
    f"arn:aws:sts::{ACCT}:assumed-role/app/job-1",
    f"arn:aws:iam::{OTHER}:user/mallory",
]
REQUESTS = [
    ("s3:GetObject", "arn:aws:s3:::exports/reports/q{n}.csv"),
    ("s3:PutObject", "arn:aws:s3:::uploads/home/alice/{n}"),
    ("dynamodb:Query", f"arn:aws:dynamodb:us-east-1:{ACCT}:table/t{{n}}"),
    ("secretsmanager:GetSecretValue", f"arn:aws:secretsmanager:us-east-1:{ACCT}:secret:db-{{n}}"),
    ("kms:Decrypt", f"arn:aws:kms:us-east-1:{ACCT}:key/k{{n}}"),
]
ACTIONS = [
    "s3:GetObject",
    "s3:Get*",
    "s3:*",
    "dynamodb:*",
    "secretsmanager:GetSecretValue",
    "kms:Decrypt",
    "*",
]
RESOURCES = [
    "*",
    "arn:aws:s3:::exports/*",
    "arn:aws:s3:::uploads/home/${aws:username}/*",
    "arn:aws:dynamodb:*:*:table/t1*",
]
CONDITIONS: list[dict[str, Any]] = [
    {"IpAddress": {"aws:SourceIp": ["203.0.113.0/24", "2001:db8::/32"]}},
    {"StringEquals": {"aws:PrincipalTag/team": "${aws:PrincipalTag/team}"}},
    {"StringLike": {"s3:prefix": "home/${aws:username}/*"}},
    {"Bool": {"aws:SecureTransport": "true"}},
    {"NumericLessThan": {"s3:max-keys": "100"}},
    {"DateLessThan": {"aws:CurrentTime": "2030-01-01T00:00:00Z"}},
    {"ArnLike": {"aws:PrincipalArn": f"arn:aws:iam::{ACCT}:*"}},
    {"ForAllValues:StringEquals": {"aws:TagKeys": ["env", "team"]}},
    {"Null": {"aws:TokenIssueTime": "true"}},
    {"StringNotEqualsIfExists": {"aws:RequestedRegion": "ap-south-1"}},
]


def _statement(rnd: random.Random, effect: str, principal: bool = False) -> dict[str, Any]:
    st: dict[str, Any] = {
        "Effect": effect,
        "Action": rnd.sample(ACTIONS, rnd.randint(1, 2)),
        "Resource": rnd.sample(RESOURCES, rnd.randint(1, 2)),
    }
    if rnd.random() < 0.5:
        st["Condition"] = rnd.choice(CONDITIONS)
    if principal:
        st["Principal"] = rnd.choice(["*", {"AWS": ACCT}, {"AWS": PRINCIPALS[0]}, {"AWS": OTHER}])
    return st


def _doc(statements: list[dict[str, Any]]) -> dict[str, Any]:
    return {"Version": "2012-10-17", "Statement": statements}


def generate(count: int, seed: int = 7) -> list[dict[str, Any]]:
    """``count`` varied simulate cases."""
    rnd = random.Random(seed)
    cases = []
    for n in range(count):
        action, template = rnd.choice(REQUESTS)
        principal = rnd.choice(PRINCIPALS)
        context: dict[str, Any] = {"aws:SourceIp": rnd.choice(["203.0.113.9", "198.51.100.1", "2001:db8::5"])}
        if rnd.random() < 0.5:
            context["aws:SecureTransport"] = rnd.random() < 0.8
        if rnd.random() < 0.3:
            context["aws:TagKeys"] = rnd.sample(["env", "team", "cost"], rnd.randint(0, 2))
        if rnd.random() < 0.3:
            context["s3:prefix"] = rnd.choice(["home/alice/x", "public/"])
        case: dict[str, Any] = {
            "request": {
                "principal": principal,
                "action": action,
                "resource": template.format(n=n % 50),
                "resource_account": ACCT,
                "context": context,
                "principal_tags": {"team": rnd.choice(["data", "web"])},
            },
            "identity_policies": [
                _doc(
                    [
                        _statement(rnd, rnd.choice(["Allow", "Allow", "Deny"]))
                        for _ in range(rnd.randint(1, 4))
                    ]
                )
                for _ in range(rnd.randint(1, 3))
            ],
        }
        if rnd.random() < 0.3:
            case["permissions_boundary"] = _doc([_statement(rnd, "Allow")])
        if rnd.random() < 0.4:
            case["resource_policy"] = _doc([_statement(rnd, rnd.choice(["Allow", "Deny"]), principal=True)])
        if "assumed-role" in principal and rnd.random() < 0.3:
            case["session_policy"] = _doc([_statement(rnd, "Allow")])
        if rnd.random() < 0.5:
            full = _doc([{"Effect": "Allow", "Action": "*", "Resource": "*"}])
            case["scps"] = [[full], [full, _doc([_statement(rnd, "Deny")])]]
        if rnd.random() < 0.2:
            case["rcps"] = [[_doc([{"Effect": "Allow", "Principal": "*", "Action": "*", "Resource": "*"}])]]
        cases.append(case)
    return cases


_CHILD = """
import json, sys, time
from blastradius.simulate import load_cases, run_cases
text = open(sys.argv[1]).read()
start = time.perf_counter()
cases, _ = load_cases(text, "bench")
results = run_cases(cases)
elapsed = time.perf_counter() - start
counts = {}
for r in results:
    key = r.decision or "error"
    counts[key] = counts.get(key, 0) + 1
print(json.dumps({"seconds": elapsed, "decisions": counts}))
"""


def main() -> int:
    """Generate, run ``--repeat`` fresh interpreters, report the median."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--cases", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "cases.json"
        path.write_text(json.dumps(generate(args.cases, args.seed)))
        runs = []
        for _ in range(args.repeat):
            out = subprocess.run(
                [sys.executable, "-c", _CHILD, str(path)], check=True, capture_output=True, text=True
            )
            runs.append(json.loads(out.stdout))
    seconds = statistics.median(r["seconds"] for r in runs)
    result = {
        "cases": args.cases,
        "repeat": args.repeat,
        "median_seconds": round(seconds, 3),
        "cases_per_second": round(args.cases / seconds),
        "decisions": runs[0]["decisions"],
    }
    print(
        f"simulate: {args.cases} cases in {seconds:.2f} s (median of {args.repeat}) = "
        f"{result['cases_per_second']} cases/s; decisions {result['decisions']}",
        file=sys.stderr,
    )
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
