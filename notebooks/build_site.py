"""``make site``: both editions of the executed notebooks as one offline static website.

How it works
------------
``make site`` executes the student and the instructor edition (``runner.py --edition``, into ``build/student`` and
``build/instructor``), then this script renders each executed notebook through nbconvert's ``HTMLExporter`` with
the kit's template ``site_template/glm_site`` into ``<out>/student/NN_name.html`` and ``<out>/instructor/NN_name.html``.
The template is a child of JupyterLab's ``lab`` template that drops every script the lab template loads from a CDN
(require.js, the widget manager, mermaid), loads MathJax 2 from the site's own ``mathjax/`` folder, and puts a bar on
each page: back to the outline, and the same notebook in the other edition. The student pages hold no solution
(their exercise cells are stubs; predictions fold into "Check your prediction"); the instructor pages hold them.

MathJax comes from a Python package, ``jupyter-server-mathjax`` (the MathJax 2.7 files the classic notebook served,
with STIX web fonts), so no system package is needed; ``GLM_KIT_MATHJAX`` may name another MathJax 2 folder. Only the
parts the ``TeX-AMS-MML_HTMLorMML-full`` configuration loads are copied.

What a static page cannot show is removed rather than shown frozen: outputs of cells tagged ``widget`` become a note
to run the notebook (the figure drawn above each widget shows its defaults), every other widget view (a tqdm
progress bar, say) is dropped, and a stream output that redrew itself with carriage returns keeps only its last state.
``index.html`` is the course outline (``outline.py``) with links to both editions. Everything is written into a
temporary folder beside ``<out>`` and moved into place at the end, so a failed build never leaves a half site.
"""

from __future__ import annotations

import argparse
import html
import os
import shutil
import sys
import tempfile
from pathlib import Path

import outline
import runner

TEMPLATE_DIR = Path(__file__).resolve().parent / "site_template"
EDITION_NAMES = ("student", "instructor")
MATHJAX_CONFIG = "TeX-AMS-MML_HTMLorMML-full"
MATHJAX_PARTS = ("MathJax.js", f"config/{MATHJAX_CONFIG}.js", "config/Safe.js", "extensions", "jax/input/TeX",
                 "jax/output/HTML-CSS", "jax/element", "fonts/HTML-CSS/STIX-Web/woff", "localization/en")
MATHJAX_URL = f"../mathjax/MathJax.js?config={MATHJAX_CONFIG}"
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
WIDGET_NOTE = ("*Interactive widget: open this notebook in JupyterLab (`make lab`) to move its controls; the figure "
               "above shows its default values.*")


def find_mathjax() -> Path:
    """The MathJax 2 folder: ``GLM_KIT_MATHJAX`` if set, else the ``jupyter-server-mathjax`` package's files."""
    named = os.environ.get("GLM_KIT_MATHJAX")
    if named:
        folder, where = Path(named), f"GLM_KIT_MATHJAX={named}"
    else:
        try:
            import jupyter_server_mathjax
        except ImportError:
            raise FileNotFoundError(
                "make site needs MathJax 2 from the Python package jupyter-server-mathjax, which is not installed; "
                "run `pip install -e .[dev]` (or `pip install jupyter-server-mathjax`)") from None
        folder = Path(jupyter_server_mathjax.__file__).parent / "static"
        where = f"the jupyter-server-mathjax package ({folder})"
    if not ((folder / "MathJax.js").is_file() and (folder / "config" / f"{MATHJAX_CONFIG}.js").is_file()):
        raise FileNotFoundError(f"make site needs MathJax 2 (MathJax.js and config/{MATHJAX_CONFIG}.js) and found "
                                f"none in {where}; reinstall jupyter-server-mathjax, or point GLM_KIT_MATHJAX at a "
                                "MathJax 2 folder")
    return folder


def copy_mathjax(source: Path, site: Path) -> None:
    for part in MATHJAX_PARTS:
        src, dst = source / part, site / "mathjax" / part
        if src.is_dir():
            shutil.copytree(src, dst)
        elif src.is_file():
            dst.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dst)


