"""One environment, described three ways that must agree: pyproject.toml (names and ranges), constraints.txt (exact
versions, generated from the environment these tests pass in) and the two installers that use it, the Makefile and
environment.yml. Also: every runtime dependency is imported by the kit, and `pip check` finds nothing broken."""

import importlib.util
import os
import re
import subprocess
import sys
import tomllib

import yaml
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

from conftest import REPO_ROOT

spec = importlib.util.spec_from_file_location("ci_constraints", REPO_ROOT / ".ci" / "constraints.py")
constraints = importlib.util.module_from_spec(spec)
spec.loader.exec_module(constraints)

CPU_INDEX = "https://download.pytorch.org/whl/cpu"
IMPORT_NAMES = {"pyyaml": "yaml"}  # distribution -> module, where they differ
APPLICATIONS = {"jupyterlab": "jupyter lab"}  # run as a command (by the Makefile), never imported


def _project():
    return tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]


def _requirements(extra_dev=True):
    project = _project()
    return [Requirement(r) for r in project["dependencies"] + (project["optional-dependencies"]["dev"]
                                                                if extra_dev else [])]


def _make_dry_run(*args):
    """The commands ``make -n`` would run (nothing is executed, nothing downloaded)."""
    # the Makefile's own defaults: nothing inherited from a calling make (.ci/run may set TORCH_INDEX) or the shell
    env = {k: v for k, v in os.environ.items() if k not in ("TORCH_INDEX", "HOST_OS", "MAKEFLAGS", "MFLAGS", "MAKELEVEL")}
    done = subprocess.run(["make", "-n", *args], cwd=REPO_ROOT, capture_output=True, text=True, check=True, env=env)
    return done.stdout


def test_constraints_pin_every_package_pyproject_names_within_its_range():
    pins = constraints.read_pins()
    problems = []
    for req in _requirements():
        pin = pins.get(canonicalize_name(req.name))
        if pin is None:
            problems.append(f"{req.name}: named in pyproject.toml, not pinned in constraints.txt")
        elif not req.specifier.contains(Version(pin), prereleases=True):
            problems.append(f"{req.name}: constraints.txt pins {pin}, outside pyproject.toml's {req.specifier}")
    assert not problems, problems


def test_the_environment_the_tests_run_in_is_the_one_constraints_txt_pins():
    problems = constraints.mismatches(constraints.read_pins(), constraints.installed())
    assert not problems, ("constraints.txt is stale or this environment drifted; regenerate it with `make "
                          f"constraints` where the tests pass: {problems}")


def test_constraints_drop_local_labels_so_one_pin_admits_cpu_cuda_and_macos_builds():
    text = constraints.render({"torch": ("torch", "2.13.0+cpu"), "numpy": ("numpy", "2.4.6")})
    assert "torch==2.13.0\n" in text and "+cpu" not in text
    assert text.index("numpy==") < text.index("torch==")  # sorted by name
    for build in ("2.13.0+cpu", "2.13.0+cu128", "2.13.0"):
        assert Requirement("torch==2.13.0").specifier.contains(build)
    assert constraints.mismatches({"torch": "2.13.0"}, {"torch": ("torch", "2.13.0+cpu")}) == []
    assert constraints.mismatches({"torch": "2.13.0"}, {"torch": ("torch", "2.12.0")}) == \
        ["torch: installed 2.12.0, constraints.txt pins 2.13.0"]


def test_torch_is_pinned_to_the_same_version_everywhere():
    assert "torch==2.13.0" in _project()["dependencies"]
    assert constraints.read_pins()["torch"] == "2.13.0"


