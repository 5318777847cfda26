"""A run as one self-contained HTML page: ``write_html(run_dir, out)`` or
``python -m pytest_convcode.report RUN_DIR``.

The page is one file with its CSS, script, charts (SVG) and data inline, so that it can be mailed,
archived with the run or opened from a CI artifact, and it fetches nothing when opened (its
Content-Security-Policy forbids any request, and allows only its own script, by hash).
"""

from __future__ import annotations

import base64
import hashlib
from importlib import resources
from pathlib import Path

import jinja2
from markupsafe import Markup

from . import page
from .data import RunData, load_run
from .embed import COLUMNS, embed, script_json
from .files import ReportError
from .problems import SETTING_ORDER
from .repo_tasks import repotasks_charts, repotasks_rows

__all__ = ["ReportError", "RunData", "load_run", "render_html", "write_html"]

PAGE_SIZE = 100  # table rows drawn at once


def _asset(name: str) -> str:
    return (resources.files(__package__) / "templates" / name).read_text(encoding="utf-8")


def _environment() -> jinja2.Environment:
    loader = jinja2.PackageLoader(__package__, "templates")
    return jinja2.Environment(loader=loader, autoescape=True, undefined=jinja2.StrictUndefined)


def render_html(run: RunData) -> str:
    """The page's HTML for a run read by ``load_run``."""
    script = _asset("report.js")
    if "</script" in script.lower():  # pragma: no cover - a guard on our own file
        raise ValueError("report.js must not contain a closing script tag")
    digest = base64.b64encode(hashlib.sha256(script.encode("utf-8")).digest()).decode("ascii")
    rows, blobs = embed(run.problems)
    summary = run.summary
    ks, score_rows = page.score_table(summary)
    conversation_rows = page.conversation_table(summary)
    feature_rows = page.feature_rows(summary)
    comparison = summary.get("comparison") if isinstance(summary.get("comparison"), dict) else None
    settings = sorted({p.setting or p.variant or "" for p in run.problems} - {""}, key=_setting_order)
    template = _environment().get_template("report.html.j2")
    return template.render(
        run=run,
        title=f"convcode report: {summary.get('model') or 'model'} · {summary.get('run_id') or run.directory.name}",
        meta=page.metadata(run),
        ks=ks,
        score_rows=score_rows,
        conversation_rows=conversation_rows,
        convcodebench_rows=page.convcodebench_table(summary),
        repotasks_rows=repotasks_rows(summary),
        feature_rows=feature_rows,
        # the scores excluding errors, in the tables that had errors
        scores_ran=page.with_errors(score_rows),
        conversations_ran=page.with_errors(conversation_rows),
        features_ran=page.with_errors(feature_rows),
        comparison=comparison,
        comparison_rows=page.comparison_rows(summary),
        charts=page.charts(run) + repotasks_charts(summary),
        settings=settings,
        suites=sorted({p.suite for p in run.problems}),
        index=script_json({"columns": COLUMNS, "rows": rows, "pageSize": PAGE_SIZE, "compared": bool(comparison)}),
        blobs=blobs,
        css=Markup(_asset("report.css")),
        script=Markup(script),
        script_hash=f"sha256-{digest}",
    )


def _setting_order(setting: str) -> tuple[int, str]:
    return SETTING_ORDER.get(setting, len(SETTING_ORDER)), setting


def write_html(run_dir: Path, out: Path) -> Path:
    """Render ``run_dir`` (a ``reports/<run-id>`` folder) to ``out``; returns ``out``.

    Raises ``ReportError`` naming the file when the folder holds no results or cannot be read.
    """
    html = render_html(load_run(run_dir))
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp")
    tmp.write_text(html, encoding="utf-8")
    tmp.replace(out)
    return out