def last_redraw(text: str) -> str:
    """A stream that redrew a line with carriage returns (a progress bar), reduced to what was shown last."""
    return "\n".join(line.rsplit("\r", 1)[-1] for line in text.replace("\r\n", "\n").split("\n"))


def static_outputs(nb):
    """What a page without a kernel can show: widget cells get a note, other widget views (progress bars) are
    dropped, carriage-return redraws keep their last state; saved widget state is dropped."""
    import nbformat

    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        if "widget" in cell.metadata.get("tags", []):
            cell.outputs = [nbformat.v4.new_output("display_data", data={"text/markdown": WIDGET_NOTE,
                                                                         "text/plain": WIDGET_NOTE})]
            continue
        kept = []
        for out in cell.outputs:
            if WIDGET_VIEW in out.get("data", {}):
                continue
            if out.get("output_type") == "stream" and "\r" in out.get("text", ""):
                out["text"] = last_redraw(out["text"])
            kept.append(out)
        cell.outputs = kept
    nb.metadata.pop("widgets", None)
    return nb


def render_notebook(path: Path, site: Path, edition: str, other: str | None) -> Path:
    """``site/<edition>/<name>.html``; ``other`` is the other edition when it has this notebook too."""
    import nbformat
    from nbconvert import HTMLExporter

    exporter = HTMLExporter(template_name="glm_site", extra_template_basedirs=[str(TEMPLATE_DIR)],
                            mathjax_url=MATHJAX_URL, theme="light")
    resources = {"glm_site": {"edition": edition, "other": other,
                              "other_href": f"../{other}/{path.stem}.html" if other else None}}
    body, _ = exporter.from_notebook_node(static_outputs(nbformat.read(path, as_version=4)), resources=resources)
    target = site / edition / f"{path.stem}.html"
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(body, encoding="utf-8")
    return target


