"""Dataset sensitivity from ``policies/sensitivity.toml``: a level, its reasons, whether it is a credential.

Matching is on word tokens, case-insensitive: names are split at separators, case changes and digits, so
``customer_number``, ``customerNumber``, ``CustomerNumber`` and ``customer-number`` all read
``customer number``, and the term ``card`` matches ``cards`` and ``credit_card`` but never ``discard``.
The rules are compiled once per rule set into token indexes (first word → rest of the term), so a
dataset costs a dictionary lookup per token, not a scan over every rule: 100,000 datasets classify in
well under a second.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TypeVar

from blastradius.model import Dataset
from blastradius.report import SENSITIVITIES, sensitivity_rank
from blastradius.rules import RuleSet, SensitivityRules

# An uppercase run not followed by lowercase (API in APIKey), a capitalised or lowercase word, or digits.
_TOKEN = re.compile(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+|[0-9]+")
# The same on a text without capitals (most names): its tokens are already lower case.
_LOWER_TOKEN = re.compile(r"[a-z]+|[0-9]+")


def _tokens(text: str) -> list[str]:
    if text.islower():  # no capital letter (of any script): no case change to split at
        return _LOWER_TOKEN.findall(text)
    # One join/lower/split in C beats lower-casing token by token.
    return " ".join(_TOKEN.findall(text)).lower().split()


def tokens(text: str) -> tuple[str, ...]:
    """Lower-case word tokens of a name: ``CustomerNumber`` → ``("customer", "number")``."""
    return tuple(_tokens(text))


def _forms(word: str) -> frozenset[str]:
    """A term word and its plurals, so ``card`` matches ``cards`` and ``delivery`` ``deliveries``."""
    forms = {word, word + "s", word + "es"}
    if word.endswith("y") and len(word) > 2:
        forms.add(word[:-1] + "ies")
    return frozenset(forms)


@dataclass(frozen=True, slots=True, kw_only=True)
class Classification:
    """How sensitive a dataset is and why."""

    sensitivity: str  # high | medium | low | none
    reasons: tuple[str, ...]  # strongest first, then alphabetical; unique
    credential_pivot: bool  # a credential for something else: rotate it
    sensitive_fields: tuple[str, ...]  # field names that matched a field rule above "none"
    personal_data: bool = False  # a matching rule suggests personal data (notification duty)


@dataclass(frozen=True, slots=True, kw_only=True)
class EnvVarHit:
    """An environment variable name a rule matched (its value is never known)."""

    name: str
    reason: str
    sensitivity: str
    credential: bool  # a credential_pivot rule matched: whoever reads the configuration holds it


UNCLASSIFIED = Classification(sensitivity="none", reasons=(), credential_pivot=False, sensitive_fields=())

# (rule index, the term as written in the pack — or, for names and descriptions, the formatted reason)
_Hit = tuple[int, str]


class _TermIndex:
    """Terms compiled for lookup: each form of a term's first word → the hits it completes.

    A one-word term is complete at once; a longer one carries the forms its following words must
    take. One dictionary lookup per token decides most words.
    """

    __slots__ = ("_by_word",)

    def __init__(self) -> None:
        self._by_word: dict[str, list[tuple[tuple[frozenset[str], ...], _Hit]]] = {}

    def add(self, term: str, hit: _Hit) -> None:
        forms = [_forms(w) for w in _tokens(term)]
        for form in forms[0]:
            self._by_word.setdefault(form, []).append((tuple(forms[1:]), hit))

    def find(self, words: list[str]) -> list[_Hit]:
        """Every (rule, term) whose term occurs as a contiguous token sequence of ``words``, in order."""
        by_word = self._by_word
        if by_word.keys().isdisjoint(words):  # the common case, decided in C
            return []
        hits: list[_Hit] = []
        n = len(words)
        for i, word in enumerate(words):
            entries = by_word.get(word)
            if entries is None:
                continue
            for rest, hit in entries:
                if not rest or (i + len(rest) < n and all(words[i + 1 + j] in f for j, f in enumerate(rest))):
                    hits.append(hit)
        return hits


class Classifier:
    """The sensitivity rules compiled for fast matching; ``classify`` a dataset with it."""

    def __init__(self, rules: SensitivityRules) -> None:
        self.rules = rules.rules
        self._types = [frozenset(r.types) for r in self.rules]
        self._ranks = [sensitivity_rank(r.level) for r in self.rules]
        self._names = _TermIndex()
        self._descriptions = _TermIndex()
        self._fields = _TermIndex()
        self._object_terms = _TermIndex()
        self._object_rules: list[int] = []
        self._type_rules: dict[str, list[int]] = {}
        # normalised tag/detail key -> rule indexes; rules on any tag ("*") separately
        self._tag_rules: dict[str, list[int]] = {}
        self._any_tag: list[int] = []
        self._detail_rules: dict[str, list[int]] = {}
        self._values: dict[int, _TermIndex] = {}  # tag/detail rule -> its value terms
        targets = {
            "name": self._names,
            "description": self._descriptions,
            "field": self._fields,
            "object_key": self._object_terms,
        }
        # Name and description reasons that only use {term} are formatted once, here; the index then
        # yields (rule, reason) for them and (rule, term) for the few that also use {name}.
        self._name_dynamic = frozenset(
            i for i, r in enumerate(self.rules) if r.on == "name" and "{name}" in r.reason
        )
        # Rules on compute environment variable names: (rule, term) hits, used by ``env_var_hits``.
        self._env_vars = _TermIndex()
        for i, rule in enumerate(self.rules):
            if rule.on == "env_var":
                for term in rule.terms:
                    self._env_vars.add(term, (i, term))
                continue
            if rule.on in targets:
                static = rule.on in ("name", "description") and i not in self._name_dynamic
                for term in rule.terms:
                    targets[rule.on].add(
                        term, (i, rule.reason.format_map({"term": term}) if static else term)
                    )
                if rule.on == "object_key":
                    self._object_rules.append(i)
            elif rule.on == "type":
                for t in rule.types:
                    self._type_rules.setdefault(t, []).append(i)
            else:  # tag | detail
                values = self._values[i] = _TermIndex()
                for term in rule.terms:
                    values.add(term, (i, term))
                by_key = self._tag_rules if rule.on == "tag" else self._detail_rules
                for key in rule.keys:
                    if key == "*" and rule.on == "tag":
                        self._any_tag.append(i)
                    else:
                        by_key.setdefault(" ".join(_tokens(key)), []).append(i)
        self._extensions = tuple(e for i in self._object_rules for e in self.rules[i].extensions)
        self._type_hits = {
            t: [(i, self.rules[i].reason.format_map({"type": t})) for i in rule_ids]
            for t, rule_ids in self._type_rules.items()
        }
        # Datasets share most of what the rules read (field names, tags, details, descriptions, object key
        # samples repeat; only names are unique): remember the hits of each, and the classification of
        # each combination of hits.
        self._field_memo: dict[str, tuple[_Hit, ...]] = {}
        self._fields_memo: dict[tuple[str, tuple[str, ...]], tuple[tuple[_Hit, ...], tuple[str, ...]]] = {}
        self._tags_memo: dict[tuple[tuple[str, str], ...], tuple[_Hit, ...]] = {}
        self._detail_key_memo: dict[str, list[int]] = {}
        self._detail_memo: dict[tuple[str, str], tuple[_Hit, ...]] = {}
        self._description_memo: dict[str, tuple[_Hit, ...]] = {}
        self._object_memo: dict[tuple[str, tuple[str, ...]], tuple[_Hit, ...]] = {}
        self._result_memo: dict[tuple[str, tuple[_Hit, ...], tuple[str, ...]], Classification] = {}

    def classify(self, dataset: Dataset) -> Classification:
        """The level (max over matching rules), reasons, credential flag and sensitive fields."""
        dtype = dataset.type
        rules = self.rules
        # (rule index, reason) of every match; rules that do not apply to this type are dropped below.
        pairs = self._names.find(_tokens(dataset.name))
        if pairs and self._name_dynamic:
            pairs = [
                (i, rules[i].reason.format_map({"term": text, "name": dataset.name}))
                if i in self._name_dynamic
                else (i, text)
                for i, text in pairs
            ]
        description = dataset.description
        if description:
            hits = self._description_memo.get(description)
            if hits is None:
                hits = _remember(
                    self._description_memo, description, tuple(self._descriptions.find(_tokens(description)))
                )
            pairs.extend(hits)
        sensitive_fields: tuple[str, ...] = ()
        if dataset.field_names:
            fields_key = (dtype, tuple(dataset.field_names))
            found_fields = self._fields_memo.get(fields_key)
            if found_fields is None:
                found_fields = _remember(self._fields_memo, fields_key, self._field_hits(*fields_key))
            hits, sensitive_fields = found_fields
            pairs.extend(hits)
        if dataset.object_keys_sample and self._object_rules:
            sample = tuple(dataset.object_keys_sample)
            hits = self._object_memo.get((dtype, sample))
            if hits is None:
                hits = _remember(
                    self._object_memo, (dtype, sample), tuple(self._object_key_hits(sample, dtype))
                )
            pairs.extend(hits)
        if dataset.tags:
            tags = tuple(dataset.tags.items())
            hits = self._tags_memo.get(tags)
            if hits is None:
                hits = _remember(
                    self._tags_memo, tags, tuple(h for tag in tags for h in self._tag_hits(*tag))
                )
            pairs.extend(hits)
        for key, value in dataset.details.items():
            if not isinstance(value, str):
                continue
            detail_rules = self._detail_key_memo.get(key)
            if detail_rules is None:
                detail_rules = _remember(
                    self._detail_key_memo, key, self._detail_rules.get(" ".join(_tokens(key)), [])
                )
            if detail_rules:
                hits = self._detail_memo.get((key, value))
                if hits is None:
                    hits = _remember(
                        self._detail_memo, (key, value), self._detail_hits(detail_rules, key, value)
                    )
                pairs.extend(hits)
        pairs.extend(self._type_hits.get(dtype, ()))

        if not pairs:
            return UNCLASSIFIED
        result_key = (dtype, tuple(pairs), sensitive_fields)
        label = self._result_memo.get(result_key)
        if label is None:
            label = _remember(self._result_memo, result_key, self._label(dtype, pairs, sensitive_fields))
        return label

    def _label(self, dtype: str, pairs: Iterable[_Hit], sensitive_fields: tuple[str, ...]) -> Classification:
        """The classification given every (rule, reason) that matched a dataset of ``dtype``."""
        rules, types, ranks = self.rules, self._types, self._ranks
        found: dict[str, int] = {}  # reason -> rank (the strongest rule giving that reason wins)
        credential_pivot = personal_data = False
        for i, reason in pairs:
            if types[i] and dtype not in types[i]:
                continue
            if found.get(reason, -1) < ranks[i]:
                found[reason] = ranks[i]
            credential_pivot = credential_pivot or rules[i].credential_pivot
            personal_data = personal_data or rules[i].personal_data
        if not found:
            return UNCLASSIFIED
        return Classification(
            sensitivity=SENSITIVITIES[max(found.values())],
            reasons=tuple(found) if len(found) == 1 else tuple(sorted(found, key=lambda r: (-found[r], r))),
            credential_pivot=credential_pivot,
            sensitive_fields=sensitive_fields,
            personal_data=personal_data,
        )

    def _field_hits(self, dtype: str, names: tuple[str, ...]) -> tuple[tuple[_Hit, ...], tuple[str, ...]]:
        """The hits of a dataset's field names, and the names a rule above "none" for ``dtype`` matched."""
        rules, types, ranks = self.rules, self._types, self._ranks
        pairs: list[_Hit] = []
        sensitive_fields: list[str] = []
        for name in names:
            hits = self._field_memo.get(name)
            if hits is None:
                hits = _remember(
                    self._field_memo,
                    name,
                    tuple(
                        (i, rules[i].reason.format_map({"term": term, "field": name}))
                        for i, term in self._fields.find(_tokens(name))
                    ),
                )
            if hits:
                pairs.extend(hits)
                if any(ranks[i] > 0 and (not types[i] or dtype in types[i]) for i, _ in hits):
                    sensitive_fields.append(name)
        return tuple(pairs), tuple(dict.fromkeys(sensitive_fields))

    def _detail_hits(self, rule_ids: Iterable[int], key: str, value: str) -> tuple[_Hit, ...]:
        """The detail rules (of the detail's key) whose terms the value holds, each with its first term."""
        words = _tokens(value)
        return tuple(
            (i, self.rules[i].reason.format_map({"term": term, "detail": key, "value": value}))
            for i in rule_ids
            for _, term in self._values[i].find(words)[:1]
        )

    def env_var_hits(self, compute_type: str, names: Iterable[str]) -> tuple[EnvVarHit, ...]:
        """The environment variable names (of a resource of ``compute_type``) that ``env_var`` rules match,
        each with the strongest rule's reason and whether that rule marks a credential."""
        out: list[EnvVarHit] = []
        for name in names:
            hits = [
                (self.rules[i].credential_pivot, self._ranks[i], -i, term)
                for i, term in self._env_vars.find(_tokens(name))
                if not self.rules[i].types or compute_type in self.rules[i].types
            ]
            if not hits:
                continue
            credential, rank, neg_index, term = max(hits)  # a credential rule first, then the strongest
            reason = self.rules[-neg_index].reason.format_map({"term": term, "var": name})
            out.append(
                EnvVarHit(name=name, reason=reason, sensitivity=SENSITIVITIES[rank], credential=credential)
            )
        return tuple(out)

    def _tag_hits(self, key: str, value: str) -> list[tuple[int, str]]:
        """The tag rules a tag matches (each with the first of its terms found in the value)."""
        words = _tokens(value)
        hits: list[tuple[int, str]] = []
        for i in (*self._tag_rules.get(" ".join(_tokens(key)), ()), *self._any_tag):
            for _, term in self._values[i].find(words)[:1]:
                hits.append((i, self.rules[i].reason.format_map({"term": term, "tag": key, "value": value})))
        return hits

    def _object_key_hits(self, keys: Iterable[str], dtype: str) -> list[tuple[int, str]]:
        """Each object-key rule reports its first matching key only (a sample can hold thousands)."""
        pending = [i for i in self._object_rules if not self._types[i] or dtype in self._types[i]]
        hits: list[tuple[int, str]] = []
        for key in keys:
            if not pending:
                break
            lowered = key.lower()
            has_extension = lowered.endswith(self._extensions) if self._extensions else False
            by_rule: dict[int, str] = {}
            for i, term in self._object_terms.find(_tokens(key)):
                by_rule.setdefault(i, term)
            if not by_rule and not has_extension:
                continue
            for i in list(pending):
                rule = self.rules[i]
                matched = by_rule.get(i)
                if rule.terms and matched is None:
                    continue
                extension = ""
                if rule.extensions:
                    if not has_extension or not lowered.endswith(rule.extensions):
                        continue
                    extension = next(e for e in rule.extensions if lowered.endswith(e))
                hits.append(
                    (i, rule.reason.format_map({"term": matched or "", "key": key, "extension": extension}))
                )
                pending.remove(i)
        return hits


