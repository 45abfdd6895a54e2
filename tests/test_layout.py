"""The package's layout holds: every module imports on its own with warnings as errors, the engine stays
light, every exception derives from ``catapult_nb.Error`` and keeps its builtin base, and the old module
paths still work, each with a warning that names the new one (docs/layout.md lists them).
"""

from __future__ import annotations

import importlib
import inspect
import os
import subprocess
import sys
import textwrap
import warnings
from pathlib import Path

import pytest
import tomllib

import catapult_nb
from catapult_nb._moved import MOVED

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "catapult_nb"


def package_modules() -> list[str]:
    """Every module of the package, found on disk (nothing imported to find them)."""
    names = []
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = list(path.relative_to(ROOT).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        if parts[-1] == "__main__":
            continue  # running it is the command line, not an import
        names.append(".".join(parts))
    return names


# Each module is imported in a child forked from a process that has imported the heavy third-party
# libraries (under the same warning filter) and nothing of catapult_nb: every child meets the package
# for the first time, as a fresh interpreter would, at a fraction of an interpreter's start-up each.
_IMPORT_EACH = textwrap.dedent("""
    import os, sys, traceback, warnings
    warnings.simplefilter("error")
    import aiohttp.web, ijson, ipywidgets, matplotlib.pyplot, numpy, pandas, pyarrow, requests
    import sqlite3, tqdm.auto

    def child(name):
        try:
            __import__(name)
        except BaseException:
            print(f"--- import {name} failed:", flush=True)
            traceback.print_exc(file=sys.stdout)
            sys.stdout.flush()
            os._exit(1)
        os._exit(0)

    waiting, running, failed = sys.argv[1:], 0, 0
    while waiting or running:
        if waiting and running < (os.cpu_count() or 1):
            pid = os.fork()
            if pid == 0:
                child(waiting[0])
            waiting, running = waiting[1:], running + 1
            continue
        _, status = os.wait()
        running, failed = running - 1, failed + (status != 0)
    sys.exit(1 if failed else 0)
""")


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_every_module_imports_on_its_own_with_warnings_as_errors() -> None:
    modules = package_modules()
    assert {"catapult_nb.store.store", "catapult_nb.session.session", "catapult_nb.errors"} <= set(modules)
    done = subprocess.run(
        [sys.executable, "-W", "error", "-c", _IMPORT_EACH, *modules],
        capture_output=True, text=True, cwd=ROOT, timeout=240, env={**os.environ, "MPLBACKEND": "Agg"},
    )
    assert done.returncode == 0, done.stdout[-6000:] + done.stderr[-2000:]


def test_every_top_level_module_has_a_layer() -> None:
    """A module the layers contract does not name is not checked: a new one must be given its place."""
    contracts = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]["contracts"]
    [layers] = [c["layers"] for c in contracts if c["type"] == "layers"]
    named = {part.strip() for layer in layers for part in layer.replace(":", "|").split("|")}
    top = {f"catapult_nb.{path.stem if path.is_file() else path.name}" for path in PACKAGE.iterdir()
           if (path.suffix == ".py" and path.stem != "__init__") or (path / "__init__.py").exists()}
    assert top - named == set(), "add these to [tool.importlinter] layers in pyproject.toml"


def test_no_module_is_over_700_lines() -> None:
    lengths = {str(path.relative_to(ROOT)): len(path.read_text(encoding="utf-8").splitlines())
               for path in PACKAGE.rglob("*.py")}
    assert {name: n for name, n in lengths.items() if n > 700} == {}


def test_the_engine_loads_no_web_server_no_dataframes() -> None:
    # given a fresh interpreter, when only the engine is imported
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent("""
            import sys
            before = set(sys.modules)
            import catapult_nb.engine
            loaded = set(sys.modules) - before
            print(len(loaded))
            print(" ".join(sorted(m for m in loaded if m.split(".")[0] in
                                  ("aiohttp", "pandas", "numpy", "requests", "IPython", "catapult_nb"))))
        """)],
        capture_output=True, text=True, cwd=ROOT, timeout=60, check=True,
    )
    count, names = done.stdout.splitlines()
    # then the package's part is the options and the engine, and nothing heavy comes along
    assert names.split() == [
        "catapult_nb", "catapult_nb._moved", "catapult_nb.engine", "catapult_nb.errors",
        "catapult_nb.options",
    ]
    assert int(count) < 100, f"import catapult_nb.engine loaded {count} modules"


