"""``clave-lite adapt``: a new value system from ~100 labels per value, in one command.

1. Read the system and the labelled tuples; group them (a text, or ``--group-regex`` on ids).
2. Run the evaluator once over the labelled texts, keeping the label logits and the final hidden
   state at each value's verdict position, with the template's value line and with name +
   definition (rules such as "Do not deceive" say little by name alone).
3. Group folds: the out-of-fold estimate of the fixed ensemble readout (or, with ``readout=
   "choose"``, the nested estimate of the readout chosen inside each fold), next to the
   evaluator as it is and TF-IDF + logistic regression on the *same* folds.
4. Fit the readout on every tuple (for ``choose``: the one chosen on all folds), and write a
   copy of the evaluator whose manifest carries the system, the head (per-value weights and
   biases) and a fitted temperature. The weights are copied byte for byte: nothing is
   re-trained or re-quantized.
"""

from __future__ import annotations

import tempfile
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Sequence

import numpy as np

from clave_lite.adapt import readout
from clave_lite.adapt.cache import (
    CHUNK_TEXTS,
    FeatureCache,
    reading_key,
    text_key,
    weights_digest,
)
from clave_lite.adapt.folds import assign_folds, group_keys
from clave_lite.adapt.options import AdaptOptions
from clave_lite.core.files import staged
from clave_lite.core.labels import LABELS
from clave_lite.core.tuples import LabelledTuple
from clave_lite.core.valuesystem import ValueSystem
from clave_lite.errors import DataError, ModelError, Remedy, UsageError, require
from clave_lite.progress import Progress, Silent

if TYPE_CHECKING:
    from clave_lite.adapt.prior import PrevalenceEstimate
    from clave_lite.evaluation.metrics import Metrics

DEFINITION_LINE = "Value: {name}: {definition}\nVerdict:"
FEATURE_BATCH = 32
"""Texts per decode while reading features: labelled tuples are short, so more of them fit."""


@dataclass(frozen=True)
class Estimate:
    """One evaluator's figures on the pooled out-of-fold predictions."""
    name: str
    metrics: Metrics

    @property
    def macro_f1(self) -> float:
        return float(self.metrics.macro_f1)

    def f1(self, label: str) -> float | None:
        return self.metrics.per_class_f1.get(label)

    def figure(self, name: str = "macro_f1") -> float | None:
        return self.metrics.figure(name)

    def interval(self, name: str = "macro_f1") -> list[float] | None:
        return self.metrics.interval(name)

    def to_dict(self) -> dict[str, Any]:
        m = self.metrics
        return {"name": self.name, "macro_f1": round(m.macro_f1, 4), "accuracy": round(m.accuracy, 4),
                "value_f1_mean": None if m.value_f1_mean is None else round(m.value_f1_mean, 4),
                "per_class_f1": {k: round(v, 4) for k, v in m.per_class_f1.items()},
                "intervals": m.intervals, "n": m.n, "groups": m.texts}


@dataclass(frozen=True)
class AdaptReport:
    output: str
    system: str
    tuples: int
    groups: int
    folds: int
    readout: str
    """How the readout was settled: one of :data:`~clave_lite.adapt.options.READOUTS`."""
    chosen: str
    """The readout fitted on all tuples (the fixed ensemble, or the candidate chosen by folds)."""
    chosen_per_fold: list[str]
    """For ``choose``: the candidate each outer fold chose (empty for the fixed ensemble)."""
    estimates: list[Estimate]
    """``adapted`` (fold estimate of the readout), ``as-is`` (the evaluator before adapting), ``tfidf``."""
    ablation: dict[str, float]
    """Fold objective of every candidate over all tuples (not nested: for reading, not choosing)."""
    temperature: float
    objective: str = "macro_f1"
    """The system's headline figure: ``macro_f1``, or ``value_f1_mean`` for a system without
    ``opposes`` (its readouts are chosen by it too)."""
    seconds: dict[str, float] = field(default_factory=dict)
    related_share: float = 0.0
    """The share of related (supports/opposes) tuples in the labelled sample: the mix the
    sample estimates hold for."""
    prevalence: dict[str, float] = field(default_factory=dict)
    """With ``--prevalence``: the corpus share of related pairs per value the ``@corpus``
    estimates (and the evaluator's decisions) are for."""
    shift_strength: float | None = None
    """With ``--prevalence``: the share of the full prior shift the evaluator decides with."""
    prevalence_estimate: PrevalenceEstimate | None = None
    """With ``--unlabelled``: how ``prevalence`` was estimated from the corpus texts."""
    pool_temperature: float = 1.0
    """The temperature of the pooled (hybrid) probabilities, fitted on the folds."""

    def estimate(self, name: str) -> Estimate:
        return next(e for e in self.estimates if e.name == name)

    def to_dict(self) -> dict[str, Any]:
        return {"output": self.output, "system": self.system, "tuples": self.tuples, "groups": self.groups,
                "folds": self.folds, "readout": self.readout, "chosen": self.chosen,
                "chosen_per_fold": self.chosen_per_fold,
                "estimates": [e.to_dict() for e in self.estimates],
                "ablation": {k: round(v, 4) for k, v in self.ablation.items()},
                "temperature": self.temperature, "objective": self.objective, "seconds": self.seconds,
                "related_share": round(self.related_share, 4), "prevalence": self.prevalence,
                "shift_strength": self.shift_strength, "pool_temperature": self.pool_temperature,
                "prevalence_estimate": None if self.prevalence_estimate is None else self.prevalence_estimate.to_dict()}