_MEMO_LIMIT = 100_000

_K = TypeVar("_K")
_V = TypeVar("_V")


def _remember(memo: dict[_K, _V], key: _K, value: _V) -> _V:
    """``value``, kept in ``memo`` under ``key`` unless the memo is full (a bound on memory)."""
    if len(memo) < _MEMO_LIMIT:
        memo[key] = value
    return value


_COMPILED: dict[int, tuple[SensitivityRules, Classifier]] = {}


def classifier_for(rules: RuleSet | SensitivityRules) -> Classifier:
    """The compiled classifier of a rule set (compiled once, then reused)."""
    sensitivity = rules.sensitivity if isinstance(rules, RuleSet) else rules
    cached = _COMPILED.get(id(sensitivity))
    if cached is not None and cached[0] is sensitivity:
        return cached[1]
    if len(_COMPILED) > 16:
        _COMPILED.clear()
    classifier = Classifier(sensitivity)
    _COMPILED[id(sensitivity)] = (sensitivity, classifier)
    return classifier


def credential_env_vars(
    compute_type: str, names: Iterable[str], rules: RuleSet | SensitivityRules
) -> tuple[EnvVarHit, ...]:
    """Environment variable names that look like credentials (``env_var`` rules with ``credential_pivot``)."""
    return tuple(h for h in classifier_for(rules).env_var_hits(compute_type, names) if h.credential)


def classify(dataset: Dataset, rules: RuleSet | SensitivityRules) -> Classification:
    """Classify one dataset: the highest level of the matching rules, with their reasons."""
    return classifier_for(rules).classify(dataset)