def test_makefile_installs_with_the_constraints_and_the_cpu_torch_index_on_linux(tmp_path):
    venv = f"VENV={tmp_path}/.venv"  # a venv that does not exist, so make plans the whole install
    linux = _make_dry_run("venv", venv, "HOST_OS=Linux")
    install = [line for line in linux.splitlines() if "-e \".[dev]\"" in line]
    assert len(install) == 1 and "-c constraints.txt" in install[0] and f"--extra-index-url {CPU_INDEX}" in install[0]
    mac = _make_dry_run("venv", venv, "HOST_OS=Darwin")
    assert "-c constraints.txt" in mac and "--extra-index-url" not in mac, "PyPI's macOS wheel is the CPU build"
    cuda = _make_dry_run("venv", venv, "HOST_OS=Linux", "TORCH_INDEX=https://download.pytorch.org/whl/cu128")
    assert "--extra-index-url https://download.pytorch.org/whl/cu128" in cuda and CPU_INDEX not in cuda
    assert "pip install --quiet torch" not in linux, "torch comes through the constraints, never unpinned"


def test_environment_yml_installs_the_same_pins_as_the_makefile():
    env = yaml.safe_load((REPO_ROOT / "environment.yml").read_text())
    conda = [d for d in env["dependencies"] if isinstance(d, str)]
    pip = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
    assert env["channels"] == ["conda-forge"]
    assert sorted(conda) == ["pip", "python=3.11"], "everything but Python and pip comes from pip, pinned"
    minimum = re.fullmatch(r">=(\d+\.\d+)", _project()["requires-python"]).group(1)
    assert f"python={minimum}" in conda
    assert "-c constraints.txt" in pip and "-e .[dev]" in pip
    assert f"--extra-index-url {CPU_INDEX}" in pip
    assert not any("pytorch-cuda" in line for line in pip + conda)


def test_every_runtime_dependency_is_imported_by_the_kit():
    tracked = subprocess.run(["git", "ls-files", "glm_mini", "scale_up", "notebooks"], cwd=REPO_ROOT,
                             capture_output=True, text=True, check=True).stdout.split()
    source = "\n".join((REPO_ROOT / name).read_text(encoding="utf-8") for name in tracked
                       if name.endswith(".py") and (REPO_ROOT / name).is_file())
    makefile = (REPO_ROOT / "Makefile").read_text()
    unused = []
    for req in _requirements(extra_dev=False):
        name = canonicalize_name(req.name)
        if name in APPLICATIONS:
            if APPLICATIONS[name] not in makefile:
                unused.append(f"{req.name} (expected the Makefile to run `{APPLICATIONS[name]}`)")
            continue
        module = IMPORT_NAMES.get(name, name.replace("-", "_"))
        if not re.search(rf"^\s*(import|from)\s+{module}\b", source, re.M):
            unused.append(f"{req.name} (no `import {module}` in glm_mini/, scale_up/ or notebooks/)")
    assert not unused, f"runtime dependencies the kit never uses: {unused}"


def test_pip_check_finds_no_broken_requirement():
    done = subprocess.run([sys.executable, "-m", "pip", "check"], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr


def test_make_lab_opens_at_the_repository_root(tmp_path):
    command = _make_dry_run("lab", f"VENV={tmp_path}/.venv", "-W", "pyproject.toml").splitlines()[-1]
    assert f'--ServerApp.root_dir="{REPO_ROOT}"' in command and command.endswith("notebooks/00_tour.ipynb")


def test_license_and_citation_agree_with_pyproject():
    project = _project()
    license_text = (REPO_ROOT / "LICENSE").read_text()
    assert project["license"] == "Apache-2.0"
    assert "Apache License" in license_text and "Version 2.0, January 2004" in license_text
    assert "END OF TERMS AND CONDITIONS" in license_text, "the full license text, not a pointer to it"
    cff = yaml.safe_load((REPO_ROOT / "CITATION.cff").read_text())
    assert cff["cff-version"] == "1.2.0" and cff["type"] == "software"
    assert cff["version"] == project["version"] and cff["license"] == project["license"]
    paper = cff["preferred-citation"]
    assert paper["title"] == "GLM-130B: An Open Bilingual Pre-trained Model"
    assert paper["authors"][0] == {"family-names": "Zeng", "given-names": "Aohan"} and len(paper["authors"]) == 18
    assert {"type": "other", "value": "arXiv:2210.02414", "description": "arXiv preprint (2022)"} in \
        paper["identifiers"]