def _read(opts: AdaptOptions) -> tuple[ValueSystem, list[LabelledTuple], str]:
    """The system, its labelled tuples, and the SHA-256 of the labels file's bytes as parsed."""
    from clave_lite.core.tuples import read_tuple_file
    from clave_lite.core.valuesystem import load_system

    system = load_system(str(opts.system))
    read = read_tuple_file(opts.labels, system, opts.on_error)
    tuples = read.tuples
    if not tuples:
        raise DataError(f"{opts.labels}: no labelled tuples")
    labelled = {t.value for t in tuples}
    missing = [v.name for v in system.values if v.name not in labelled]
    if missing:
        raise DataError(f"{opts.labels}: no labels for {', '.join(missing)}; every value of {system.name} needs some")
    if len({t.label for t in tuples}) < 2:
        raise DataError(f"{opts.labels}: every tuple has the same label; a readout needs at least two")
    return system, tuples, read.sha256


def _features(evaluator, basis, ids: Sequence[int], system: ValueSystem, tuples: Sequence[LabelledTuple],
              lines: dict[str, str | None], progress: Progress,
              caches: dict[str, FeatureCache] | None = None) -> dict[tuple[str, str], np.ndarray]:
    """``(features, line)`` → per-tuple array: one pass over the unique texts, every value line
    in its own sequence, the label logits and the basis logits (the hidden state) read together.
    A text already in every line's cache is not read again; new ones are written as they come."""
    by_name = {v.name: v for v in system.values}
    texts: dict[str, list[str]] = {}
    for t in tuples:
        texts.setdefault(t.text, [])
        if t.value not in texts[t.text]:
            texts[t.text].append(t.value)
    items = [(text, [by_name[v] for v in names]) for text, names in texts.items()]
    keys = [text_key(text, values) for text, values in items]
    where = {(text, v): (i, k) for i, (text, names) in enumerate(texts.items()) for k, v in enumerate(names)}
    rows = [where[(t.text, t.value)] for t in tuples]
    caches = caches or {}
    have = {line: caches[line].load() if line in caches else {} for line in lines}
    todo = [i for i, key in enumerate(keys) if not all(key in have[line] for line in lines)]
    if len(todo) < len(items):
        progress.note(f"{len(items) - len(todo)} of {len(items)} texts already read "
                      f"({', '.join(str(c.directory) for c in caches.values())})")
    fresh: dict[str, dict[str, np.ndarray]] = {line: {} for line in lines}

    def flush() -> None:
        for line, cache in caches.items():
            cache.write(fresh[line])
            fresh[line] = {}

    progress.start(f"reading {len(todo)} texts ({len(lines)} value lines)", len(todo))
    for i, z in zip(todo, evaluator.token_logits([items[i] for i in todo], ids, list(lines.values()),
                                                 batch_size=FEATURE_BATCH)):
        for j, line in enumerate(lines):
            # [n_values, 3 label logits + the hidden state], float32 on every path (cached or not)
            have[line][keys[i]] = fresh[line][keys[i]] = np.concatenate(
                [z[:, j, :len(LABELS)], basis.hidden(z[:, j, len(LABELS):])], -1).astype(np.float32)
        if len(fresh["template"]) >= CHUNK_TEXTS:
            flush()
        progress.advance()
    flush()
    progress.finish()
    out: dict[tuple[str, str], np.ndarray] = {}
    for line in lines:
        z = np.stack([have[line][keys[i]][k] for i, k in rows]).astype(np.float64)
        out[("label_logits", line)] = z[:, :len(LABELS)]
        out[("hidden", line)] = z[:, len(LABELS):]
    return out


