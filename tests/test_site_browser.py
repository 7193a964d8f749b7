"""The site in a real browser: headless Chromium opens the built index and two notebook pages (one per edition),
MathJax typesets every formula from the site's own copy (no network), and screenshots show the pages and a figure.

The site is built from the real sources of notebooks 02 and 03 (both editions, so every equation of those notebooks
goes through MathJax) without executing them; their first code cell carries one figure drawn by the package
(`glm_mini.architecture.draw_qkv_layout`), so the screenshot can be checked for the figure's colours. Skipped, with
the reason, where no Chromium is installed (`.ci/run` installs Debian's `chromium` when it can)."""

import base64
import copy
import io
import shutil
import subprocess
from pathlib import Path

import jupytext
import nbformat
import numpy as np
import pytest

import build_site
import editions
import runner

BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
BROWSER = next((shutil.which(name) for name in BROWSERS if shutil.which(name)), None)
pytestmark = [pytest.mark.slow, pytest.mark.skipif(
    BROWSER is None, reason=f"no headless browser installed (looked for {', '.join(BROWSERS)}); "
                            "`apt-get install -y chromium` enables this test")]
PAGES = {"student": "03_glm_transformer", "instructor": "02_blank_infilling_objective"}
ORANGE = np.array([255, 127, 14])  # tab:orange, the k rows of the QKV figure


def _browser(*args, timeout=180):
    command = [BROWSER, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--mute-audio",
               "--virtual-time-budget=20000", *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from glm_mini import GLM, PRESETS
    from glm_mini.architecture import draw_qkv_layout

    root = tmp_path_factory.mktemp("site")
    ax = draw_qkv_layout(GLM(PRESETS["nano"]).transformer.layers["1"].attention)
    buffer = io.BytesIO()
    ax.figure.savefig(buffer, format="png", dpi=80)
    plt.close(ax.figure)
    figure = {"image/png": base64.b64encode(buffer.getvalue()).decode(), "text/plain": "<Figure>"}
    folders = {}
    for edition in build_site.EDITION_NAMES:
        folders[edition] = root / edition
        folders[edition].mkdir()
        for name in set(PAGES.values()):
            source = runner.NOTEBOOK_DIR / f"{name}.py"
            nb = nbformat.from_dict(editions.make_edition(copy.deepcopy(jupytext.read(source)), edition,
                                                          editions.notebook_number(source)))
            first_code = next(c for c in nb.cells if c.cell_type == "code")
            first_code.outputs = [nbformat.v4.new_output("display_data", data=figure)]
            nbformat.write(nb, folders[edition] / f"{name}.ipynb")
    build_site.build_site(folders, root / "site")
    return root / "site"


def _screenshot(path: Path, out: Path, height: int) -> np.ndarray:
    import matplotlib.image

    result = _browser(f"--screenshot={out}", f"--window-size=1200,{height}", path.as_uri())
    assert out.is_file(), f"no screenshot of {path.name}: {result.stderr[-800:]}"
    return (matplotlib.image.imread(out)[..., :3] * 255).round().astype(int)  # [height, width, rgb]


def _not_blank(pixels: np.ndarray, where: str) -> None:
    background = np.median(pixels.reshape(-1, 3), axis=0)
    drawn = (np.abs(pixels - background).sum(-1) > 30).mean()
    assert drawn > 0.02, f"{where}: only {drawn:.1%} of the screenshot differs from the background"
    colours = len(np.unique(pixels.reshape(-1, 3) // 8, axis=0))
    assert colours > 20, f"{where}: only {colours} colours in the screenshot"


def test_index_renders(site, tmp_path):
    pixels = _screenshot(site / "index.html", tmp_path / "index.png", 1400)
    _not_blank(pixels, "index.html")


@pytest.mark.parametrize("edition", sorted(PAGES))
def test_notebook_page_typesets_every_formula_and_shows_the_figure(site, tmp_path, edition):
    page = site / edition / f"{PAGES[edition]}.html"
    dom = _browser("--dump-dom", page.as_uri()).stdout
    formulas = dom.count('type="math/tex')
    typeset = dom.count('-Frame" ')
    assert formulas >= 10, f"{page.name}: MathJax found only {formulas} formulas (did it load?)"
    assert typeset == formulas, f"{page.name}: {typeset} of {formulas} formulas typeset"
    for error in ('class="merror"', 'class="noError"', "Math Processing Error"):
        assert error not in dom, f"{page.name}: MathJax reports an error ({error})"
    other = "instructor" if edition == "student" else "student"
    assert f'href="../{other}/{PAGES[edition]}.html"' in dom, "the switch to the other edition"
    pixels = _screenshot(page, tmp_path / f"{edition}.png", 3000)
    _not_blank(pixels, page.name)
    orange = (np.abs(pixels - ORANGE).sum(-1) < 40).sum()
    assert orange > 500, f"{page.name}: the figure is not in the screenshot ({orange} tab:orange pixels)"