def _exception_classes() -> list[type[BaseException]]:
    found: dict[str, type[BaseException]] = {}
    for name in package_modules():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            module = importlib.import_module(name)
        for _, value in inspect.getmembers(module, inspect.isclass):
            if issubclass(value, BaseException) and value.__module__.startswith("catapult_nb"):
                found[f"{value.__module__}.{value.__qualname__}"] = value
    return [found[key] for key in sorted(found)]


#: The builtin base each exception had before catapult_nb.Error, which it keeps.
BUILTIN_BASES = {
    "CatapultError": Exception, "CredentialsError": ValueError, "CallStateError": Exception,
    "DuplicateGatherError": Exception, "FlowError": ValueError, "OptionError": ValueError,
    "AudioError": ValueError, "EngineMissing": RuntimeError, "CatapultWaitError": AssertionError,
    "Rejected": Exception, "SessionError": RuntimeError, "RecordingError": ValueError, "ApiError": Exception,
    "PhoneError": RuntimeError, "ImportFormatError": ValueError, "StoreClosedError": RuntimeError,
    "WaitCancelled": RuntimeError, "TunnelError": RuntimeError, "ParquetFolderError": ValueError,
}


def test_every_exception_of_the_package_derives_from_error_and_keeps_its_builtin_base() -> None:
    classes = _exception_classes()
    assert len(classes) >= len(BUILTIN_BASES)
    not_rooted = [c.__qualname__ for c in classes if c is not catapult_nb.Error and not
                  issubclass(c, catapult_nb.Error)]
    assert not_rooted == [], f"these exceptions do not derive from catapult_nb.Error: {not_rooted}"
    for cls in classes:
        base = BUILTIN_BASES.get(cls.__name__)
        if base is not None:
            assert issubclass(cls, base), f"{cls.__qualname__} lost its builtin base {base.__name__}"
    # a ValueError of ours is still caught as one
    with pytest.raises(ValueError):
        catapult_nb.GatherOptions(max_digits=99)


@pytest.mark.parametrize("old", sorted(MOVED))
def test_an_old_module_path_gives_the_new_module_and_says_where_it_is(old: str) -> None:
    new = MOVED[old]
    sys.modules.pop(old, None)
    with pytest.warns(DeprecationWarning, match=rf"{old} has moved to {new}\b") as caught:
        module = importlib.import_module(old)
    assert module is importlib.import_module(new)
    assert module.__spec__ is not None and module.__spec__.name == new  # its own spec, not the alias's
    assert caught[0].filename == __file__  # the warning points at the import, not at importlib


def test_the_old_spellings_users_write_still_work() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        from catapult_nb.events import EventStore
        from catapult_nb.flows.campaign import run_campaign as flow_run_campaign
    from catapult_nb.flows import run_campaign
    from catapult_nb.receiver import CallbackReceiver
    from catapult_nb.session import Session

    assert EventStore is catapult_nb.EventStore
    assert run_campaign is flow_run_campaign
    assert CallbackReceiver is catapult_nb.CallbackReceiver and Session is catapult_nb.Session


def test_our_own_code_tests_and_notebooks_use_the_new_paths() -> None:
    olds = sorted(MOVED, key=len, reverse=True)
    offenders = []
    for folder in ("catapult_nb", "tests", "benchmarks", "examples", "notebooks"):
        for path in sorted((ROOT / folder).rglob("*")):
            if path.suffix not in (".py", ".ipynb") or path == Path(__file__) or path.name == "_moved.py":
                continue
            text = path.read_text(encoding="utf-8")
            offenders += [f"{path.relative_to(ROOT)}: {old}" for old in olds
                          if any(text[i + len(old):i + len(old) + 1] not in ("_",) and
                                 not text[i + len(old):i + len(old) + 1].isalnum()
                                 for i in _find_all(text, old))]
    assert offenders == []


def _find_all(text: str, needle: str) -> list[int]:
    found, start = [], text.find(needle)
    while start != -1:
        found.append(start)
        start = text.find(needle, start + 1)
    return found