def _pairs(tuples: Sequence[LabelledTuple], labels: Sequence[str], groups: Sequence[str]):
    from clave_lite.evaluation.metrics import Pair

    return [Pair(t.value, t.label, lab, key=g) for t, lab, g in zip(tuples, labels, groups)]


def _decide(logits: np.ndarray, allowed: Sequence[str]) -> list[str]:
    mask = np.array([lab in allowed for lab in LABELS])
    return [LABELS[i] for i in np.where(mask, logits, -np.inf).argmax(1)]


def _read_evaluator(opts: AdaptOptions, system: ValueSystem, tuples: Sequence[LabelledTuple], progress: Progress):
    """Load the evaluator to adapt and read the features; returns (features, basis, value lines,
    label token ids, the evaluator file)."""
    from clave_lite.adapt.basis import hidden_basis
    from clave_lite.build.loading import load_evaluator
    from clave_lite.runtime.backends.gguf import GGUFBackend

    # after inputs() checked everything: the default evaluator is built (about a minute, said) only now
    evaluator = load_evaluator(opts.model, threads=opts.threads, progress=progress)
    try:
        if not isinstance(evaluator.backend, GGUFBackend):
            raise ModelError(f"{opts.model}: adapt needs a .gguf evaluator (its logits beyond the label tokens)")
        src = Path(evaluator.backend.path)
        basis = hidden_basis(src)
        lines: dict[str, str | None] = {"template": None}
        if opts.lines == "both" and evaluator.manifest.template.value != DEFINITION_LINE:
            lines["definition"] = DEFINITION_LINE
        ids = list(evaluator.manifest.label_token_ids) + list(basis.token_ids)  # the labels', then the basis'
        caches: dict[str, FeatureCache] = {}
        if opts.cache_dir is not None:
            progress.note("fingerprinting the evaluator's weights (the feature cache's key)")
            weights = weights_digest(src)
            for name, line in lines.items():
                key = reading_key(weights, evaluator.manifest.template.to_dict(), line, ids)
                caches[name] = FeatureCache(Path(opts.cache_dir) / key[:32])
        feats = _features(evaluator, basis, ids, system, tuples, lines, progress, caches)
        return feats, basis, lines, list(evaluator.manifest.label_token_ids), src
    finally:
        evaluator.close()


@dataclass(frozen=True)
class Lexical:
    """The lexical half of the hybrid decision layer an adapted evaluator carries
    (:mod:`clave_lite.formats.lexical`): its out-of-fold probabilities, and how verdicts pool with it."""
    oof: np.ndarray
    """``[n_tuples, 3]``: each tuple's TF-IDF + LR probabilities from a fit on the other outer folds."""
    weight: float = 0.5
    temperature: float = 1.0
    """The pool's temperature (:func:`calibrated`): it moves probabilities, never verdicts."""

    def labels(self, logits: np.ndarray, temperature: float, allowed: Sequence[str]) -> list[str]:
        """The hybrid's verdicts from the evaluator half's (biased) label logits ``[n, 3]``."""
        return [LABELS[int(i)] for i in self.probs(logits, temperature, allowed).argmax(axis=1)]

    def probs(self, logits: np.ndarray, temperature: float, allowed: Sequence[str]) -> np.ndarray:
        """The hybrid's probabilities ``[n, 3]`` from the evaluator half's (biased) label logits."""
        from clave_lite.formats.lexical import pool

        mask = np.array([lab in allowed for lab in LABELS])
        z = np.where(mask, logits / temperature, -np.inf)
        p = np.exp(z - z.max(axis=1, keepdims=True))
        p /= p.sum(axis=1, keepdims=True)
        return np.stack([pool(pe, pl, self.weight, allowed, self.temperature) for pe, pl in zip(p, self.oof)])

    def calibrated(self, logits: np.ndarray, temperature: float, gold: Sequence[str],
                   allowed: Sequence[str]) -> "Lexical":
        """This half with the pool's temperature that minimises the negative log-likelihood of the
        pooled out-of-fold probabilities (where the lexical half has evidence; elsewhere the
        verdict is the evaluator's, already tempered by ``temperature``)."""
        from clave_lite.evaluation.thresholds import fit_temperature

        rows = ~np.isnan(self.oof).any(axis=1)
        if not rows.any():
            return self
        p = Lexical(self.oof[rows], self.weight).probs(logits[rows], temperature, allowed)
        t, _, _ = fit_temperature(np.log(np.maximum(p, 1e-12)), [g for g, r in zip(gold, rows) if r],
                                  np.zeros_like(p), allowed)
        return replace(self, temperature=t)

    def own_labels(self) -> list[str]:
        """The lexical half alone: TF-IDF + LR, as ``eval --baselines tfidf`` fits it (a value with
        no lexical evidence in a fold: ``unrelated``)."""
        return [LABELS[int(i)] for i in np.nan_to_num(self.oof, nan=0.0).argmax(axis=1)]


