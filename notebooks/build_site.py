"""``make site``: the executed instructor edition as an offline static website.

How it works
------------
Each executed notebook in ``--notebooks`` (``build/instructor/`` after ``make instructor``) becomes
``<out>/NN_name.html`` through nbconvert's ``HTMLExporter`` with the kit's template ``site_template/glm_site``, a
child of JupyterLab's ``lab`` template that drops every script the lab template loads from a CDN (require.js, the
widget manager, mermaid) and points MathJax at the site's own copy. MathJax is not committed: it is copied at build
time from a local install (Debian/Ubuntu ``libjs-mathjax``: ``/usr/share/javascript/mathjax``, or the folder holding
``MathJax.js`` named by ``GLM_KIT_MATHJAX``), only the parts the ``TeX-AMS_CHTML`` configuration needs. With none
found the build stops and says what to install. Outputs of cells tagged ``widget`` are replaced by a note to run the
notebook (a live widget needs a kernel; the figure drawn above it shows its default). ``index.html`` lists the
course outline (``outline.py``) and links every notebook rendered. Everything is written into a temporary folder
beside ``<out>`` and moved into place at the end, so a failed build never leaves a half site.
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
MATHJAX_CANDIDATES = (Path("/usr/share/javascript/mathjax"), Path("/usr/share/mathjax"))
MATHJAX_PARTS = ("MathJax.js", "config/TeX-AMS_CHTML.js", "extensions", "jax/input/TeX", "jax/output/CommonHTML",
                 "jax/element", "fonts/HTML-CSS/TeX/woff", "localization/en")
MATHJAX_URL = "mathjax/MathJax.js?config=TeX-AMS_CHTML"
WIDGET_NOTE = ("*Interactive widget: open this notebook in JupyterLab (`make lab`) to move its controls; the figure "
               "above shows its default values.*")


def find_mathjax() -> Path:
    """The local MathJax 2 folder (holding ``MathJax.js``); FileNotFoundError saying what to install if none."""
    named = os.environ.get("GLM_KIT_MATHJAX")
    candidates = [Path(named)] if named else list(MATHJAX_CANDIDATES)
    for folder in candidates:
        if (folder / "MathJax.js").is_file() and (folder / "config" / "TeX-AMS_CHTML.js").is_file():
            return folder
    where = f"GLM_KIT_MATHJAX={named}" if named else ", ".join(map(str, MATHJAX_CANDIDATES))
    raise FileNotFoundError(
        f"make site needs a local MathJax 2 (the site loads nothing from the network) and found none in {where}. "
        "Install it with `apt install libjs-mathjax` (Debian/Ubuntu), or set GLM_KIT_MATHJAX to a folder holding "
        "MathJax.js and config/TeX-AMS_CHTML.js.")


def copy_mathjax(source: Path, site: Path) -> None:
    for part in MATHJAX_PARTS:
        src, dst = source / part, site / "mathjax" / part
        if src.is_dir():
            shutil.copytree(src, dst)
        elif src.is_file():
            dst.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dst)


def without_widget_outputs(nb):
    """Outputs of cells tagged ``widget`` become one note; saved widget state is dropped."""
    import nbformat

    for cell in nb.cells:
        if cell.cell_type == "code" and "widget" in cell.metadata.get("tags", []):
            cell.outputs = [nbformat.v4.new_output("display_data", data={"text/markdown": WIDGET_NOTE,
                                                                         "text/plain": WIDGET_NOTE})]
    nb.metadata.pop("widgets", None)
    return nb


def render_notebook(path: Path, site: Path) -> Path:
    import nbformat
    from nbconvert import HTMLExporter

    exporter = HTMLExporter(template_name="glm_site", extra_template_basedirs=[str(TEMPLATE_DIR)],
                            mathjax_url=MATHJAX_URL, theme="light")
    body, _ = exporter.from_notebook_node(without_widget_outputs(nbformat.read(path, as_version=4)))
    target = site / f"{path.stem}.html"
    target.write_text(body, encoding="utf-8")
    return target


def index_html(rendered: list[str]) -> str:
    """The course outline as a page: rendered notebooks linked, the others marked planned or not built."""
    rows = []
    for row in outline.rows():
        title = html.escape(f"{row['number']} · {row['title']}")
        if row["name"] in rendered:
            cell = f'<a href="{row["name"]}.html">{title}</a>'
        else:
            cell = f"{title} <em>({'planned' if row['status'] == 'planned' else 'not built'})</em>"
        rows.append("<tr>" + "".join(f"<td>{c}</td>" for c in [
            cell, html.escape(row["goals"]), html.escape(row["prerequisites"]), html.escape(row["paper"]),
            html.escape(row["files"]), html.escape(row["budget"]), html.escape(row["fast_time"])]) + "</tr>")
    glossary = "".join(f"<dt>{html.escape(term)}</dt><dd>{html.escape(text)}</dd>" for term, text in outline.GLOSSARY)
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>GLM-130B reproduction kit: course</title>
<style>body{{font-family:sans-serif;max-width:75em;margin:2em auto;padding:0 1em;line-height:1.45}}
table{{border-collapse:collapse}}td,th{{border:1px solid #ccc;padding:4px 8px;vertical-align:top}}
th{{background:#f3f3f3}}dt{{font-weight:bold;margin-top:.6em}}</style></head><body>
<h1>GLM-130B reproduction kit: the course</h1>
<p>The notebooks of the kit, executed (instructor edition: exercises solved, every check passing). Each builds an idea
of GLM-130B at small scale and checks it against the package. FAST times are those the last <code>make tour</code>
measured on the machine that built this site.</p>
<table><tr><th>notebook</th><th>learning goals</th><th>needs</th><th>paper</th><th>package files</th>
<th>budget</th><th>FAST time</th></tr>
{chr(10).join(rows)}
</table>
<h2>Glossary</h2><dl>{glossary}</dl>
</body></html>
"""


def build_site(notebooks: Path, out: Path) -> list[Path]:
    """Render every executed notebook in ``notebooks`` and the index into ``out`` (replaced only on success)."""
    paths = sorted(Path(notebooks).glob(runner.NOTEBOOK_GLOB))
    if not paths:
        raise FileNotFoundError(f"notebooks: no executed NN_name.ipynb in {notebooks}; run `make instructor` first")
    mathjax = find_mathjax()
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}-", dir=out.parent))
    staging.chmod(0o755)  # mkdtemp makes it private; a site is for reading
    try:
        copy_mathjax(mathjax, staging)
        pages = [render_notebook(path, staging) for path in paths]
        (staging / "index.html").write_text(index_html([p.stem for p in paths]), encoding="utf-8")
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
    return [out / p.name for p in pages] + [out / "index.html"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--notebooks", type=Path, default=runner.REPO_ROOT / "build" / "instructor",
                        help="folder of executed notebooks (default: build/instructor, from `make instructor`)")
    parser.add_argument("--out", type=Path, default=runner.REPO_ROOT / "build" / "site", help="the site's folder")
    parser.add_argument("--check", action="store_true",
                        help="only check that a local MathJax exists (make site runs this before the notebooks)")
    args = parser.parse_args(argv)
    try:
        if args.check:
            print(f"local MathJax: {find_mathjax()}")
            return 0
        written = build_site(args.notebooks, args.out)
    except FileNotFoundError as err:
        print(f"make site: {err}", file=sys.stderr)
        return 2
    size = sum(f.stat().st_size for f in args.out.rglob("*") if f.is_file())
    print(f"site: {len(written) - 1} notebooks + index.html in {args.out} ({size / 1e6:.1f} MB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
