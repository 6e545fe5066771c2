"""A missing piece skips a test on a developer's machine and fails it where the suite must run whole.

Specified (tests/required.py and the hook in tests/conftest.py):
- `require(module)` returns the module; a missing one skips, naming the command that installs it;
- with `CI` set (any value but empty, 0, false, no) or any `BERTLAB_REQUIRE_...=1`, it fails instead;
- there, any other skip fails too, at collection or in a test, except one for want of CUDA.
"""

import os
from pathlib import Path

import pytest

import required
from required import require, require_program

pytest_plugins = ["pytester"]

TESTS = Path(__file__).resolve().parent


@pytest.fixture
def relaxed(monkeypatch):
    """A developer's machine: no CI, no BERTLAB_REQUIRE_*."""
    monkeypatch.delenv("CI", raising=False)
    for name in list(os.environ):
        if name.startswith("BERTLAB_REQUIRE_"):
            monkeypatch.delenv(name)
    return monkeypatch


def test_a_present_module_is_returned(relaxed):
    assert require("json").dumps([1]) == "[1]"


def test_a_missing_module_skips_on_a_developers_machine_with_its_install_command(relaxed):
    with pytest.raises(pytest.skip.Exception, match=r'nbgrader_not_here is not installed .*pip install'):
        require("nbgrader_not_here")
    relaxed.setenv("PATH", "/nonexistent")
    with pytest.raises(pytest.skip.Exception, match=r"bwrap is not installed: apt-get install bubblewrap"):
        require_program("bwrap")


@pytest.mark.parametrize("variable,value", [("CI", "true"), ("CI", "1"), ("BERTLAB_REQUIRE_SANDBOX", "1"),
                                            ("BERTLAB_REQUIRE_ANYTHING", "1")])
def test_a_missing_piece_fails_where_the_suite_must_run_whole(relaxed, variable, value):
    relaxed.setenv(variable, value)
    with pytest.raises(pytest.fail.Exception, match=r"no_such_module_here is not installed"):
        require("no_such_module_here")
    relaxed.setenv("PATH", "/nonexistent")
    with pytest.raises(pytest.fail.Exception, match=r"apt-get install bubblewrap"):
        require_program("bwrap")


@pytest.mark.parametrize("value", ["", "0", "false", "no"])
def test_ci_set_to_a_false_value_is_not_ci(relaxed, value):
    relaxed.setenv("CI", value)
    assert not required.strict()


def test_skips_become_failures_in_ci_except_for_cuda_and_stay_skips_without(pytester, relaxed):
    pytester.makeconftest((TESTS / "conftest.py").read_text(encoding="utf-8"))
    # with the helper modules it imports
    for helper in ("required", "rendered"):
        pytester.makepyfile(**{helper: (TESTS / f"{helper}.py").read_text(encoding="utf-8")})
    pytester.makepyfile(
        test_skips="""
        import pytest

        def test_skipped_for_a_browser():
            pytest.skip("Chromium is not installed")

        @pytest.mark.skipif(True, reason="needs a CUDA GPU")
        def test_skipped_for_cuda():
            pass

        def test_passes():
            pass
        """,
        test_skipped_module="""
        import pytest
        pytest.importorskip("no_such_module_here")

        def test_never_collected():
            pass
        """,
    )
    relaxed.setenv("CI", "true")
    in_ci = pytester.runpytest_subprocess("-p", "no:cacheprovider", "--continue-on-collection-errors")
    # the browser's skip fails, the module that skipped at collection is an error, CUDA's stays a skip
    in_ci.assert_outcomes(passed=1, skipped=1, failed=1, errors=1)
    assert "skipped where every test must run" in in_ci.stdout.str()

    relaxed.delenv("CI")
    at_home = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    at_home.assert_outcomes(passed=1, skipped=3)
