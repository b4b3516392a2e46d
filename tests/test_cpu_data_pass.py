"""The data pass's shortcuts give what the plain computations they replace give.

Each shortcut of the single-key search's second pass (grouping a level's actions by policy, the prefix
index answering with bitsets, the RCP mask of a snapshot without an organisation, the per-type dataset
lists, the request context of a dataset built from normalised parts) is checked against the plain
computation on realistic synthetic organisations (with and without SCPs and RCPs) and on hand-made
edge cases, fallback included.
"""

from __future__ import annotations

import dataclasses

import pytest
from synthetic import synth

from blastradius.graph import (
    AccountModel,
    Principal,
    _action_classes,
    _ActionClass,
    _PositionPrefixes,
    _PrefixIndex,
    _settle,
    _split_by_policy,
    build_graph,
    mask_of,
)
from blastradius.model import Dataset, Snapshot
from blastradius.policy import Context, Policy, Statement, Tri, parse_policy
from blastradius.report import LEVELS
from blastradius.rules import load_rules


def _model(seed: int, *, org: bool) -> AccountModel:
    result = synth().generate(principals=60, datasets=600, policies=12, seed=seed, org=org)
    return build_graph(result.snapshot, load_rules(), escalation=False).model


@pytest.fixture(scope="module", params=[False, True], ids=["no-org", "org"])
def model(request: pytest.FixtureRequest) -> AccountModel:
    return _model(4, org=request.param)


def _principals(model: AccountModel) -> list[Principal]:
    found = [model.principal(arn) for arn in [*model.users, *model.roles]]
    return [p for p in found if p is not None]


# -- grouping a level's actions (Policy.action_groups, _action_classes, _split_by_policy) -------------


def _plain_action_classes(
    principal: Principal, actions: tuple[str, ...], context: Context
) -> tuple[_ActionClass, ...]:
    """``_action_classes`` as it was: statements found action by action, grouped by their ids."""
    boundary = principal.boundary
    grouped: dict[tuple[int, ...], list[str]] = {}
    found: dict[tuple[int, ...], tuple[list[Statement], list[Statement], list[list[Statement]]]] = {}
    for action in actions:
        covering = [st for policy in principal.identity_policies for st in policy.statements_for(action)]
        bound = list(boundary.statements_for(action)) if boundary is not None else []
        scps = [[st for p in level for st in p.statements_for(action)] for level in principal.scps]
        key = [id(st) for st in covering] + [id(st) for st in bound]
        for level in scps:
            key += [*(id(st) for st in level), 0]
        members = grouped.setdefault(tuple(key), [])
        if not members:
            found[tuple(key)] = (covering, bound, scps)
        members.append(action)
    out = []
    for group, members in grouped.items():
        covering, bound, scps = found[group]
        every = [*covering, *bound, *(st for level in scps for st in level)]
        settled = {id(st): _settle(st, context) for st in every}
        fast = None not in settled.values()
        keep = [st for st in every if settled[id(st)] is not Tri.NO] if fast else every
        kept = {id(st) for st in keep}
        out.append(
            _ActionClass(
                action=members[0],
                members=tuple(members),
                allows=tuple(st for st in keep if not st.is_deny and any(st is c for c in covering)),
                denies=tuple(st for st in keep if st.is_deny),
                boundary_allows=(
                    tuple(st for st in keep if not st.is_deny and any(st is b for b in bound))
                    if boundary is not None
                    else None
                ),
                maybe=frozenset(i for i, state in settled.items() if state is Tri.UNKNOWN),
                fast=fast,
                scp_allows=tuple(tuple(st for st in lv if not st.is_deny and id(st) in kept) for lv in scps),
            )
        )
    return tuple(out)


