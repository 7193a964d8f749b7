"""notebooks/build_site.py (`make site`): both editions in one offline site (no network URL in any script or
stylesheet), MathJax from the jupyter-server-mathjax package, widget outputs replaced by a note, progress bars not
frozen into the page, an index linking every page, each page linking its twin in the other edition."""

import html
import re

import nbformat
import pytest

import build_site
import outline

NETWORK = re.compile(r"<(?:script|link|img|iframe)\b[^>]*\b(?:src|href)\s*=\s*[\"']?(?:https?:)?//", re.I)
FROZEN_BAR = "  0%|          | 0/400 [00:00<?, ?step/s]"


def _executed_notebook(path, widget_text="WIDGET-VIEW", answer="ANSWER-CODE"):
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_markdown_cell("# t\n\nBudget: 5 s\n\n$$M_{ij} = [j < P] \\lor [j \\le i]$$"),
                nbformat.v4.new_code_cell(f"print('hello')  # {answer}"), nbformat.v4.new_code_cell("interact(f)"),
                nbformat.v4.new_code_cell("train(run)")]
    nb.cells[1].outputs = [nbformat.v4.new_output("stream", name="stdout", text="hello\n")]
    nb.cells[2].metadata["tags"] = ["widget"]
    nb.cells[2].outputs = [nbformat.v4.new_output("display_data", data={"text/plain": widget_text})]
    nb.cells[3].outputs = [  # what tqdm.auto leaves in an executed notebook: a widget view and a \r-redrawn stream
        nbformat.v4.new_output("display_data", data={"application/vnd.jupyter.widget-view+json": {
            "model_id": "abc", "version_major": 2, "version_minor": 0}, "text/plain": FROZEN_BAR}),
        nbformat.v4.new_output("stream", name="stderr", text=f"{FROZEN_BAR}\r 50%|#####     | 200/400\r"
                                                             "100%|##########| 400/400\n"),
        nbformat.v4.new_output("stream", name="stdout", text="400 steps, final loss 3.1\n")]
    nb.metadata["widgets"] = {"application/vnd.jupyter.widget-state+json": {"state": {}}}
    nbformat.write(nb, path)
    return path


def _editions(tmp_path, names=("00_tour", "03_glm_transformer")):
    folders = {"student": tmp_path / "student", "instructor": tmp_path / "instructor"}
    for edition, folder in folders.items():
        folder.mkdir()
        for name in names:
            _executed_notebook(folder / f"{name}.ipynb", answer="STUB" if edition == "student" else "ANSWER-CODE")
    return folders


def test_static_outputs_drop_widgets_and_progress_bars(tmp_path):
    nb = build_site.static_outputs(nbformat.read(_executed_notebook(tmp_path / "00_tour.ipynb"), 4))
    assert nb.cells[2].outputs[0]["data"]["text/markdown"] == build_site.WIDGET_NOTE
    assert nb.cells[1].outputs[0]["text"] == "hello\n", "other outputs stay"
    texts = [o.get("text", "") + str(o.get("data", "")) for o in nb.cells[3].outputs]
    assert not any(" 0/400" in t for t in texts), "no progress bar frozen at 0%"
    assert texts[0] == "100%|##########| 400/400\n" and texts[1] == "400 steps, final loss 3.1\n"
    assert "widgets" not in nb.metadata
    assert build_site.last_redraw("a\rb\rc\nd\r\ne") == "c\nd\ne"


def test_index_links_both_editions_of_what_was_rendered():
    page = build_site.index_html({"student": ["00_tour", "03_glm_transformer"], "instructor": ["00_tour"]})
    assert 'href="student/00_tour.html"' in page and 'href="instructor/00_tour.html"' in page
    assert 'href="student/03_glm_transformer.html"' in page and 'href="instructor/03_glm_transformer.html"' not in page
    assert page.count('href="') == 3
    for lesson in outline.COURSE:
        assert lesson.title.replace("'", "&#x27;") in page
        assert html.escape(lesson.objectives[0]) in page
    assert "study time" in page and "DeepNorm" in page and not NETWORK.search(page)


def test_missing_mathjax_is_a_clear_error_and_keeps_the_old_site(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("GLM_KIT_MATHJAX", str(tmp_path / "nowhere"))
    with pytest.raises(FileNotFoundError, match="jupyter-server-mathjax"):
        build_site.find_mathjax()
    folders, site = _editions(tmp_path), tmp_path / "site"
    site.mkdir()
    (site / "index.html").write_text("the old site")
    args = ["--student", str(folders["student"]), "--instructor", str(folders["instructor"]), "--out", str(site)]
    assert build_site.main(args) == 2
    assert "GLM_KIT_MATHJAX" in capsys.readouterr().err
    assert build_site.main(["--check"]) == 2, "make site checks this before it runs the notebooks"
    assert (site / "index.html").read_text() == "the old site"
    empty = ["--student", str(tmp_path / "none"), "--instructor", str(tmp_path / "none"), "--out", str(site)]
    monkeypatch.delenv("GLM_KIT_MATHJAX")
    assert build_site.main(empty) == 2
    assert "notebooks: no executed NN_name.ipynb" in capsys.readouterr().err
    with pytest.raises(ValueError, match="editions: expected some of"):
        build_site.build_site({"teacher": folders["student"]}, site)


def test_mathjax_comes_from_the_python_package():
    folder = build_site.find_mathjax()
    assert folder.parts[-2:] == ("jupyter_server_mathjax", "static")
    assert (folder / "config" / f"{build_site.MATHJAX_CONFIG}.js").is_file()


def test_site_holds_both_editions_offline_with_a_switch(tmp_path):
    folders, site = _editions(tmp_path), tmp_path / "site"
    written = build_site.build_site(folders, site)
    assert sorted(str(p.relative_to(site)) for p in written) == [
        "index.html", "instructor/00_tour.html", "instructor/03_glm_transformer.html", "student/00_tour.html",
        "student/03_glm_transformer.html"]
    assert (site / "mathjax" / "MathJax.js").is_file()
    assert (site / "mathjax" / "jax" / "output" / "HTML-CSS" / "fonts" / "STIX-Web").is_dir()
    assert site.stat().st_mode & 0o777 == 0o755, "the site folder is readable by a web server"
    for page in written:
        text = page.read_text(encoding="utf-8")
        assert not NETWORK.search(text), f"{page.name} loads something from the network"
    student = (site / "student" / "00_tour.html").read_text(encoding="utf-8")
    instructor = (site / "instructor" / "00_tour.html").read_text(encoding="utf-8")
    assert f'src="{build_site.MATHJAX_URL}"' in student
    assert "ANSWER-CODE" in instructor and "ANSWER-CODE" not in student
    assert 'href="../instructor/00_tour.html"' in student and 'href="../student/00_tour.html"' in instructor
    assert "Interactive widget" in student and "WIDGET-VIEW" not in student
    assert " 0/400" not in student and "400/400" in student
    assert 'href="../index.html"' in student and "M_{ij}" in student


def test_make_site_executes_and_publishes_both_editions():
    makefile = (build_site.runner.REPO_ROOT / "Makefile").read_text(encoding="utf-8")
    recipe = makefile.split("\nsite:", 1)[1].split("\n\n", 1)[0]
    assert "build_site.py --check" in recipe.split("runner.py")[0], "MathJax is checked before the long runs"
    assert "--edition student --out build/student" in recipe and "--edition instructor --out build/instructor" in recipe
    assert "--student build/student --instructor build/instructor --out build/site" in recipe
