"""The compact HTML summaries that the API's results show in Jupyter (autoescaped: names come from data)."""

from __future__ import annotations

_STYLE = ("<style>.tb-result table{border-collapse:collapse;font-size:12px}.tb-result td,.tb-result th"
          "{padding:2px 8px;border-bottom:1px solid #ddd;text-align:right}.tb-result td:first-child,"
          ".tb-result th:first-child{text-align:left}.tb-result .tb-note{color:#8a4b00}</style>")

_TEMPLATES = {
    "benchmark": """<div class="tb-result">
<p><strong>tumorbench {{ kind }}</strong>: {{ rows|length }} model(s){% if seconds is not none %}, {{ '%.0f'|format(seconds) }} s{% endif %}
 &middot; report: <a href="{{ report.resolve().as_uri() }}" target="_blank"><code>{{ report }}</code></a></p>
{% if checks %}<table><thead><tr><th>check</th><th>verdict</th><th>number</th></tr></thead>
<tbody>{% for c in checks %}<tr><td>{{ c.title }}</td><td><strong>{{ c.status|upper }}</strong></td><td>{{ c.value }}</td></tr>{% endfor %}</tbody></table>{% endif %}
<ul>{% for sentence in recommendation %}<li>{{ sentence }}</li>{% endfor %}</ul>
<table><thead><tr><th>model</th><th>test images</th>{% for h in headers %}<th>{{ h }} [95% CI]</th>{% endfor %}</tr></thead>
<tbody>{% for row in rows %}<tr><td>{{ row.model }}</td><td>{{ row.n }}</td>{% for c in row.cells %}<td>{{ c }}</td>{% endfor %}</tr>{% endfor %}</tbody></table>
{% for note in notes %}<p class="tb-note">{{ note }}</p>{% endfor %}
<p><small>Tables: <code>.checks</code>, <code>.metrics</code>, <code>.per_class</code>, <code>.comparison</code>, <code>.confusion(model)</code>, <code>.label_issues</code>, <code>.segments</code>;
figures: <code>.figures</code>; <code>.save(path)</code> copies the report.</small></p></div>""",
    "failed": """<div class="tb-result"><p><strong>tumorbench run</strong> in <code>{{ folder }}</code>: no model
could be trained, no report.</p>{% for note in notes %}<p class="tb-note">{{ note }}</p>{% endfor %}</div>""",
    "audit": """<div class="tb-result"><p><strong>tumorbench audit</strong> &middot; report:
<a href="{{ report.resolve().as_uri() }}" target="_blank"><code>{{ report }}</code></a></p>
<pre>{% for line in summary %}{{ line }}
{% endfor %}</pre>{{ counts.to_html()|safe }}
<p><small><code>.class_counts</code>, <code>.test_duplicates</code>, <code>.label_conflicts</code>,
<code>.shortcut</code>, <code>.figures</code>, <code>.save(folder)</code></small></p></div>""",
    "predictions": """<div class="tb-result"><p><strong>{{ name }}</strong>: predictions for {{ n }} image(s){% if skipped %},
{{ skipped }} unreadable skipped{% endif %}{% if accuracy is not none %}; accuracy {{ '%.3f'|format(accuracy) }}{% endif %}
{% if path %} &middot; <code>{{ path }}</code>{% endif %}</p>
{% for note in notes %}<p class="tb-note">{{ note }}</p>{% endfor %}{{ head.to_html(index=False)|safe }}
<p><small><code>.predictions</code>, <code>.metrics</code>, <code>.save(path)</code>; report: <code>tb.evaluate({name: result.predictions})</code></small></p></div>""",
}


def render(template: str, **context) -> str:
    """One of the summaries above, with its style."""
    from tumorbench.rendering import SUMMARIES  # imported on first use: `import tumorbench` stays light

    return _STYLE + SUMMARIES.from_string(_TEMPLATES[template]).render(**context)