def test_action_classes_group_as_action_by_action(model: AccountModel) -> None:
    stores = model.rules.datastores
    compared = 0
    for principal in _principals(model):
        context = model.base_context(principal)
        for dataset_type in stores.types:
            for level in LEVELS:
                actions = stores.actions_for(dataset_type, level)
                if not actions:
                    continue
                assert _action_classes(principal, actions, context) == _plain_action_classes(
                    principal, actions, context
                )
                compared += 1
                for action in actions[:2]:  # one action at a time, as the KMS masks and escalation ask
                    assert _action_classes(principal, (action,), context) == _plain_action_classes(
                        principal, (action,), context
                    )
    assert compared > 500
    assert any(p.scps for p in _principals(model)) or model.snapshot.organization is None


def _policy(*statements: dict[str, object]) -> Policy:
    policy = parse_policy({"Version": "2012-10-17", "Statement": list(statements)}, name="t")
    assert policy is not None
    return policy


def test_action_groups_label_actions_by_the_statements_covering_them() -> None:
    policy = _policy(
        {"Effect": "Allow", "Action": "s3:Get*", "Resource": "*"},
        {"Effect": "Deny", "NotAction": "s3:GetObject", "Resource": "*"},
        {"Effect": "Allow", "Action": ["S3:GETOBJECT", "s3:PutObject"], "Resource": "*"},
    )
    actions = ("s3:GetObject", "s3:GetObjectAcl", "s3:PutObject", "s3:ListBucket", "s3:getobject")
    groups = policy.action_groups(actions)
    for i, action in enumerate(actions):
        assert groups.statements[groups.labels[i]] == policy.statements_for(action)
    assert groups.labels[0] == groups.labels[4]  # same statements, whatever the case
    assert len(set(groups.labels)) == len(groups.statements) == 4
    assert policy.action_groups(actions) is groups  # cached per tuple of actions


def test_action_groups_of_a_policy_covering_none_of_the_actions() -> None:
    policy = _policy({"Effect": "Allow", "Action": "kms:Decrypt", "Resource": "*"})
    groups = policy.action_groups(("s3:GetObject", "s3:PutObject"))
    assert groups.labels == (0, 0)
    assert groups.statements == ((),)
    empty = policy.action_groups(())
    assert empty.labels == () and empty.statements == ()


def test_statement_actions_mask_is_matches_action_bit_by_bit() -> None:
    policy = _policy(
        {"Effect": "Allow", "Action": ["s3:*Object", "dynamodb:Query"], "Resource": "*"},
        {"Effect": "Allow", "NotAction": ["s3:*Object"], "Resource": "*"},
    )
    actions = ("s3:GetObject", "s3:ListBucket", "dynamodb:Query", "s3:DeleteObject", "kms:Decrypt")
    for st in policy.statements:
        mask = st.actions_mask(actions)
        assert [bool(mask >> i & 1) for i in range(len(actions))] == [st.matches_action(a) for a in actions]


def test_split_by_policy_keeps_one_action_per_distinct_statements(model: AccountModel) -> None:
    stores = model.rules.datastores
    policies = [
        p
        for d in model.datasets.values()
        if (doc := model.effective_policies.get(d.arn)) is not None
        and (p := model.resource_policy(d.arn, doc, "t")) is not None
    ][:40]
    assert policies
    principal = _principals(model)[0]
    context = model.base_context(principal)
    for dataset_type in stores.types:
        for level in LEVELS:
            actions = stores.actions_for(dataset_type, level)
            classes = _action_classes(principal, actions, context)
            for policy in policies:
                plain: dict[tuple[int, tuple[int, ...]], str] = {}
                for i, cls in enumerate(classes):
                    for action in cls.members:
                        plain.setdefault((i, tuple(id(st) for st in policy.statements_for(action))), action)
                assert _split_by_policy(classes, policy) == list(plain.values())


# -- dataset indexes: prefixes as bitsets, per-type lists, the RCP mask ---------------------------------


