"""environment.yml (conda) and pyproject.toml (pip) must describe the same environment."""

import re
import tomllib

import yaml

from conftest import REPO_ROOT

CONDA_TO_PIP = {"pytorch": "torch"}


def _name(requirement: str) -> str:
    return re.split(r"[<>=!~\[ ]", requirement.strip(), maxsplit=1)[0].lower()


def test_environment_yml_and_pyproject_name_the_same_packages():
    project = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]
    pip_names = {_name(r) for r in project["dependencies"] + project["optional-dependencies"]["dev"]}
    env = yaml.safe_load((REPO_ROOT / "environment.yml").read_text())
    conda_names = {CONDA_TO_PIP.get(_name(d), _name(d)) for d in env["dependencies"] if isinstance(d, str)}
    conda_names -= {"python", "pip"}
    assert conda_names == pip_names, f"only in environment.yml: {conda_names - pip_names}; " \
                                     f"only in pyproject.toml: {pip_names - conda_names}"


def test_torch_is_pinned_to_the_same_version_in_both():
    project = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]
    env = yaml.safe_load((REPO_ROOT / "environment.yml").read_text())
    assert "torch==2.13.0" in project["dependencies"]
    assert "pytorch=2.13.0" in env["dependencies"]
    assert "torch==2.13.0" in (REPO_ROOT / "Makefile").read_text()