def lexical_on_folds(system: ValueSystem, tuples: Sequence[LabelledTuple], outer: np.ndarray) -> Lexical:
    """TF-IDF + LR probabilities for every tuple, each from a fit on the other outer folds."""
    from clave_lite.build.lexical import fit_lexical

    values = [v.name for v in system.values]
    oof = np.zeros((len(tuples), len(LABELS)))
    for f in np.unique(outer):
        test_idx = np.flatnonzero(outer == f)
        model = fit_lexical([tuples[int(i)] for i in np.flatnonzero(outer != f)], values, labels=system.labels)
        by_text: dict[str, list[int]] = {}
        for i in test_idx:  # a text's features once, for all its values
            by_text.setdefault(tuples[int(i)].text, []).append(int(i))
        for text, rows in by_text.items():
            oof[rows] = model.probs(text, [tuples[i].value for i in rows])
    return Lexical(oof)


def fit_lexical_layer(system: ValueSystem, tuples: Sequence[LabelledTuple], labels_file: Path,
                      pool_temperature: float = 1.0):
    """The lexical layer written into the adapted evaluator: fitted on every labelled tuple, pooled
    at the temperature the folds chose (:meth:`Lexical.calibrated`)."""
    from clave_lite.build.lexical import fit_lexical

    layer = fit_lexical(tuples, [v.name for v in system.values], trained_on={"files": [Path(labels_file).name]},
                        labels=system.labels)
    return replace(layer, pool_temperature=pool_temperature)


@dataclass(frozen=True)
class Inputs:
    """What both adapt paths start from (:func:`inputs`)."""

    system: ValueSystem
    tuples: list[LabelledTuple]
    labels_sha256: str
    """Of the labels file's bytes as parsed: what the adapt record says it was adapted from."""
    groups: list[str]
    """Each tuple's group (a text, or ``group_regex`` on its id)."""
    outer: np.ndarray
    """Each tuple's outer fold."""
    corpus: list[str] = field(default_factory=list)
    """With ``unlabelled``: the corpus texts the prior is estimated from (:func:`read_unlabelled`)."""


def inputs(opts: AdaptOptions) -> Inputs:
    """Before any work: the output may be written, the system and tuples read, their groups and the
    outer folds assigned (too few groups are refused here). Both adapt paths start with it."""
    from clave_lite.core.jsonl import check_output

    check_output(opts.output, [opts.labels, opts.system] + ([opts.model] if opts.model else [])
                 + ([opts.unlabelled] if opts.unlabelled else []), opts.force)
    system, tuples, labels_sha256 = _read(opts)
    if opts.prevalence:  # a malformed --prevalence is refused before anything is read
        from clave_lite.core.prior import parse_prevalence

        parse_prevalence(opts.prevalence, [v.name for v in system.values])
    corpus = read_unlabelled(opts) if opts.unlabelled else []  # refused before the work, not after it
    groups = group_keys(tuples, opts.group_regex)
    return Inputs(system, tuples, labels_sha256, groups, assign_folds(groups, opts.folds, opts.seed), corpus)