def test_position_prefixes_select_what_the_prefix_index_selects(model: AccountModel) -> None:
    patterns = {"*", "arn:aws:s3:::*", "not-an-arn", "arn:aws:s3:::*payments*", "arn:aws:s3:::orders-*/*"}
    for principal in _principals(model):
        for policy in principal.identity_policies:
            for st in policy.statements:
                patterns.update(st.resource_patterns or ())
    for dataset_type in model.rules.datastores.types:
        index = model.type_index(dataset_type)
        arns = list(index.arns)
        patterns.update(f"{arn}/*" for arn in arns[:5])
        patterns.update(f"{arn[:-3]}*" for arn in arns[:5])
        patterns.update(f"{arn}/a/b/*" for arn in arns[:3])
        prefixes, plain = _PositionPrefixes(index.arns), _PrefixIndex(index.arns)
        for pattern in sorted(patterns):
            assert prefixes.mask(pattern) == index.mask(plain.select(pattern)), (dataset_type, pattern)


def test_type_index_holds_the_datasets_of_its_type_in_arn_order(model: AccountModel) -> None:
    for dataset_type in [*model.rules.datastores.types, "no-such-type"]:
        index = model.type_index(dataset_type)
        plain = sorted((d for d in model.datasets.values() if d.type == dataset_type), key=lambda d: d.arn)
        assert list(index.datasets) == plain
        assert all(model.place(d.arn) == (dataset_type, i) for i, d in enumerate(plain))


def test_rcp_mask_without_an_organisation_is_empty_as_rcps_says(model: AccountModel) -> None:
    for dataset_type in model.rules.datastores.types:
        index = model.type_index(dataset_type)
        plain = mask_of(i for i, d in enumerate(index.datasets) if model.rcps(d.arn, d.account_id))
        assert model.rcp_mask(dataset_type) == plain
        if model.snapshot.organization is None:
            assert plain == 0
        elif dataset_type == "s3-bucket":
            assert plain  # the synthetic organisation's RCPs constrain S3


# -- the request context of a dataset (AccountModel.context, Context.with_lowered) --------------------


def _state(context: Context) -> tuple[object, ...]:
    return (
        context.mode,
        list(context._values.items()),
        context._absent,
        context._absent_prefixes,
        context._attacker,
        context._attacker_prefixes,
        context._choices,
    )


def _datasets(model: AccountModel) -> list[Dataset]:
    picked: dict[str, Dataset] = {}
    for d in model.datasets.values():
        picked.setdefault(f"{d.type}/{bool(d.tags)}/{bool(d.aliases)}", d)
    return list(picked.values())


@pytest.mark.parametrize("via", [None, "s3.eu-west-1.amazonaws.com"])
def test_dataset_context_is_the_one_built_from_its_raw_keys(model: AccountModel, via: str | None) -> None:
    datasets = _datasets(model)
    assert {d.type for d in datasets} >= {"s3-bucket", "kms-key"}
    for principal in _principals(model)[:5]:
        for d in datasets:
            fast = model.context(principal, d.tags, d.account_id, via, d)
            plain = model.context(principal, dict(d.tags), d.account_id, via, d)  # not its tags: plain path
            assert _state(fast) == _state(plain)
            assert fast is not plain


def test_dataset_context_with_overridden_keys_takes_the_plain_path() -> None:
    result = synth().generate(principals=20, datasets=200, policies=5, seed=2)
    graph = build_graph(
        result.snapshot, load_rules(), escalation=False, context_overrides={"aws:ResourceAccount": "999"}
    )
    model = graph.model
    principal = _principals(model)[0]
    for d in _datasets(model):
        context = model.context(principal, d.tags, d.account_id, None, d)
        assert context.get("aws:ResourceAccount") == ("999",)


