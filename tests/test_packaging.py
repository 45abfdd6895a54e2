"""The package's metadata agrees with itself: pyproject.toml, environment.yml, py.typed, the console script.

The dependency rule checked here: the runtime dependencies in pyproject.toml (``[project].dependencies``,
the lean install, and the ``toolkit`` extra with the extras it names) are exactly the conda dependencies of
environment.yml, except

- ``python`` and ``pip`` (the environment itself),
- ``jupyterlab`` and ``flask`` (what a notebook user wants: pyproject has them in the ``notebooks`` extra),
- the ``pip:`` section installs this package, and the runtime dependencies conda-forge does not carry
  (``espeakng-loader``): those count on the environment.yml side.

Names are compared after PEP 503 normalisation (lower case, runs of ``-_.`` as ``-``), and the version
bounds must match too, so a bump in one file and not the other fails here.
"""

from __future__ import annotations

import re
from importlib import metadata, resources
from pathlib import Path

import pytest
import tomllib
import yaml

ROOT = Path(__file__).resolve().parents[1]
CONDA_ONLY = {"python", "pip", "jupyterlab", "flask"}
_REQUIREMENT = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)\s*(\[[^\]]*\])?\s*(.*?)\s*$")


def normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def split_requirement(text: str) -> tuple[str, str]:
    """``"python-dotenv >= 1.0"`` → ``("python-dotenv", ">=1.0")``; markers are not used in these files."""
    match = _REQUIREMENT.match(text)
    assert match, f"cannot read requirement {text!r}"
    return normalise(match.group(1)), re.sub(r"\s+", "", match.group(3))


@pytest.fixture(scope="module")
def pyproject() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


@pytest.fixture(scope="module")
def environment() -> dict:
    return yaml.safe_load((ROOT / "environment.yml").read_text())


def expanded(pyproject: dict, requirements: list[str]) -> list[str]:
    """``requirements`` with this package's own extras (``catapult_nb[tts]``) replaced by what they name."""
    out = []
    for requirement in requirements:
        own = re.fullmatch(r"catapult_nb\[(\w+)\]", requirement)
        extras = pyproject["project"]["optional-dependencies"]
        out += expanded(pyproject, extras[own.group(1)]) if own else [requirement]
    return out


def test_environment_yml_and_pyproject_name_the_same_runtime_dependencies(pyproject, environment):
    runtime = pyproject["project"]["dependencies"] + pyproject["project"]["optional-dependencies"]["toolkit"]
    python_side = dict(split_requirement(r) for r in expanded(pyproject, runtime))
    conda_entries = [d for d in environment["dependencies"] if isinstance(d, str)]
    pip_entries = [d["pip"] for d in environment["dependencies"] if isinstance(d, dict) and "pip" in d]
    conda_entries += [line for line in (pip_entries[0] if pip_entries else []) if not line.startswith("-")]
    conda_side = {
        name: spec for name, spec in map(split_requirement, conda_entries) if name not in CONDA_ONLY
    }
    only_pyproject = sorted(set(python_side) - set(conda_side))
    only_conda = sorted(set(conda_side) - set(python_side))
    assert not only_pyproject and not only_conda, (
        f"runtime dependencies differ: only in pyproject.toml {only_pyproject}, "
        f"only in environment.yml {only_conda}; add each to the other file (or to CONDA_ONLY here, "
        "if it is a conda-only convenience)"
    )
    different = {n: (python_side[n], conda_side[n]) for n in python_side if python_side[n] != conda_side[n]}
    assert not different, f"version bounds differ (pyproject, environment.yml): {different}"
    # the rule is not vacuous: the toolkit's core libraries are on both sides
    assert {"requests", "pandas", "ipywidgets", "pyngrok", "aiohttp"} <= set(python_side)


def test_the_conda_only_extras_are_pyproject_extras(pyproject):
    extras = pyproject["project"]["optional-dependencies"]
    names = {split_requirement(r)[0] for group in extras.values() for r in group}
    assert {"jupyterlab", "pyarrow"} <= names


def test_the_default_install_is_lean_and_the_extras_build_on_each_other(pyproject):
    lean = {split_requirement(r)[0] for r in pyproject["project"]["dependencies"]}
    # the simulator, the client and the plugin: none of the notebook stack
    assert lean == {"requests", "aiohttp", "mutagen", "defusedxml"}  # defusedxml: the v2 simulator's BXML
    extras = pyproject["project"]["optional-dependencies"]
    assert "catapult_nb[toolkit]" in extras["notebooks"] and "catapult_nb[tts]" in extras["toolkit"]
    assert any(r.startswith("catapult_nb[") and "notebooks" in r for r in extras["test"])
    assert extras["pytest"] == ["pytest>=8"]


def test_environment_yml_installs_the_package_itself_through_pip(environment):
    pip_sections = [d["pip"] for d in environment["dependencies"] if isinstance(d, dict) and "pip" in d]
    assert pip_sections, "environment.yml needs a `pip:` section that installs this package"
    assert any(line.replace(" ", "") in ("-e.", ".") for line in pip_sections[0])
    assert "conda-forge" in environment["channels"]


def test_py_typed_ships(pyproject):
    assert (ROOT / "catapult_nb" / "py.typed").is_file()
    assert "py.typed" in pyproject["tool"]["setuptools"]["package-data"]["catapult_nb"]
    assert resources.files("catapult_nb").joinpath("py.typed").is_file()


def test_the_console_script_is_declared(pyproject):
    assert pyproject["project"]["scripts"] == {"catapult-nb": "catapult_nb.cli:main"}
    # the installed distribution declares it too (only the declaration: the module may be in progress)
    scripts = metadata.entry_points(group="console_scripts").select(name="catapult-nb")
    assert [(ep.value, ep.dist.name if ep.dist else None) for ep in scripts] == [
        ("catapult_nb.cli:main", "catapult_nb")
    ]
    assert (ROOT / "catapult_nb" / "__main__.py").is_file()  # python -m catapult_nb


def test_the_installed_metadata_matches_pyproject(pyproject):
    dist = metadata.distribution("catapult_nb")
    assert dist.version == pyproject["project"]["version"]
    assert dist.metadata["Requires-Python"] == pyproject["project"]["requires-python"]
    installed = {
        split_requirement(r.split(";")[0])[0] for r in dist.requires or [] if "extra ==" not in r
    }
    declared = {split_requirement(r)[0] for r in pyproject["project"]["dependencies"]}
    assert installed == declared, "reinstall the package (`make test` does it when pyproject.toml changes)"