def fold_estimates(system: ValueSystem, tuples: Sequence[LabelledTuple], groups: Sequence[str],
                   adapted: np.ndarray, as_is: np.ndarray, lexical: Lexical, temperature: float) -> list[Estimate]:
    """The report's rows from out-of-fold predictions: ``adapted`` (the hybrid the written evaluator
    decides with), ``readout`` (its evaluator half alone), ``as-is`` (the evaluator before adapting)
    and ``tfidf`` (TF-IDF + LR on the same outer folds: the hybrid's lexical half alone)."""
    from clave_lite.evaluation import metrics

    def estimate(name: str, labels: list[str]) -> Estimate:
        return Estimate(name, metrics.compute(_pairs(tuples, labels, groups)))

    return [estimate("adapted", lexical.labels(adapted, temperature, system.labels)),
            estimate("readout", _decide(adapted, system.labels)), estimate("as-is", _decide(as_is, system.labels)),
            estimate("tfidf", lexical.own_labels())]


def read_unlabelled(opts: AdaptOptions) -> list[str]:
    """The corpus texts of ``opts.unlabelled`` (as ``score`` reads them: with a ``prompt``, the
    dialogue), a seeded sample of ``opts.unlabelled_limit`` of them where there are more."""
    import random

    from clave_lite.core.jsonl import ProblemLog
    from clave_lite.runtime.texts import read_texts

    assert opts.unlabelled is not None
    log = ProblemLog(opts.on_error)
    texts = [r.text for r in read_texts(opts.unlabelled, log)]
    if len(texts) < 20:
        raise DataError(f"{opts.unlabelled}: {len(texts)} texts; at least 20 are needed to estimate the "
                        "corpus's related share")
    if len(texts) > opts.unlabelled_limit:
        texts = random.Random(opts.seed).sample(texts, opts.unlabelled_limit)
    return texts


def stated_prior(opts: AdaptOptions, system: ValueSystem) -> dict[str, float] | None:
    """The related share per value the user gave (``opts.prevalence``), or None."""
    from clave_lite.core.prior import parse_prevalence

    return parse_prevalence(opts.prevalence, [v.name for v in system.values]) if opts.prevalence else None


def estimated_prior(opts: AdaptOptions, read: Inputs, sample_said: Sequence[str], scorer: Path,
                    progress: Progress) -> PrevalenceEstimate:
    """The related share per value of ``read.corpus``, estimated from the verdicts of the evaluator
    at ``scorer`` (the adapted one, deciding as fitted) on it and ``sample_said``, its out-of-fold
    verdicts on the labelled tuples (:func:`clave_lite.adapt.prior.estimate_prevalence`)."""
    from clave_lite.adapt.prior import estimate_prevalence
    from clave_lite.runtime.evaluator import Evaluator

    corpus_value_of, corpus_said, p_related = [], [], []
    progress.start(f"reading {len(read.corpus)} unlabelled texts for the corpus prior", len(read.corpus))
    with Evaluator.load(scorer, "auto", opts.threads) as ev:
        for result in ev.iter_scores(read.corpus, system=read.system.name):
            for s in result.scores:
                corpus_value_of.append(s.value)
                corpus_said.append(s.label)
                p_related.append(1.0 - s.probs.get("unrelated", 0.0))
            progress.advance()
    progress.finish()
    return estimate_prevalence([t.value for t in read.tuples], [t.label for t in read.tuples], sample_said,
                               corpus_value_of, corpus_said, p_related, len(read.corpus))