def test_dataset_context_of_a_kms_key_without_aliases_knows_they_are_absent() -> None:
    result = synth().generate(principals=20, datasets=200, policies=5, seed=2)
    key = next(d for d in result.snapshot.datasets if d.type == "kms-key")
    bare = dataclasses.replace(key, aliases=(), tags={"Team": "a", "team": "b", "n": "1"})
    datasets = [bare if d is key else d for d in result.snapshot.datasets]
    snapshot: Snapshot = dataclasses.replace(
        result.snapshot, datasets=datasets, services={**result.snapshot.services, "kms": "ok"}
    )
    model = build_graph(snapshot, load_rules(), escalation=False).model
    principal = _principals(model)[0]
    fast = model.context(principal, bare.tags, bare.account_id, None, bare)
    plain = model.context(principal, dict(bare.tags), bare.account_id, None, bare)
    assert _state(fast) == _state(plain)
    assert fast.get("aws:ResourceTag/team") == ("b",)
    assert str(fast.lookup("kms:ResourceAliases")) == str(plain.lookup("kms:ResourceAliases"))


def test_with_lowered_is_with_values_for_normalised_parts() -> None:
    base = Context.attacker(values={"aws:PrincipalTag/team": "a", "aws:SourceIp": "10.0.0.1"})
    raw = {"aws:ResourceTag/Team": ("x",), "aws:ResourceAccount": ("111",), "aws:SourceIp": ("9.9.9.9",)}
    plain = base.with_values(raw, absent=["aws:ResourceTag/*", "kms:ResourceAliases"])
    lowered = base.with_lowered(
        [(k.lower(), v) for k, v in raw.items()],
        absent=frozenset({"kms:resourcealiases"}),
        absent_prefixes=("aws:resourcetag/",),
    )
    assert _state(lowered) == _state(plain)


# -- bulk glob matching (_RequestLines.matching): absent and rare literal parts ------------------------


def _lines() -> list[str]:
    lines = [f"arn:aws:s3:::team-{t}-{i:04d}/*" for t in "abcdefgh" for i in range(100)]
    lines += [f"arn:aws:s3:::team-a-{i:04d}/payments/{i}" for i in range(20)]
    lines += ["arn:aws:s3:::x-payments-payments/*", "arn:aws:s3:::Payments/*"]
    return sorted(lines)


@pytest.mark.parametrize(
    "pattern",
    [
        "arn:aws:s3:::*payments*",  # a rare literal part after the first wildcard: only its lines
        "arn:aws:s3:::*payments*/*",
        "arn:aws:s3:::team-*/payments/1?",
        "arn:aws:s3:::*-payments-*",  # the part repeats within one line: that line once
        "arn:aws:s3:::*/index/*",  # a part nowhere in the text: no line, no scan
        "arn:aws:ssm:*:1:parameter/*",
        "arn:aws:dynamodb:*:1:table/*",
        "*payments*",  # a wildcard first: every part may be the rare one
        "arn:aws:s3:::team-*-00?1/*",
        "arn:aws:s3:::team-*-0*",  # common parts, a common prefix: the regex scan
        "arn:aws:s3:::team-b-*",
        "arn:aws:s3:::team-b-0001/*",
    ],
)
def test_request_lines_match_as_arn_by_arn(pattern: str) -> None:
    from blastradius.graph import _RequestLines
    from blastradius.policy.match import ResourcePattern

    lines = _lines()
    request = _RequestLines(list(lines), list(range(len(lines))))
    compiled = ResourcePattern(pattern, variables=False)
    context = Context.exact()
    expected = [i for i, line in enumerate(lines) if compiled.match(line, context) is Tri.YES]
    found = list(request.matching(pattern))
    assert sorted(found) == expected
    assert len(found) == len(set(found))


# -- _mask_decide's bitset of its grants, resource policies parsed with a lazy label ------------------


def test_access_decisions_decided_mask_is_the_positions_decided(model: AccountModel) -> None:
    from blastradius.graph import PermissionGraph, access_decisions

    graph = PermissionGraph(model, escalation=False)
    levels = 0
    for principal in _principals(model)[:25]:
        for decisions in access_decisions(graph, principal):
            assert decisions.decided_mask == mask_of(decisions.decided)
            levels += bool(decisions.decided)
    assert levels > 10


