"""notebooks/build_site.py (`make site`): offline HTML (no network URL in any script or stylesheet), widget outputs
replaced by a note, an index linking every notebook. The parts that need a local MathJax skip without one."""

import re

import nbformat
import pytest

import build_site
import outline

NETWORK = re.compile(r"<(?:script|link|img|iframe)\b[^>]*\b(?:src|href)\s*=\s*[\"']?(?:https?:)?//", re.I)


def _executed_notebook(path, widget_text="WIDGET-VIEW"):
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_markdown_cell("# t\n\nBudget: 5 s\n\n$$M_{ij} = [j < P] \\lor [j \\le i]$$"),
                nbformat.v4.new_code_cell("print('hello')"), nbformat.v4.new_code_cell("interact(f)")]
    nb.cells[1].outputs = [nbformat.v4.new_output("stream", name="stdout", text="hello\n")]
    nb.cells[2].metadata["tags"] = ["widget"]
    nb.cells[2].outputs = [nbformat.v4.new_output("display_data", data={"text/plain": widget_text})]
    nb.metadata["widgets"] = {"application/vnd.jupyter.widget-state+json": {"state": {}}}
    nbformat.write(nb, path)
    return path


def _has_mathjax():
    try:
        build_site.find_mathjax()
        return True
    except FileNotFoundError:
        return False


def test_widget_outputs_become_a_note(tmp_path):
    nb = build_site.without_widget_outputs(nbformat.read(_executed_notebook(tmp_path / "00_tour.ipynb"), 4))
    assert nb.cells[2].outputs[0]["data"]["text/markdown"] == build_site.WIDGET_NOTE
    assert nb.cells[1].outputs[0]["text"] == "hello\n", "other outputs stay"
    assert "widgets" not in nb.metadata


def test_index_links_what_was_rendered_and_marks_the_rest():
    page = build_site.index_html(["00_tour", "03_glm_transformer"])
    assert 'href="00_tour.html"' in page and 'href="03_glm_transformer.html"' in page
    assert page.count('href="') == 2
    for lesson in outline.COURSE:
        assert lesson.title.replace("'", "&#x27;") in page
    assert "DeepNorm" in page and not NETWORK.search(page)


def test_missing_mathjax_is_a_clear_error_and_keeps_the_old_site(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("GLM_KIT_MATHJAX", str(tmp_path / "nowhere"))
    with pytest.raises(FileNotFoundError, match="apt install libjs-mathjax"):
        build_site.find_mathjax()
    notebooks, site = tmp_path / "nbs", tmp_path / "site"
    notebooks.mkdir()
    site.mkdir()
    (site / "index.html").write_text("the old site")
    _executed_notebook(notebooks / "00_tour.ipynb")
    assert build_site.main(["--notebooks", str(notebooks), "--out", str(site)]) == 2
    assert "GLM_KIT_MATHJAX" in capsys.readouterr().err
    assert build_site.main(["--check"]) == 2, "make site checks this before it runs the notebooks"
    assert "apt install libjs-mathjax" in capsys.readouterr().err
    assert (site / "index.html").read_text() == "the old site"
    assert build_site.main(["--notebooks", str(tmp_path / "empty"), "--out", str(site)]) == 2
    assert "notebooks: no executed NN_name.ipynb" in capsys.readouterr().err


@pytest.mark.skipif(not _has_mathjax(), reason="no local MathJax (apt install libjs-mathjax); the site build needs one")
def test_site_is_offline_and_links_every_notebook(tmp_path):
    notebooks, site = tmp_path / "instructor", tmp_path / "site"
    notebooks.mkdir()
    for name in ["00_tour", "03_glm_transformer"]:
        _executed_notebook(notebooks / f"{name}.ipynb")
    written = build_site.build_site(notebooks, site)
    assert sorted(p.name for p in written) == ["00_tour.html", "03_glm_transformer.html", "index.html"]
    assert (site / "mathjax" / "MathJax.js").is_file()
    assert site.stat().st_mode & 0o777 == 0o755, "the site folder is readable by a web server"
    for page in written:
        text = page.read_text(encoding="utf-8")
        assert not NETWORK.search(text), f"{page.name} loads something from the network"
    notebook_page = (site / "00_tour.html").read_text(encoding="utf-8")
    assert 'src="mathjax/MathJax.js?config=TeX-AMS_CHTML"' in notebook_page
    assert "Interactive widget" in notebook_page and "WIDGET-VIEW" not in notebook_page
    assert 'href="index.html"' in notebook_page and "M_{ij}" in notebook_page
    index = (site / "index.html").read_text(encoding="utf-8")
    assert 'href="00_tour.html"' in index and 'href="03_glm_transformer.html"' in index