def index_html(rendered: dict[str, list[str]]) -> str:
    """The course outline as a page, each notebook linked in every edition rendered (``{edition: [names]}``)."""
    rows = []
    for row in outline.rows():
        links = [f'<a href="{e}/{row["name"]}.html">{e}</a>' for e in EDITION_NAMES if row["name"] in
                 rendered.get(e, [])]
        title = html.escape(f"{row['number']} · {row['title']}")
        missing = "planned" if row["status"] == "planned" else "not built"
        cell = f"{title}<br>{' · '.join(links)}" if links else f"{title} <em>({missing})</em>"
        objectives = "<ul>" + "".join(f"<li>{html.escape(g)}</li>" for g in row["objectives"]) + "</ul>"
        tests = ", ".join(t.removeprefix("test_").removesuffix(".py") for t in row["tests"].split(", ") if t)
        cells = [("name", cell), ("objectives", objectives), ("", html.escape(row["study_time"])),
                 ("", html.escape(str(row["exercises"]))), ("", html.escape(row["prerequisites"])),
                 ("", html.escape(row["paper"])), ("small", html.escape(row["files"])), ("small", html.escape(tests)),
                 ("", html.escape(row["budget"])), ("", html.escape(row["fast_time"]))]
        rows.append("<tr>" + "".join(f'<td class="{cls}">{c}</td>' if cls else f"<td>{c}</td>" for cls, c in cells)
                    + "</tr>")
    glossary = "".join(f"<dt>{html.escape(term)}</dt><dd>{html.escape(text)}</dd>" for term, text in outline.GLOSSARY)
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>GLM-130B reproduction kit: course</title>
<style>body{{font-family:sans-serif;max-width:90em;margin:2em auto;padding:0 1em;line-height:1.45}}
table{{border-collapse:collapse}}td,th{{border:1px solid #ccc;padding:4px 8px;vertical-align:top}}
th{{background:#f3f3f3}}dt{{font-weight:bold;margin-top:.6em}}ul{{margin:0;padding-left:1.2em}}
td.name{{min-width:11em}}td.objectives{{min-width:30em}}td.small{{font-size:85%;min-width:10em}}</style></head><body>
<h1>GLM-130B reproduction kit: the course</h1>
<p>Every notebook of the kit, executed, in two editions. The <b>student</b> edition leaves each exercise for you to
write (its check says "not yet implemented" until you do, and later cells carry on with the package's version) and
folds the answers to the "predict first" questions; the <b>instructor</b> edition holds the solutions, every check
passing. Each page links to the other edition. Study time is an estimate for a person working the exercises; the
FAST time is what the last <code>make tour</code> measured on the machine that built this site.</p>
<table><tr><th>notebook</th><th>after it you can</th><th>study time</th><th>exercises</th><th>needs</th>
<th>paper</th><th>package files</th><th>tests (<code>tests/test_*.py</code>)</th><th>budget</th><th>FAST time</th></tr>
{chr(10).join(rows)}
</table>
<h2>Glossary</h2><dl>{glossary}</dl>
</body></html>
"""


def build_site(editions: dict[str, Path], out: Path) -> list[Path]:
    """Render every executed notebook of each edition folder (``{"student": dir, "instructor": dir}``) and the index
    into ``out``, replacing it only on success."""
    unknown = sorted(set(editions) - set(EDITION_NAMES))
    if unknown:
        raise ValueError(f"editions: expected some of {EDITION_NAMES}, got {unknown}")
    paths = {e: sorted(Path(folder).glob(runner.NOTEBOOK_GLOB)) for e, folder in editions.items()}
    if not any(paths.values()):
        raise FileNotFoundError(f"notebooks: no executed NN_name.ipynb in {', '.join(map(str, editions.values()))}; "
                                "run `make student` and `make instructor` first")
    mathjax = find_mathjax()
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}-", dir=out.parent))
    staging.chmod(0o755)  # mkdtemp makes it private; a site is for reading
    names = {e: [p.stem for p in ps] for e, ps in paths.items()}
    try:
        copy_mathjax(mathjax, staging)
        pages = []
        for edition, notebooks in paths.items():
            other = next((e for e in EDITION_NAMES if e != edition), None)
            for path in notebooks:
                pages.append(render_notebook(path, staging, edition,
                                             other if path.stem in names.get(other, []) else None))
        (staging / "index.html").write_text(index_html(names), encoding="utf-8")
        if out.exists():
            old = out.with_name(f".{out.name}-old")
            shutil.rmtree(old, ignore_errors=True)
            out.replace(old)
            staging.replace(out)
            shutil.rmtree(old)
        else:
            staging.replace(out)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return [out / p.relative_to(staging) for p in pages] + [out / "index.html"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    build = runner.REPO_ROOT / "build"
    parser.add_argument("--student", type=Path, default=build / "student",
                        help="executed student edition (default: build/student, from `make student`)")
    parser.add_argument("--instructor", type=Path, default=build / "instructor",
                        help="executed instructor edition (default: build/instructor, from `make instructor`)")
    parser.add_argument("--out", type=Path, default=build / "site", help="the site's folder")
    parser.add_argument("--check", action="store_true",
                        help="only check that MathJax is available (make site runs this before the notebooks)")
    args = parser.parse_args(argv)
    try:
        if args.check:
            print(f"MathJax 2: {find_mathjax()}")
            return 0
        written = build_site({"student": args.student, "instructor": args.instructor}, args.out)
    except FileNotFoundError as err:
        print(f"make site: {err}", file=sys.stderr)
        return 2
    size = sum(f.stat().st_size for f in args.out.rglob("*") if f.is_file())
    counts = {e: sum(p.parent.name == e for p in written) for e in EDITION_NAMES}
    print(f"site: {counts['student']} student + {counts['instructor']} instructor pages + index.html in {args.out} "
          f"({size / 1e6:.1f} MB); open {args.out / 'index.html'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