def test_resource_policy_label_is_made_only_to_parse() -> None:
    result = synth().generate(principals=10, datasets=100, policies=3, seed=1)
    model = build_graph(result.snapshot, load_rules(), escalation=False).model
    asked: list[str] = []

    def label() -> str:
        asked.append("x")
        return "resource policy of x"

    document = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}],
    }
    policy = model.resource_policy("arn:aws:s3:::lazy", document, label)
    assert policy is not None and policy.name == "resource policy of x"
    assert model.resource_policy("arn:aws:s3:::lazy", document, label) is policy
    assert asked == ["x"]
    malformed = model.resource_policy("arn:aws:s3:::bad", {"Statement": 3}, lambda: "resource policy of bad")
    assert malformed is None
    assert any("resource policy of bad" in w for w in model.warnings.items)


# -- escalation prefilter (Policy.may_allow), KMS keys that seal a level (key_sealed) ----------------


def test_may_allow_is_an_allow_statement_covering_the_action(model: AccountModel) -> None:
    actions = ["s3:PutBucketPolicy", "kms:PutKeyPolicy", "kms:CreateGrant", "iam:PassRole", "s3:GetObject"]
    for principal in _principals(model):
        for policy in principal.identity_policies:
            for action in actions:
                service = action.split(":", 1)[0]
                plain = any(
                    not st.is_deny and st.action_could_match_service(service)
                    for st in policy.statements_for(action)
                )
                assert policy.may_allow(action) is plain
                assert policy.may_allow(action) is plain  # cached


def test_key_sealed_reads_the_masks_as_key_surely_denied_does() -> None:
    from blastradius.graph import PermissionGraph

    result = synth().generate(principals=40, datasets=400, policies=8, seed=6)
    rules = load_rules()

    def graph() -> PermissionGraph:
        return build_graph(result.snapshot, rules, escalation=False)

    fast, plain = graph(), graph()
    stores = rules.datastores
    encrypted = [d for d in result.snapshot.datasets if d.kms_key is not None]
    assert encrypted
    sealed = 0
    for arn in [*fast.model.users, *fast.model.roles][:15]:
        principal, twin = fast.model.principal(arn), plain.model.principal(arn)
        assert principal is not None and twin is not None
        for d in encrypted:
            for level in LEVELS:
                via = plain.model.via_service(d.type, d.kms_key or "")
                expected = any(
                    plain.key_surely_denied(twin, d.kms_key or "", action, via)
                    for action in stores.kms_actions(d.type, level)
                )
                assert fast.key_sealed(principal, d, level) is expected  # first: masks computed
                assert fast.key_sealed(principal, d, level) is expected  # then: read from them
                sealed += expected
    assert sealed


# -- candidates per policy, foreign datasets per account, request lines, access edges -----------------


def test_policy_concerned_mask_is_its_allows_concerned_masks(model: AccountModel) -> None:
    for principal in _principals(model)[:20]:
        for policy in principal.identity_policies:
            for dataset_type, spec in model.rules.datastores.types.items():
                plain = 0
                for st in policy.statements:
                    if not st.is_deny and st.action_could_match_service(spec.service):
                        plain |= model.concerned_mask(st, spec.service, dataset_type)
                assert model.policy_concerned_mask(policy, spec.service, dataset_type) == plain


def test_foreign_bare_is_other_accounts_datasets_without_a_policy(model: AccountModel) -> None:
    for dataset_type in model.rules.datastores.types:
        index = model.type_index(dataset_type)
        for account in [*index.account_masks(), "000000000000"]:
            plain = mask_of(
                i
                for i, d in enumerate(index.datasets)
                if d.account_id != account and model.effective_policies.get(d.arn) is None
            )
            assert index.foreign_bare(account) == plain
            assert index.foreign_bare(account) == plain  # cached


