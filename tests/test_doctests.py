"""The ``>>>`` examples in ffnlp's docstrings run as written and print what they show.

Every module of the package is imported and searched (so a new module's examples are run
without being listed here); each docstring with examples is one test, named after the
object it documents. An example that needs an optional package (matplotlib, numba,
mpi4py...) is skipped, with the reason, where that package is not installed.
"""

from __future__ import annotations

import doctest
import importlib
import pkgutil
import sys

import pytest

import ffnlp
from ffnlp.nn import init as nn_init

# The extras of pyproject.toml: ffnlp runs without them, so its examples must too.
OPTIONAL = ("matplotlib", "numba", "mpi4py", "threadpoolctl", "tqdm", "torch", "sklearn")
SKIPPED_MODULES = {"ffnlp.__main__"}  # importing it runs the command line


def _modules() -> list[str]:
    names = ["ffnlp"]
    for info in pkgutil.walk_packages(ffnlp.__path__, prefix="ffnlp."):
        if info.name not in SKIPPED_MODULES:
            names.append(info.name)
    return sorted(names)


def _import(name: str):
    """The module, or a skip when it needs an optional package that is absent."""
    try:
        return importlib.import_module(name)
    except ImportError as error:
        missing = (error.name or "").split(".")[0]
        if missing in OPTIONAL:
            pytest.skip(f"{name} needs {missing}, which is not installed")
        raise


def _doctests() -> list[tuple[str, str]]:
    found = []
    finder = doctest.DocTestFinder()
    for module_name in _modules():
        try:
            module = importlib.import_module(module_name)
        except ImportError:
            found.append((module_name, module_name))  # the test says why it is skipped
            continue
        # The finder looks only at objects defined in the module: a re-export is tested
        # where it lives.
        found.extend(
            (module_name, test.name) for test in finder.find(module, module_name) if test.examples
        )
    return sorted(set(found))


def _skip_if_an_optional_package_is_absent(test: doctest.DocTest) -> None:
    for package in OPTIONAL:
        if package in test.docstring:
            pytest.importorskip(package, reason=f"the example uses {package}")


DOCTESTS = _doctests()


def test_every_docstring_example_is_collected():
    # A floor, so a broken finder (which would make every test below vanish) fails loudly.
    assert len(DOCTESTS) >= 20
    assert sum(1 for _, name in DOCTESTS if name.startswith("ffnlp.autograd.tensor")) >= 3


@pytest.fixture
def same_random_state():
    """Examples may reseed ffnlp's default generator; later tests must not notice."""
    before = nn_init.default_generator().bit_generator.state
    generator = nn_init._default_generator
    yield
    nn_init._default_generator = generator
    generator.bit_generator.state = before


@pytest.mark.parametrize(("module_name", "name"), DOCTESTS, ids=[name for _, name in DOCTESTS])
def test_docstring_examples(module_name, name, same_random_state):
    module = _import(module_name)
    tests = [t for t in doctest.DocTestFinder().find(module, module_name) if t.name == name]
    assert len(tests) == 1, name
    test = tests[0]
    _skip_if_an_optional_package_is_absent(test)
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    output: list[str] = []
    runner.run(test, out=output.append)
    result = runner.summarize(verbose=False)
    assert result.failed == 0, "".join(output)
    assert result.attempted == len(test.examples)


def test_an_example_needing_an_absent_optional_package_is_skipped(monkeypatch):
    monkeypatch.setitem(sys.modules, "mpi4py", None)  # `import mpi4py` now raises ImportError
    test = doctest.DocTestParser().get_doctest(
        ">>> from mpi4py import MPI\n", {}, "example", None, 0
    )
    with pytest.raises(pytest.skip.Exception, match="the example uses mpi4py"):
        _skip_if_an_optional_package_is_absent(test)
    plain = doctest.DocTestParser().get_doctest(">>> 1 + 1\n2\n", {}, "plain", None, 0)
    _skip_if_an_optional_package_is_absent(plain)  # no skip


def test_a_module_needing_an_absent_optional_package_is_skipped(monkeypatch, tmp_path):
    (tmp_path / "needs_numba.py").write_text("import numba\n")
    (tmp_path / "broken.py").write_text("import no_such_package_anywhere\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setitem(sys.modules, "numba", None)
    with pytest.raises(pytest.skip.Exception, match="needs_numba needs numba"):
        _import("needs_numba")
    with pytest.raises(ImportError):  # a missing package that is not optional is a failure
        _import("broken")