def corpus_estimates(opts: AdaptOptions, system: ValueSystem, tuples: Sequence[LabelledTuple],
                     groups: Sequence[str], oof: np.ndarray, temperature: float, estimates: list[Estimate],
                     lexical: Lexical, shares: dict[str, float] | None,
                     shift_decisions: bool = True) -> tuple[list[Estimate], dict[str, list[float]], dict[str, Any]]:
    """With ``shares`` (the corpus's related share per value: :func:`stated_prior` or
    :func:`estimated_prior`): the estimates
    reweighted to the corpus prior (``adapted@corpus`` deciding with the prior-shift biases,
    ``adapted-unshifted@corpus`` without them, ``tfidf@corpus``), the per-value decision biases,
    and their record; else nothing is added. The record always holds ``fitted_mix``, the mix the
    decisions as fitted imply (:func:`clave_lite.adapt.prior.fitted_mix`).
    Both adapt paths call it with their out-of-fold logits; the LoRA path with
    ``shift_decisions=False``: its final model is not its fold models, and a shift chosen on the
    folds' logits lowered its held-out figure (docs/calibrate.md), so only the estimate moves."""
    from clave_lite.adapt.prior import (
        corpus_weights,
        fitted_mix,
        prior_shift,
        weighted_interval,
        weighted_macro_f1,
    )

    value_of = [t.value for t in tuples]
    fitted = {"fitted_mix": fitted_mix(oof, temperature, value_of, system.labels, system.value_names)}
    if not shares:
        return estimates, {}, fitted
    values = [v.name for v in system.values]
    gold = [t.label for t in tuples]
    shift = prior_shift(oof, temperature, value_of, gold, system.labels, shares)
    weights = corpus_weights(value_of, gold, shift)
    full = np.stack([shift.bias[v] for v in value_of])
    outer = assign_folds(groups, opts.folds, opts.seed)  # the folds inputs() assigned
    golds = np.array(gold)

    def decide(alpha: float, rows: np.ndarray) -> list[str]:  # the hybrid, its evaluator half shifted
        half = Lexical(lexical.oof[rows], lexical.weight, lexical.temperature)
        return half.labels(oof[rows] + alpha * full[rows], temperature, system.labels)

    def corpus_f1(alpha: float, rows: np.ndarray) -> float:
        return weighted_macro_f1(golds[rows], decide(alpha, rows), weights[rows])

    # pooling with the (prior-blind) lexical half dilutes a shift of the evaluator half by 1 - w
    strengths = [a for a in np.round(np.arange(0, 1 / (1 - lexical.weight) + 1e-9, 0.1), 1)]

    def best_alpha(rows: np.ndarray) -> float:  # the first of equals: the smaller shift
        if not shift_decisions:
            return 0.0
        return float(max(strengths, key=lambda a: (corpus_f1(a, rows), -a)))

    # the full shift is right for accuracy; macro-F1 wants a softer one (its optimal thresholds
    # are lower: Lipton et al. 2014), so the strength is chosen on the corpus-weighted folds,
    # nested: each outer fold is decided with the strength the other folds chose
    shifted = [""] * len(tuples)
    per_fold = []
    for f in np.unique(outer):
        alpha_f = best_alpha(np.flatnonzero(outer != f))
        per_fold.append(alpha_f)
        for i, lab in zip(np.flatnonzero(outer == f), decide(alpha_f, np.flatnonzero(outer == f))):
            shifted[i] = lab
    alpha = best_alpha(np.arange(len(tuples)))

    def reweighted(name: str, pred: list[str]) -> Estimate:
        from clave_lite.evaluation.metrics import Metrics

        return Estimate(name, Metrics(
            n=len(gold), texts=len(set(groups)),
            accuracy=float(np.average(np.array(gold) == np.array(pred), weights=weights)),
            macro_f1=weighted_macro_f1(gold, pred, weights), value_f1_mean=None, touche_f1=None, per_class_f1={},
            gold_label_counts={}, confusion={}, per_value={}, values_without_supports=[],
            intervals={"macro_f1": weighted_interval(gold, pred, weights, groups)}))

    added = [reweighted("adapted@corpus", shifted),
             reweighted("adapted-unshifted@corpus", decide(0.0, np.arange(len(tuples)))),
             reweighted("tfidf@corpus", lexical.own_labels())]
    biases = {v: [round(float(alpha * x), 6) for x in shift.bias[v]] for v in values} if alpha else {}
    return estimates + added, biases, {**fitted, "prevalence": shares, "shift_strength": alpha,
                                       "shift_strength_per_fold": per_fold, "prior_shift": shift.to_dict()}


def adapt_record(opts: AdaptOptions, system: ValueSystem, tuples: Sequence[LabelledTuple], labels_sha256: str,
                 estimates: Sequence[Estimate], **extra: Any) -> dict[str, Any]:
    """``manifest.training["adapt"]`` of an adapted evaluator: what it was adapted from (the labels
    file by name and by the SHA-256 of the bytes read, :attr:`Inputs.labels_sha256`) and how well."""
    return {"system": system.name, "labels": Path(opts.labels).name,
            "labels_sha256": labels_sha256, "tuples": len(tuples),
            "folds": opts.folds, "group_regex": opts.group_regex, **extra,
            "fold_estimate": {e.name: e.to_dict() for e in estimates}}


