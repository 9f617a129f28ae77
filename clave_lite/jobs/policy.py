"""A policy turns scores into a decision: is this text flagged, and which rules fired?

A policy file (YAML or JSON)::

    name: no-harm
    system: schwartz10            # optional: the value system the rules speak of
    rules:
      - name: unkind              # optional; default: the rule's own spelling
        value: Benevolence        # or values: [...], group: NAME, or "*" for every value
        label: opposes            # supports | opposes (default opposes)
        min_p: 0.6                # flag when p_label >= min_p; absent: when the evaluator decides label
      - value: Security
        require: supports         # flag when the text does NOT support Security (p_supports < min_p,
        min_p: 0.3                # or, without min_p, when the decided label is not supports)

A text longer than the evaluator reads (8 windows of 384 tokens; past that, some is unread) is
flagged whatever its scores say, naming the unread tokens (``on_truncated: flag``, the default:
what a filter cannot see, it does not pass); ``on_truncated: score`` decides it on what was
read, like any other text.

On the command line a rule is one string, ``VALUE/LABEL[>=P]`` or ``VALUE/!supports[>=P]``
(``--rule 'Benevolence/opposes>=0.6'``, ``--rule '*/opposes'``). Without any rule the policy is
the evaluator's own decision: flag a text when any scored value is decided ``opposes`` (the
decision already carries the biases and temperature tuned at export).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Sequence

import yaml

from clave_lite.core.valuesystem import ValueSystem
from clave_lite.core.yamlfile import load_yaml
from clave_lite.errors import DataError, Remedy, UsageError, check_keys

if TYPE_CHECKING:
    from clave_lite.runtime.evaluator import Evaluator

_RULE_KEYS = {"name", "value", "values", "group", "label", "require", "min_p"}
_TOP_KEYS = {"name", "system", "rules", "on_truncated"}
ON_TRUNCATED = ("flag", "score")
"""What a policy makes of a text the evaluator read only in part (see the module docstring)."""
_RULE_TEXT = re.compile(r"^\s*(?P<value>[^/]+?)\s*/\s*(?P<neg>!)?\s*(?P<label>supports|opposes)\s*"
                        r"(?:>=\s*(?P<p>[0-9]*\.?[0-9]+))?\s*$")


@dataclass(frozen=True)
class Rule:
    """Flags a text when, for any value in scope, the label holds (``require`` false) or fails
    to hold (``require`` true); with ``min_p``, by its probability, else by the decision."""

    name: str
    values: tuple[str, ...] = ()
    """Value names in scope; empty: every scored value."""
    group: str | None = None
    label: str = "opposes"
    require: bool = False
    min_p: float | None = None

    def fires(self, value: str, decided: str, probs: dict[str, float]) -> bool:
        if self.min_p is not None:
            holds = probs.get(self.label, 0.0) >= self.min_p
        else:
            holds = decided == self.label
        return not holds if self.require else holds

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name, "label": self.label}
        if self.values:
            out["values"] = list(self.values)
        if self.group:
            out["group"] = self.group
        if self.require:
            out["require"] = self.label
        if self.min_p is not None:
            out["min_p"] = self.min_p
        return out


DEFAULT_RULE = Rule("any value decided opposes")


@dataclass(frozen=True)
class Decision:
    flagged: bool
    fired: tuple[str, ...] = ()
    """``rule: value`` for every rule and value that fired."""
    violations: tuple[str, ...] = ()
    """``Value/label`` (``Value/!label`` for a ``require`` rule) for every rule and value that
    fired: the categories an OpenAI-shaped moderation marks true."""

    def to_dict(self) -> dict[str, Any]:
        return {"flagged": self.flagged, "fired": list(self.fired)}


@dataclass(frozen=True)
class Policy:
    name: str = "default"
    system: str | None = None
    rules: tuple[Rule, ...] = field(default_factory=lambda: (DEFAULT_RULE,))
    source: str = "the evaluator's own decision"
    on_truncated: str = "flag"

    def __post_init__(self) -> None:
        if self.on_truncated not in ON_TRUNCATED:
            raise UsageError(f"on_truncated must be one of {', '.join(ON_TRUNCATED)}, got {self.on_truncated!r}")

    def bind(self, system: ValueSystem) -> "Policy":
        """The rules with value names and groups checked against ``system`` and canonicalised."""
        if self.system and self.system != system.name:
            raise DataError(f"{self.source}: the policy is written for value system '{self.system}', "
                            f"but '{system.name}' is scored")
        bound = []
        group_names = {g.name for g in system.groups}
        for r in self.rules:
            if r is DEFAULT_RULE:  # the evaluator's own decision of the system's violation label
                if system.violation is None:
                    continue  # a system with no harm label (e.g. csv12's supports/unrelated) is never flagged
                r = replace(r, name=f"any value decided {system.violation}", label=system.violation)
            values = []
            for v in r.values:
                found = system.find(v)
                if found is None:
                    raise DataError(f"{self.source}: rule '{r.name}': value '{v}' is not in system '{system.name}' "
                                    f"(known: {', '.join(system.value_names)})")
                values.append(found.name)
            if r.group is not None and r.group not in group_names:
                raise DataError(f"{self.source}: rule '{r.name}': system '{system.name}' has no group '{r.group}'"
                                + (f" (groups: {', '.join(sorted(group_names))})" if group_names else ""))
            if r.label not in system.labels:
                raise DataError(f"{self.source}: rule '{r.name}': system '{system.name}' has no label '{r.label}'")
            if r.group is not None:
                values += [v.name for v in system.values if v.group == r.group and v.name not in values]
            bound.append(Rule(r.name, tuple(values), r.group, r.label, r.require, r.min_p))
        return Policy(self.name, system.name, tuple(bound), self.source, self.on_truncated)

    def resolve(self, evaluator: Evaluator, system: str | None = None, values: Sequence[str] = ()):
        """What a job scores under this policy: ``(bound policy, system, chosen values)``; the
        system is the one asked for, else the policy's, else the evaluator's first."""
        sys_, chosen = evaluator.resolve_values(system or self.system, list(values) or None)
        bound = self.bind(sys_)
        scored = {v.name for v in chosen}
        for r in bound.rules:
            missing = [v for v in r.values if v not in scored]
            if missing and (r.group is None or len(missing) == len(r.values)):
                raise UsageError(f"{self.source}: rule '{r.name}' is about {', '.join(missing)}, which this run does "
                                 f"not score (scored: {', '.join(sorted(scored))}), so it could never fire; score "
                                 "those values too or drop the rule", remedies=(Remedy("values", ",".join(
                                     list(dict.fromkeys([*(v.name for v in chosen), *missing])))),))
        return bound, sys_, chosen

    def decide(self, scores: Sequence[Any], truncated_tokens: int = 0) -> Decision:
        """``scores``: the :class:`~clave_lite.runtime.evaluator.ValueScore` list of one text;
        ``truncated_tokens``: how many of its tokens the evaluator did not read."""
        fired = []
        if truncated_tokens and self.on_truncated == "flag":
            fired.append(f"truncated: {truncated_tokens} tokens unread")
        violations: dict[str, None] = {}
        for r in self.rules:
            for s in scores:
                if (not r.values or s.value in r.values) and r.fires(s.value, s.label, s.probs):
                    fired.append(f"{r.name}: {s.value}")
                    violations[f"{s.value}/{'!' if r.require else ''}{r.label}"] = None
        return Decision(bool(fired), tuple(fired), tuple(violations))

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "system": self.system, "rules": [r.to_dict() for r in self.rules],
                "on_truncated": self.on_truncated}

    def with_truncated(self, on_truncated: str | None) -> "Policy":
        """This policy with ``on_truncated`` overridden (a command-line flag beats the file)."""
        return self if on_truncated is None else replace(self, on_truncated=on_truncated)


def parse_rule(text: str) -> Rule:
    """``VALUE/LABEL[>=P]`` or ``VALUE/!supports[>=P]``; ``*`` for every value."""
    m = _RULE_TEXT.match(text)
    if not m:
        raise UsageError(f"rule {text!r}: expected VALUE/LABEL[>=P], e.g. 'Benevolence/opposes>=0.6', "
                         "'*/opposes' or 'Security/!supports'")
    p = float(m["p"]) if m["p"] is not None else None
    if p is not None and not 0 <= p <= 1:
        raise UsageError(f"rule {text!r}: the probability must be between 0 and 1")
    value = m["value"].strip()
    return Rule(text.strip(), () if value == "*" else (value,), None, m["label"], bool(m["neg"]), p)


def _rule_from(obj: Any, i: int, where: str) -> Rule:
    ctx = f"{where}: rule #{i}"
    if not isinstance(obj, dict):
        raise DataError(f"{ctx}: must be a mapping (value/values/group, label or require, min_p)")
    check_keys(obj, _RULE_KEYS, ctx)
    scopes = [k for k in ("value", "values", "group") if k in obj]
    if len(scopes) > 1:
        raise DataError(f"{ctx}: give one of value, values, group (got {', '.join(scopes)})")
    values: list[str] = []
    if "value" in obj:
        if not isinstance(obj["value"], str) or not obj["value"].strip():
            raise DataError(f"{ctx}: 'value' must be a value name or '*'")
        values = [] if obj["value"].strip() == "*" else [obj["value"].strip()]
    if "values" in obj:
        if not isinstance(obj["values"], list) or not obj["values"] or not all(
                isinstance(v, str) and v.strip() for v in obj["values"]):
            raise DataError(f"{ctx}: 'values' must be a non-empty list of value names")
        values = [v.strip() for v in obj["values"]]
    group = obj.get("group")
    if group is not None and (not isinstance(group, str) or not group.strip()):
        raise DataError(f"{ctx}: 'group' must be a group name")
    if "require" in obj and "label" in obj:
        raise DataError(f"{ctx}: give 'label' (flag when it holds) or 'require' (flag when it does not), not both")
    label = obj.get("require", obj.get("label", "opposes"))
    if label not in ("supports", "opposes"):
        raise DataError(f"{ctx}: '{'require' if 'require' in obj else 'label'}' must be supports or opposes, "
                        f"got {label!r}")
    min_p = obj.get("min_p")
    if min_p is not None and (isinstance(min_p, bool) or not isinstance(min_p, (int, float)) or not 0 <= min_p <= 1):
        raise DataError(f"{ctx}: 'min_p' must be a number between 0 and 1, got {min_p!r}")
    name = obj.get("name")
    if name is not None and (not isinstance(name, str) or not name.strip()):
        raise DataError(f"{ctx}: 'name' must be a non-empty string")
    scope = group or ("/".join(values) if values else "*")
    default_name = f"{scope}/{'!' if 'require' in obj else ''}{label}" + (f">={min_p}" if min_p is not None else "")
    return Rule((name or default_name).strip(), tuple(values), group.strip() if group else None, label,
                "require" in obj, float(min_p) if min_p is not None else None)


def load_policy(path: str | Path | None = None, rules: Sequence[str] = (), on_truncated: str | None = None) -> Policy:
    """A policy file, plus ``rules`` given as strings (they are added to the file's rules); with
    neither, the evaluator's own decision (:data:`DEFAULT_RULE`). ``on_truncated`` overrides
    the file's ``on_truncated`` (default ``flag``)."""
    return _load_policy(path, rules).with_truncated(on_truncated)


def _load_policy(path: str | Path | None, rules: Sequence[str]) -> Policy:
    extra = tuple(parse_rule(r) for r in rules)
    if path is None:
        return Policy("rules", None, extra, "--rule") if extra else Policy()
    p = Path(path)
    if not p.is_file():
        raise DataError(f"{p}: no such policy file")
    try:
        text = p.read_text(encoding="utf-8")
        data = json.loads(text) if p.suffix == ".json" else load_yaml(text)
    except (OSError, UnicodeDecodeError, ValueError, yaml.YAMLError) as exc:
        raise DataError(f"{p}: not a readable policy file ({exc})") from None
    if not isinstance(data, dict):
        raise DataError(f"{p}: a policy must be a mapping with keys name, system, rules")
    check_keys(data, _TOP_KEYS, str(p))
    raw = data.get("rules")
    if not isinstance(raw, list) or not raw:
        raise DataError(f"{p}: 'rules' must be a non-empty list")
    system = data.get("system")
    if system is not None and not isinstance(system, str):
        raise DataError(f"{p}: 'system' must be a value-system name")
    on_truncated = data.get("on_truncated", "flag")
    if on_truncated not in ON_TRUNCATED:
        raise DataError(f"{p}: 'on_truncated' must be one of {', '.join(ON_TRUNCATED)}, got {on_truncated!r}")
    found = tuple(_rule_from(obj, i, str(p)) for i, obj in enumerate(raw, 1))
    return Policy(str(data.get("name") or p.stem), system, found + extra, str(p), on_truncated)
