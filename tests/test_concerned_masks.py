"""The candidate masks the graph selects datasets by are supersets of what statements can apply to.

``concerned_mask`` (by literal-prefix ranges, or the prefix index) decides which datasets are evaluated
at all: a dataset it leaves out is never granted. So for every statement of realistic policies (the
synthetic organisations: wildcards, exact ARNs, prefixes, sub-resources, region/account wildcards) and
every dataset type and action template, every dataset the statement may apply to (``statement_masks``:
YES or unknown on some request ARN) must be in its concerned mask.
"""

from __future__ import annotations

import pytest
from synthetic import synth

from blastradius.graph import build_graph
from blastradius.policy import parse_policy
from blastradius.report import LEVELS
from blastradius.rules import load_rules


@pytest.mark.parametrize("seed", [3, 7])
def test_concerned_mask_covers_every_dataset_a_statement_may_apply_to(seed: int) -> None:
    result = synth().generate(principals=80, datasets=800, policies=15, seed=seed)
    graph = build_graph(result.snapshot, load_rules(), escalation=False)
    model = graph.model
    stores = model.rules.datastores
    principals = [model.principal(arn) for arn in [*model.users, *model.roles]]
    principal = principals[0]
    assert principal is not None
    context = model.base_context(principal)
    checked = 0
    for p in principals:
        assert p is not None
        for policy in p.identity_policies:
            for st in policy.statements:
                if st.not_resource or any("${" in r for r in st.resource_patterns or ()):
                    continue
                for dataset_type, spec in stores.types.items():
                    index = model.type_index(dataset_type)
                    if not index.arns:
                        continue
                    everything = (1 << len(index.arns)) - 1
                    concerned = model.concerned_mask(st, spec.service, dataset_type)
                    for level in LEVELS:
                        for action in stores.actions_for(dataset_type, level):
                            if not st.matches_action(action):
                                continue
                            templates = model.templates(dataset_type, action)
                            masks = model.statement_masks(
                                st, dataset_type, templates, context, principal.arn, everything
                            )
                            assert masks.touch & ~concerned == 0, (st.resource_patterns, dataset_type)
                            checked += 1
    assert checked > 100


def test_sub_resource_patterns_concern_their_dataset() -> None:
    """``arn:aws:s3:::b/*`` (objects), an exact object, a DynamoDB index: each concerns the bucket or
    table it names a part of, though no dataset ARN starts with the pattern's literal prefix."""
    result = synth().generate(principals=40, datasets=400, policies=8, seed=5)
    graph = build_graph(result.snapshot, load_rules(), escalation=False)
    model = graph.model
    bucket = next(d.arn for d in result.snapshot.datasets if d.type == "s3-bucket")
    table = next(d.arn for d in result.snapshot.datasets if d.type == "dynamodb-table")
    patterns = {
        "s3-bucket": [f"{bucket}/*", f"{bucket}/reports/*", f"{bucket}/reports/x.csv"],
        "dynamodb-table": [f"{table}/index/*", f"{table}/stream/2026"],
    }
    for dataset_type, found in patterns.items():
        index = model.type_index(dataset_type)
        target = bucket if dataset_type == "s3-bucket" else table
        for pattern in found:
            policy = parse_policy(
                {
                    "Version": "2012-10-17",
                    "Statement": [{"Effect": "Allow", "Action": "*", "Resource": pattern}],
                },
                name="t",
            )
            (st,) = policy.statements
            service = model.rules.datastores.types[dataset_type].service
            mask = model.concerned_mask(st, service, dataset_type)
            assert mask >> index.position[target] & 1, pattern


def _reference(model: object, st: object, dataset_type: str, templates: tuple[str, ...]) -> tuple[int, int]:
    """statement_masks' per-dataset rule: YES on every request ARN, YES on some."""
    from blastradius.policy import Tri

    yes = touch = 0
    index = model.type_index(dataset_type)  # type: ignore[attr-defined]
    for pos in range(len(index.arns)):
        resources = model.base_resources(dataset_type, templates, pos)  # type: ignore[attr-defined]
        states = {st.resource_state(r, None) for r in resources}  # type: ignore[attr-defined]
        if resources and states == {Tri.YES}:
            yes |= 1 << pos
        if Tri.YES in states:
            touch |= 1 << pos
    return yes, touch


@pytest.mark.parametrize("seed", [3, 11])
def test_bulk_regex_scan_equals_matching_arn_by_arn(seed: int) -> None:
    """The bulk path of statement_masks (one regex scan over every request ARN of a type) gives what
    ``Statement.resource_state`` gives ARN by ARN, for every variable-free statement of realistic
    policies, every dataset type and template set (Resource and NotResource, globs, prefixes, exact)."""
    result = synth().generate(principals=80, datasets=800, policies=15, seed=seed)
    graph = build_graph(result.snapshot, load_rules(), escalation=False)
    model = graph.model
    stores = model.rules.datastores
    extra = parse_policy(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Action": "*",
                    "NotResource": ["arn:aws:s3:::*-logs*", "arn:aws:s3:::a?c*"],
                },
                {"Effect": "Allow", "Action": "*", "Resource": ["arn:aws:*:*:*:table/*-orders*/index/*"]},
                {"Effect": "Allow", "Action": "*", "Resource": "arn:aws:s3:::*/reports/*"},
            ],
        },
        name="extra",
    )
    statements = {
        id(st): st
        for p in model.users
        for pr in [model.principal(p)]
        if pr
        for pol in pr.identity_policies
        for st in pol.statements
    }
    statements.update({id(st): st for st in extra.statements})
    compared = 0
    for st in statements.values():
        if st.resource_patterns and any("${" in r for r in st.resource_patterns):
            continue
        for dataset_type in stores.types:
            if not model.type_index(dataset_type).arns:
                continue
            for level in LEVELS:
                for action in stores.actions_for(dataset_type, level):
                    templates = model.templates(dataset_type, action)
                    assert model._bulk_match(st, dataset_type, templates) == _reference(
                        model, st, dataset_type, templates
                    ), (st.resource_patterns, st.not_resource, dataset_type, templates)
                    compared += 1
    assert compared > 50