def write_with_manifest(src: Path, output: Path, manifest) -> None:
    """A copy of the evaluator ``src`` (weights byte for byte) carrying ``manifest``, written to
    ``output`` under a fresh name and renamed when whole and loadable."""
    from clave_lite.build.ggufio import copy_with_strings
    from clave_lite.formats.manifest import FORMAT_KEY, FORMAT_VERSION, MANIFEST_KEY, read_gguf_manifest

    with staged(output) as tmp:
        copy_with_strings(src, tmp, {MANIFEST_KEY: manifest.to_json(), FORMAT_KEY: str(FORMAT_VERSION)})
        read_gguf_manifest(tmp)  # never hand out a file that would not load


def restamp_adapt_record(path: Path, record: dict[str, Any]) -> None:
    """Replace the adapt record in the manifest of the evaluator at ``path`` (weights untouched)."""
    from clave_lite.formats.manifest import read_gguf_manifest

    m = read_gguf_manifest(path)
    write_with_manifest(path, path, replace(m, training={**m.training, "adapt": record}))


def adapt(opts: AdaptOptions, progress: Progress | None = None) -> AdaptReport:
    """Adapt an evaluator to ``opts.system`` from ``opts.labels``; writes ``opts.output``."""
    require("sklearn", "adapt")
    from clave_lite.evaluation import metrics
    from clave_lite.evaluation.thresholds import fit_temperature, objective

    progress = progress or Silent()
    if opts.train_epochs > 0:
        raise UsageError("train_epochs > 0 asks for the LoRA path, which needs torch: call "
                         "clave_lite.adapt_lora(opts) (the bake extra); adapt() fits a readout on the evaluator "
                         "as it is", remedies=(Remedy("train_epochs", 0, "for the readout path"),))
    t0 = time.time()
    read = inputs(opts)
    system, tuples, groups, outer = read.system, read.tuples, read.groups, read.outer
    feats, basis, lines, label_ids, src = _read_evaluator(opts, system, tuples, progress)
    t_features = time.time() - t0

    values = [v.name for v in system.values]
    gold = [t.label for t in tuples]
    data = readout.Data(feats, np.array([LABELS.index(g) for g in gold]),
                        np.array([values.index(t.value) for t in tuples]), len(values), np.array(groups))
    goal = objective(system.labels)

    def score(logits: np.ndarray, rows: np.ndarray) -> float:
        sub = [tuples[i] for i in rows]
        result = metrics.compute(_pairs(sub, _decide(logits, system.labels), [groups[i] for i in rows]),
                                 intervals=False).figure(goal)
        return -1.0 if result is None else float(result)

    cands = readout.candidates(list(lines))
    everything = np.arange(len(tuples))
    best: readout.Readout
    if opts.readout == "choose":
        progress.start("choosing the readout by nested folds", opts.folds + 1)
        oof, per_fold = readout.nested_estimate(cands, data, opts.folds, opts.seed, score, progress.advance)
        best, table = readout.choose(cands, data, everything, opts.folds, opts.seed, score)
        progress.advance()
    else:
        progress.start("fitting the readouts on folds", len(cands))
        member_oof = readout.out_of_fold_all(cands, data, everything, outer, progress.advance)
        table = {name: score(z, everything) for name, z in member_oof.items()}
        best = readout.fixed_ensemble(cands)
        oof = np.mean([member_oof[m.name] for m in best.members], 0)  # = its out_of_fold (tested)
        per_fold = []
    progress.finish()
    t_folds = time.time() - t0 - t_features

    temperature, _, _ = fit_temperature(oof, gold, np.zeros_like(oof), system.labels)
    progress.note("fitting the lexical half (TF-IDF + LR) on the same folds")
    lexical = lexical_on_folds(system, tuples, outer).calibrated(oof, temperature, gold, system.labels)
    estimates = fold_estimates(system, tuples, groups, oof, feats[("label_logits", "template")], lexical,
                               temperature)

    final = data.fit(best, everything)
    value_lines = [lines[line] for line in best.lines]
    if best.features == "hidden":
        head = final.head(basis.token_ids, basis.project, value_lines, values)
    else:
        head = final.head(label_ids, None, value_lines, values)
    layer = fit_lexical_layer(system, tuples, opts.labels, lexical.temperature)
    shares, estimated = stated_prior(opts, system), None
    if read.corpus:  # the corpus is read by the evaluator as fitted, without a prior shift
        folder = Path(opts.output).resolve().parent
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(prefix=".clave-adapt-", dir=folder) as tmp:
            scorer = Path(tmp) / "as-fitted.gguf"
            _write(replace(opts, output=scorer), src, read, head, temperature, best, estimates, {}, {}, layer)
            estimated = estimated_prior(opts, read, lexical.labels(oof, temperature, system.labels), scorer, progress)
        shares = estimated.shares
    estimates, biases, prior_record = corpus_estimates(opts, system, tuples, groups, oof, temperature, estimates,
                                                       lexical, shares)
    if estimated is not None:
        prior_record["prevalence_estimate"] = estimated.to_dict()
    _write(opts, src, read, head, temperature, best, estimates, biases, prior_record, layer)
    return AdaptReport(
        output=str(opts.output), system=system.name, tuples=len(tuples), groups=len(set(groups)),
        folds=opts.folds, readout=opts.readout, chosen=best.name, chosen_per_fold=per_fold, estimates=estimates,
        ablation=table,
        temperature=temperature, objective=goal,
        seconds={"features": round(t_features, 1), "folds": round(t_folds, 1), "total": round(time.time() - t0, 1)},
        related_share=related_share(tuples), prevalence=prior_record.get("prevalence", {}),
        shift_strength=prior_record.get("shift_strength"), prevalence_estimate=estimated,
        pool_temperature=lexical.temperature)


