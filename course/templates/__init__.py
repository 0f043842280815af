"""The Jinja templates of the reports (the TA summary, the similarity report, the Part 7
assistant's page), loaded one way: a misspelt name fails, block tags leave no blank lines,
and HTML pages are escaped (Markdown is not)."""

from __future__ import annotations

import functools

import jinja2


@functools.cache
def _environment(html: bool) -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.PackageLoader("course", "templates"),
        undefined=jinja2.StrictUndefined,  # a misspelt name fails instead of printing nothing
        autoescape=html,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )


def load(name: str, **filters) -> jinja2.Template:
    """Template `name` from this folder, with `filters` added to its own copy of the
    environment (each report keeps its own number formats)."""
    env = _environment(name.endswith(".html.j2")).overlay()
    env.filters.update(filters)
    return env.get_template(name)
