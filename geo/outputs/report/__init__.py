"""The self-contained HTML report (``report.html``) and its static figures.

:func:`write_report` writes ``report.html`` and ``figures/*.png`` into an output folder;
:func:`render_report` returns the HTML text.  The report is one file that opens offline: no
external CSS, JavaScript or fonts, figures embedded as ``data:image/png;base64`` URIs.  It is
deterministic (no run date or timings), so the same results give the same bytes.

The page opens with the answer: the title, the compact contents bar, the answer's sentences
and the verdict table (all from ``results.answer``, :mod:`geo.parks.answer`, the object
``summary.json["answer"]`` holds too).  Then one section per function of :data:`SECTIONS`:
the park cards, the valleys compared, the groups, the models, the statistics of each valley,
the data quality, the methods (once) and the outputs.  Full tables and rules sit in
collapsible ``<details>``; every label comes from :mod:`geo.outputs._labels`.

Every string that comes from the data or the configuration (firm, park and valley names,
sectors, reasons, paths) is HTML-escaped with :func:`geo.outputs.maps.escape` before it reaches
the page; ids and anchors are generated from counters, never from data.

To add a section: write ``def section_x(results, ctx) -> str`` (empty string: nothing to
show) that starts with ``_h(ctx.toc, 1, title)``, and put it in :data:`SECTIONS`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Mapping

from geo.outputs.report._compare import (
    section_comparison,
    section_groups,
    section_models,
)
from geo.outputs.report._data import section_data_quality, section_registry
from geo.outputs.report._html import (
    CSS,
    SYNTHETIC_BANNER,
    VERDICT_CLASS,
    _Ctx,
    _e,
    _h,
    _num,
    _p,
    _plain,
    _verdict_key,
)
from geo.outputs.report._methods import section_methods, section_outputs
from geo.outputs.report._parks import card_anchors, section_parks
from geo.outputs.report._valleys import _analysed, _valley_heading, section_valleys

__all__ = ["write_report", "render_report", "SYNTHETIC_BANNER", "SECTIONS"]

# the helpers tests and callers reach through geo.outputs.report
_ = (_num, _p, _valley_heading, _analysed)

#: the sections after the answer, in page order: each ``(results, ctx) -> HTML`` ("" to leave it out)
SECTIONS: list[Callable[[Any, _Ctx], str]] = [
    section_parks,
    section_comparison,
    section_groups,
    section_models,
    section_valleys,
    section_data_quality,
    section_registry,
    section_methods,
    section_outputs,
]

_QUESTION = ("Do science &amp; technology parks coincide with industrial clusters of firms, or do clusters form on their "
             "own, before or outside the parks?")


def _verdict_table(results, ctx: _Ctx) -> str:
    """Verdict | parks | which (valley: park, each a link to its card), from ``results.answer``."""
    from geo.outputs._style import VERDICT_COLOURS
    from geo.parks.overlay import VERDICTS

    ans = results.answer

    def park_link(valley: str, park: str) -> str:
        anchor = ctx.cards.get((valley, park))
        text = f"{_e(valley)}: {_e(park)}"
        return f'<a href="#{anchor}">{text}</a>' if anchor else text

    rows = []
    for verdict, lst in ans.verdicts.items():
        key = _verdict_key(verdict)
        colour = VERDICT_COLOURS[VERDICTS[key]]
        which = "; ".join(park_link(v, p) for v, p in lst) or "—"
        rows.append(f'<tr><td class="{VERDICT_CLASS[key]}"><span class="swatch" style="background:{colour}"></span>{_e(verdict)}</td>'
                    f'<td class="num">{len(lst)}</td><td>{which}</td></tr>')
    if ans.not_assessed:
        by_reason: dict[str, list[str]] = {}  # one reason (too few cells ...) is written once for its parks
        for v, p, r in ans.not_assessed:
            by_reason.setdefault(str(r).strip().rstrip("."), []).append(f"{_e(v)}: {_e(p)}")
        which = "; ".join(f"{', '.join(parks)} — {_e(r)}" for r, parks in by_reason.items())
        rows.append(f'<tr><td>not assessed</td><td class="num">{len(ans.not_assessed)}</td><td>{which}</td></tr>')
    head = "<tr><th>verdict</th><th>parks</th><th>which (valley: park)</th></tr>"
    return '<div class="scroll"><table class="verdicts">' + head + "".join(rows) + "</table></div>"


def _section_answer(results, ctx: _Ctx) -> str:
    """The answer (``results.answer``): the question, the facts, the conclusions, the verdict table."""
    ans = results.answer
    out = ['<section id="answer">', _h(ctx.toc, 1, "Answer to the research question", short="Answer")]
    out.append(f'<p class="question">{_QUESTION}</p>')
    concl = "".join(f"<li>{_e(x)}</li>" for x in ans.conclusions)
    out.append('<div class="answer"><p>' + " ".join(_e(x) for x in ans.facts) + "</p>"
               + (f"<ul>{concl}</ul>" if concl else "") + "</div>")
    out.append(_verdict_table(results, ctx))
    out.append("</section>")
    return "\n".join(out)


# ----------------------------------------------------------------------------- entry points
def render_report(results, *, figures: Mapping[str, bytes] | None = None, figure_errors: Mapping[str, str] | None = None) -> str:
    """The report as one self-contained HTML page.

    Parameters
    ----------
    results : geo.pipeline.results.Results
    figures : mapping file name -> PNG bytes, optional
        From :func:`geo.outputs.figures.report_figures` (computed when not given).
    figure_errors : mapping file name -> message, optional
        Figures that could not be drawn; the report says so where they would be.

    Returns
    -------
    str
        The HTML text (deterministic: no date, no timings).
    """
    from geo._version import __version__
    from geo.outputs.figures import report_figures

    errors: dict[str, str] = dict(figure_errors or {})
    if figures is None:
        figures = report_figures(results, errors=errors)
    ctx = _Ctx(figures=figures, errors=errors)
    ctx.cards.update(card_anchors(results))
    title = results.config.run.title
    answer = _section_answer(results, ctx)
    body = [section(results, ctx) for section in SECTIONS]
    head = (
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{_e(title)}</title>\n<style>{CSS}</style>\n</head>\n<body>\n"
    )
    banner = f'<div class="banner" role="alert">{_e(SYNTHETIC_BANNER)}</div>\n' if results.synthetic else ""
    n_firms = sum(getattr(v, "n_total", len(v.firms)) for v in results.valleys.values())
    n_valleys = len(results.valleys)
    intro = (
        f"<main>\n<h1>{_e(title)}</h1>\n"
        f'<p class="meta">geo {_e(__version__)} · {n_valleys} valle{"y" if n_valleys == 1 else "ys"} · '
        f"{_num(n_firms)} firms · {_num(len(results.parks))} parks · seed {_plain(results.config.run.seed)}</p>\n"
    )
    return (head + banner + intro + ctx.toc.render() + "\n" + answer + "\n" + "\n".join(b for b in body if b)
            + "\n</main>\n</body>\n</html>\n")


def write_report(results, out_dir: str | Path, *, figures: Mapping[str, bytes] | None = None,
                 workers: int | None = None) -> Path:
    """Write ``out_dir/report.html`` (atomically) and ``out_dir/figures/*.png``.

    A figure that fails to draw is logged and reported in the page instead of stopping the
    report.

    Parameters
    ----------
    results : geo.pipeline.results.Results
    out_dir : str or Path
        Output folder (created if missing); the report links to ``maps/``, ``rasters/``,
        ``summary.json``, ``layers.gpkg`` and ``rejects.csv`` beside it.
    figures : mapping file name -> PNG bytes, optional
        Precomputed :func:`geo.outputs.figures.report_figures` (computed when not given).
    workers : int, optional
        Processes drawing the figures (see :func:`geo.outputs.figures.report_figures`).

    Returns
    -------
    pathlib.Path
        The path of ``report.html``.

    Examples
    --------
    >>> import geo
    >>> from geo.datasets import demo_files
    >>> from geo.outputs.report import write_report
    >>> res = geo.run(demo_files()["config"])  # doctest: +SKIP
    >>> write_report(res, "geo-output")  # doctest: +SKIP
    PosixPath('geo-output/report.html')
    """
    from geo.outputs._write import atomic_path
    from geo.outputs.figures import report_figures

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    errors: dict[str, str] = {}
    figs = report_figures(results, errors=errors, workers=workers) if figures is None else dict(figures)
    fig_dir = out / "figures"
    for name, png in figs.items():
        with atomic_path(fig_dir / name) as tmp:
            tmp.write_bytes(png)
    page = render_report(results, figures=figs, figure_errors=errors)
    target = out / "report.html"
    with atomic_path(target) as tmp:
        tmp.write_text(page, encoding="utf-8")
    return target