def adapted_decision_prior(system: ValueSystem, biases: dict[str, list[float]],
                           prior_record: dict[str, Any]) -> dict[str, float]:
    """Per value, the related share an adapted evaluator decides for (``Manifest.decision_priors``,
    what score-time ``--prevalence`` shifts from): the corpus shares its decisions were shifted to
    (``--prevalence`` / ``--unlabelled``, when the folds chose a shift), else the mix its out-of-fold
    probabilities give the labelled tuples (``prior_record["fitted_mix"]``,
    :func:`clave_lite.adapt.prior.fitted_mix`), else every label equally likely (the readout, LoRA
    loss and lexical half are all fitted class-balanced)."""
    from clave_lite.core.prior import balanced_prior

    if biases and prior_record.get("prevalence"):
        return {v.name: float(prior_record["prevalence"][v.name]) for v in system.values}
    if prior_record.get("fitted_mix"):
        return {v.name: float(prior_record["fitted_mix"][v.name]) for v in system.values}
    return dict.fromkeys(system.value_names, round(balanced_prior(system.labels), 4))


def related_share(tuples: Sequence[LabelledTuple]) -> float:
    """The share of supports/opposes tuples in the labelled sample."""
    return sum(t.label != "unrelated" for t in tuples) / max(1, len(tuples))


def _write(opts: AdaptOptions, src: Path, read: Inputs, head, temperature: float, best: readout.Readout,
           estimates: list[Estimate], biases: dict[str, list[float]],
           prior_record: dict[str, Any], lexical) -> None:
    from clave_lite.formats.manifest import read_gguf_manifest

    system = read.system
    m = read_gguf_manifest(src)
    adapted = replace(
        m,
        systems=[system] + [s for s in m.systems if s.name != system.name],
        default_system=system.name,
        heads={**{k: v for k, v in m.heads.items() if k != system.name}, system.name: head},
        # the head holds its own biases; --prevalence adds the corpus prior's
        biases={**{k: v for k, v in m.biases.items() if k != system.name}, **({system.name: biases} if biases else {})},
        temperatures={**m.temperatures, system.name: temperature},
        decision_priors={**m.decision_priors, system.name: adapted_decision_prior(system, biases, prior_record)},
        lexical=m.lexical.with_layer(system.name, lexical),
        training={**m.training, "adapt": adapt_record(opts, system, read.tuples, read.labels_sha256, estimates,
                                                      readout=best.name, readout_mode=opts.readout, lines=opts.lines,
                                                      **prior_record)},
    )
    write_with_manifest(src, Path(opts.output), adapted)