def test_request_lines_are_each_datasets_base_resources(model: AccountModel) -> None:
    checked = 0
    for dataset_type in model.rules.datastores.types:
        for level in LEVELS:
            for action in model.rules.datastores.actions_for(dataset_type, level):
                templates = model.templates(dataset_type, action)
                if templates == ("{arn}",):
                    continue
                request = model._request_lines(dataset_type, templates)
                fresh = build_graph(model.snapshot, model.rules, escalation=False).model  # nothing cached
                plain = [
                    (line, pos)
                    for pos in range(len(fresh.type_index(dataset_type).arns))
                    for line in fresh.base_resources(dataset_type, templates, pos)
                ]
                assert list(zip(request.lines, request.owner, strict=True)) == plain
                checked += 1
                break
    assert checked


def test_edges_are_built_by_the_slot_filling_init_and_keep_the_dataclass_contract() -> None:
    # Edge takes report._direct_init's __init__ (the search builds ~124,000 access edges at 10k): the
    # same fields and defaults, equality, hash, replace, frozenness and pickling as the dataclass.
    import pickle

    from blastradius.graph import ACCESS, Edge

    made = Edge(
        source="arn:u",
        target="arn:d",
        kind=ACCESS,
        certainty="conditional",
        actions=("s3:GetObject",),
        policy="p",
        statement="#1",
        conditions=("c",),
        level="read",
    )
    assert Edge.__init__.__qualname__ == "Edge.__init__"
    assert [f.name for f in dataclasses.fields(Edge)] == [
        "source",
        "target",
        "kind",
        "certainty",
        "actions",
        "policy",
        "statement",
        "conditions",
        "level",
        "technique",
    ]
    assert made.technique is None
    plain = Edge(
        source="arn:u",
        target="arn:d",
        kind=ACCESS,
        certainty="definite",
        actions=(),
        policy=None,
        statement=None,
    )
    assert (plain.conditions, plain.level, plain.technique) == ((), None, None)
    again = dataclasses.replace(
        plain,
        certainty="conditional",
        actions=("s3:GetObject",),
        policy="p",
        statement="#1",
        conditions=("c",),
        level="read",
    )
    assert again == made and hash(again) == hash(made) and repr(again) == repr(made)
    assert pickle.loads(pickle.dumps(made)) == made
    with pytest.raises(dataclasses.FrozenInstanceError):
        made.level = "write"  # type: ignore[misc]
    with pytest.raises(TypeError):
        Edge("arn:u", "arn:d")  # type: ignore[misc]


def test_without_is_and_not_for_any_ints() -> None:
    from hypothesis import given
    from hypothesis import strategies as st

    from blastradius.graph import _without

    wide = st.integers(min_value=-(1 << 300), max_value=1 << 300)

    @given(wide, wide)
    def check(mask: int, other: int) -> None:
        assert _without(mask, other) == mask & ~other

    check()
    assert _without((1 << 35000) | 5, 4) == (1 << 35000) | 1


# -- conditions on resource keys alone: one context per dataset for every principal --------------------


def test_resource_only_conditions_settle_alike_whoever_asks_first() -> None:
    from blastradius.graph import _condition_owner

    result = synth().generate(principals=80, datasets=800, policies=15, seed=3)
    rules = load_rules()
    shared = build_graph(result.snapshot, rules, escalation=False).model
    principals = _principals(shared)
    statements = {
        id(st): st
        for p in principals
        for policy in p.identity_policies
        for st in policy.statements
        if st.conditions and _condition_owner(st, p) is None
    }
    # Statements with other conditions evaluate the same datasets: the later ones reuse the contexts.
    assert (
        len({tuple((c.operator, c.key_lower, c.values) for c in st.conditions) for st in statements.values()})
        > 1
    )
    checked = 0
    for st in statements.values():
        for dataset_type in rules.datastores.types:
            everything = (1 << len(shared.type_index(dataset_type).arns)) - 1
            for principal in (principals[0], principals[-1]):  # the second reuses the first's contexts
                fresh = build_graph(result.snapshot, rules, escalation=False).model
                twin = fresh.principal(principal.arn)
                assert twin is not None
                alone = fresh.condition_masks(st, dataset_type, twin, everything)
                assert shared.condition_masks(st, dataset_type, principal, everything) == alone
                checked += 1
    assert checked
    assert shared._owned_contexts
