"""The report page: one self-contained HTML file (inline CSS, no fonts, scripts or images from
outside its folder) rendered with Jinja2, every value autoescaped.

A few lines of inline script mark each figure once the browser has loaded it
(``data-loaded="1"``, and ``data-images="loaded/total"`` on ``<body>``), so a test, or a reader
on an air-gapped machine, can tell a broken figure from a missing one.
"""

from __future__ import annotations

from typing import Any

from clave_lite.errors import require

BASE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="generator" content="clave-lite {{ version }}">
<title>{{ title }}</title>
<style>
 body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; margin: 2rem auto; max-width: 72rem;
        padding: 0 1rem; color: #222; line-height: 1.45; }
 h1 { font-size: 1.6rem; } h2 { margin-top: 2.2rem; border-bottom: 1px solid #ddd; } h3 { margin-top: 1.4rem; }
 table { border-collapse: collapse; margin: .6rem 0 1rem; font-size: .9rem; }
 th, td { border: 1px solid #ddd; padding: .25rem .5rem; text-align: left; vertical-align: top; }
 th { background: #f4f4f4; } td.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
 tr.differs td { background: #fff4e5; } figure { margin: 1rem 0; } figure img { max-width: 100%; height: auto; }
 figcaption { font-size: .85rem; color: #555; } code { background: #f4f4f4; padding: 0 .2rem; }
 .note { font-size: .85rem; color: #555; } .excerpt { max-width: 42rem; }
</style>
</head>
<body>
<h1>{{ title }}</h1>
{% block body %}{% endblock %}
<p class="note">Made by clave-lite {{ version }}, offline. Every file this page uses is in its folder.</p>
<script>
window.addEventListener("load", function () {
  var imgs = Array.prototype.slice.call(document.images), ok = 0;
  imgs.forEach(function (img) {
    var loaded = img.complete && img.naturalWidth > 0;
    img.setAttribute("data-loaded", loaded ? "1" : "0");
    ok += loaded ? 1 : 0;
  });
  document.body.setAttribute("data-images", ok + "/" + imgs.length);
});
</script>
</body>
</html>
"""

FIGURE = """{% macro figure(file, caption) %}<figure><img src="{{ file }}" alt="{{ caption }}">
<figcaption>{{ caption }}</figcaption></figure>{% endmacro %}
{% macro pct(x) %}{{ "%.1f"|format(100 * x) }} %{% endmacro %}
{% macro share(s) %}{{ pct(s.p) }} <span class="note">[{{ "%.1f"|format(100 * s.lo) }}–{{ "%.1f"|format(100 * s.hi) }}]</span>{% endmacro %}
"""

PROFILE = FIGURE + """{% extends "base" %}{% block body %}
<p>Value system <code>{{ p.system }}</code>; {{ p.lines|length }} scored texts in {{ p.groups|length }}
group(s){% if p.by %} by <code>{{ p.by }}</code>{% endif %}.</p>

<h2>What produced these scores</h2>
<table id="sources"><thead><tr><th>file</th><th>lines</th><th>evaluator</th><th>base model</th>
<th>clave-lite</th><th>started</th><th>command</th></tr></thead><tbody>
{% for s in p.sources %}{% set pv = s.provenance or {} %}<tr><td><code>{{ s.path }}</code></td><td class="num">{{ s.lines }}</td>
<td>{{ pv.evaluator or "unknown: not a finished `score -o` run recorded on this machine" }}
{% if pv.training_data_sha256 %}<br><span class="note">training data {{ pv.training_data_sha256[:12] }}</span>{% endif %}</td>
<td>{{ pv.base_model or "" }}</td><td>{{ pv.clave_lite_version or "" }}</td><td>{{ pv.started or "" }}</td>
<td>{% if pv.command %}<code>{{ pv.command }}</code>{% endif %}</td></tr>
{% endfor %}</tbody></table>

<h2>Value profile</h2>
{{ figure(figs.profile, "Per value and group: the share of answers that support it (right) or oppose it (left, hatched), 95 % Wilson intervals.") }}
{{ figure(figs.radar, "The share of answers that support each value, per group.") }}
<table id="profile"><thead><tr><th>value</th>{% for g in p.groups %}<th>{{ g }}: supports</th><th>{{ g }}: opposes</th>{% endfor %}</tr></thead><tbody>
{% for v in p.values %}<tr><td>{{ v }}</td>{% for g in p.groups %}{% set vp = p.profile(g, v) %}
<td class="num">{{ share(vp.supports) }}</td><td class="num">{{ share(vp.opposes) }}</td>{% endfor %}</tr>
{% endfor %}</tbody></table>
<p class="note">n per group: {% for g in p.groups %}{{ g }} {{ p.profile(g, p.values[0]).supports.n }}{% if not loop.last %}, {% endif %}{% endfor %}.</p>

{% if p.differences %}
<h2>Differences between groups</h2>
{{ figure(figs.differences, "Difference in shares (row group minus column group), with a 95 % interval (thick) and the interval corrected for all " ~ p.differences|length ~ " comparisons (thin).") }}
<p>{{ differs|length }} of {{ p.differences|length }} differences hold after the Bonferroni correction
{% if p.differences and p.differences[0].paired %}(each pair of groups compared on the prompts both answered, paired by
<code>{{ pair_by }}</code>: Newcombe's interval for paired shares, at 1 − 0.05/{{ p.differences|length }}: with no real
difference, at most 5 % of such reports would show any).{% else %}(Newcombe's score interval for a difference of two
shares, at 1 − 0.05/{{ p.differences|length }}: with no real difference, at most 5 % of such reports would show any;
answers to the same prompts are not paired here, so the intervals are if anything too wide: <code>--pair-by FIELD</code>
pairs them).{% endif %}</p>
<table id="differences"><thead><tr><th>groups</th><th>value</th><th>label</th><th>difference</th><th>95 % interval</th>
<th>corrected interval</th><th>differs</th><th>pairs</th></tr></thead><tbody>
{% for d in p.differences %}<tr class="{{ 'differs' if d.differs }}"><td>{{ d.a }} − {{ d.b }}</td><td>{{ d.value }}</td>
<td>{{ d.label }}</td><td class="num">{{ "%+.1f"|format(100 * d.diff) }} pt</td>
<td class="num">[{{ "%+.1f"|format(100 * d.lo) }}, {{ "%+.1f"|format(100 * d.hi) }}]</td>
<td class="num">[{{ "%+.1f"|format(100 * d.lo_adj) }}, {{ "%+.1f"|format(100 * d.hi_adj) }}]</td>
<td>{{ "yes" if d.differs else "no" }}</td><td class="num">{{ d.paired or "" }}</td></tr>
{% endfor %}</tbody></table>
{% endif %}

<h2>Probabilities</h2>
{{ figure(figs.p_supports, "Per value: the distribution of p_supports in each group.") }}
{{ figure(figs.p_opposes, "Per value: the distribution of p_opposes in each group.") }}

<h2>Examples</h2>
<p class="note">Per value, the {{ top }} answers decided <em>supports</em> and <em>opposes</em> with the highest probability
{% if not has_text %}(no texts: score with <code>--keep text</code> to see excerpts){% endif %}.</p>
{% for v in p.values %}<h3>{{ v }}</h3>
<table class="examples"><thead><tr><th>label</th><th>p</th><th>group</th><th>id</th><th>excerpt</th><th>concept (--explain)</th></tr></thead><tbody>
{% for e in examples[v] %}<tr><td>{{ e.label }}</td><td class="num">{{ "%.3f"|format(e.p) }}</td><td>{{ e.group }}</td>
<td><code>{{ e.id }}</code></td><td class="excerpt">{{ e.excerpt or "" }}</td><td>{{ e.explanation or "" }}</td></tr>
{% else %}<tr><td colspan="6">no answer is decided supports or opposes on {{ v }}</td></tr>
{% endfor %}</tbody></table>
{% endfor %}
{% endblock %}
"""

EVAL = FIGURE + """{% extends "base" %}{% block body %}
{% if ev %}{% set m = ev.metrics %}
<p>Evaluator <code>{{ ev.model or "predictions file" }}</code>{% if ev.backend %} ({{ ev.backend }}){% endif %},
on <code>{{ ev.data }}</code>: {{ m.n }} tuples of {{ m.texts }} texts.</p>
<h2>Headline</h2>
<table id="headline"><thead><tr><th>model</th><th>macro-F1</th><th>accuracy</th><th>value-F1 mean</th>
<th>Touché F1</th><th>opposes F1</th><th>ECE</th></tr></thead><tbody>
{% for name, r in rows %}<tr><td>{{ name }}</td>
<td class="num">{{ "%.3f"|format(r.macro_f1) }}{% if r.intervals and r.intervals.macro_f1 %} <span class="note">[{{ "%.3f"|format(r.intervals.macro_f1[0]) }}, {{ "%.3f"|format(r.intervals.macro_f1[1]) }}]</span>{% endif %}</td>
<td class="num">{{ "%.3f"|format(r.accuracy) }}</td>
<td class="num">{{ "%.3f"|format(r.value_f1_mean) if r.value_f1_mean is not none else "–" }}</td>
<td class="num">{{ "%.3f"|format(r.touche_f1) if r.touche_f1 is not none else "–" }}</td>
<td class="num">{{ "%.3f"|format(r.per_class_f1.opposes) if r.per_class_f1 and r.per_class_f1.opposes is defined else "–" }}</td>
<td class="num">{{ "%.3f"|format(r.calibration.ece) if r.calibration else "–" }}</td></tr>
{% endfor %}</tbody></table>
<h2>Confusion</h2>
{{ figure(figs.confusion, "All values pooled: rows are the gold label, columns the predicted one.") }}
{{ figure(figs.confusion_values, "The same, per value.") }}
<h2>Per value</h2>
{{ figure(figs.f1, "Per-value macro-F1" ~ (", next to the baselines" if ev.baselines else "") ~ ".") }}
<table id="per-value"><thead><tr><th>value</th><th>n</th><th>gold supports</th><th>macro-F1</th><th>F1 supports</th>
{% for b in ev.baselines %}<th>{{ b }} macro-F1</th>{% endfor %}</tr></thead><tbody>
{% for v, r in m.per_value.items() %}<tr><td>{{ v }}</td><td class="num">{{ r.n }}</td><td class="num">{{ r.gold_supports }}</td>
<td class="num">{{ "%.3f"|format(r.macro_f1) }}</td><td class="num">{{ "%.3f"|format(r.f1_supports) if r.f1_supports is not none else "–" }}</td>
{% for b, bm in ev.baselines.items() %}<td class="num">{{ "%.3f"|format(bm.per_value[v].macro_f1) if v in bm.per_value else "–" }}</td>{% endfor %}</tr>
{% endfor %}</tbody></table>
{% if figs.reliability %}<h2>Calibration</h2>
{{ figure(figs.reliability, "Reliability: the top label's predicted probability against how often it is right, per bin (n above each point).") }}
{% endif %}{% endif %}
{% if inj %}<h2>Prompt injection</h2>
<p>Each text scored clean and with an instruction appended ({{ inj.decisions }} attacked decisions);
clean accuracy {{ "%.3f"|format(inj.clean.accuracy) }}.</p>
{{ figure(figs.flips, "How often an appended instruction flips a verdict, and how often toward the label it asks for.") }}
<table id="injection"><thead><tr><th>family</th><th>flip rate</th><th>toward the attacker</th><th>decisions</th></tr></thead><tbody>
{% for name, f in inj.families.items() %}<tr><td>{{ name }}</td><td class="num">{{ pct(f.flip_rate) }}</td>
<td class="num">{{ pct(f.to_target_rate) }}</td><td class="num">{{ f.decisions }}</td></tr>{% endfor %}
<tr><td>all attacks</td><td class="num">{{ pct(inj.flip_rate) }}</td><td class="num">{{ pct(inj.to_target_rate) }}</td><td class="num">{{ inj.decisions }}</td></tr>
<tr><td>control (benign text)</td><td class="num">{{ pct(inj.control.flip_rate) }}</td><td></td><td></td></tr>
</tbody></table>{% endif %}
{% endblock %}
"""


def render(kind: str, **context: Any) -> str:
    """``kind``: ``profile`` or ``eval``; the context is what its template reads."""
    jinja2 = require("jinja2", "report")
    from clave_lite.version import __version__

    env = jinja2.Environment(loader=jinja2.DictLoader({"base": BASE, "profile": PROFILE, "eval": EVAL}),
                             autoescape=True, trim_blocks=True, lstrip_blocks=True)
    return env.get_template(kind).render(version=__version__, **context)
