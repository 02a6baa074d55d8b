"""The jinja2 environment of the report pages: template loading, number filters and inline assets.

Owns `environment()` and the filters every page uses (`secs`, `ms`, `pct`, `verdict`); `asset()` reads the
CSS/JS files shipped next to the templates and `static()` the vendored plotting library (static/), so pages
stay self-contained; `script_json` embeds JSON in a <script> element. Does not own any page's content.
"""

from __future__ import annotations

import functools
import math
from importlib import resources

import jinja2
from markupsafe import Markup

from harness.checker import RECOVERY_WATCH_S, UNKNOWN, Validity, validity_name


def _num(v: object) -> float | None:
    if v is None or isinstance(v, bool) or not isinstance(v, (int, float)):
        return None
    return None if math.isnan(float(v)) else float(v)


def secs(v: object, digits: int = 2) -> str:
    x = _num(v)
    return "-" if x is None else f"{x:.{digits}f} s"


def ms(v: object) -> str:
    x = _num(v)
    if x is None:
        return "-"
    return f"{x:.0f} ms" if x >= 100 else f"{x:.2f} ms" if x < 10 else f"{x:.1f} ms"


def pct(v: object) -> str:
    x = _num(v)
    return "-" if x is None else f"{x * 100:.1f}%"


def rate(v: object) -> str:
    x = _num(v)
    return "-" if x is None else f"{x:.1f}/s"


def verdict(v: Validity) -> str:
    return validity_name(v) if v in (True, False, UNKNOWN) else "unknown"


@functools.cache
def asset(name: str) -> str:
    """A file shipped in harness/report/templates/, as text."""
    return (resources.files("harness.report") / "templates" / name).read_text(encoding="utf-8")


@functools.cache
def static(name: str) -> str:
    """A vendored file shipped in harness/report/static/ (see its README.md), as text."""
    return (resources.files("harness.report") / "static" / name).read_text(encoding="utf-8")


def script_json(text: str) -> str:
    """JSON text safe inside a <script> element (no "</script>" or "<!--" can end it early)."""
    return text.replace("<", "\\u003c").replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")


@functools.cache
def environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("harness.report", "templates"),
        autoescape=jinja2.select_autoescape(enabled_extensions=("j2", "html"), default_for_string=True),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(secs=secs, ms=ms, pct=pct, rate=rate, verdict=verdict)
    env.globals.update(asset=lambda n: Markup(asset(n)), static=lambda n: Markup(static(n)))  # our own files, not user data
    env.globals.update(recovery_watch_s=RECOVERY_WATCH_S)
    return env


def render(template: str, **context: object) -> str:
    return environment().get_template(template).render(**context)
