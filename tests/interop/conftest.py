"""Fixtures of the interop suite. The servers are started by run.sh, which passes their
addresses in INTEROP_* variables; nothing here starts or stands in for a server."""

import pytest

import support


def pytest_configure(config):
    # Fail at once, before collection, when the servers' addresses are missing.
    support.load_env()


@pytest.fixture(scope="session")
def env():
    return support.load_env()


@pytest.fixture(scope="module")
def emu_proxy(env):
    """Emu registered on the main twitcher as `emu` (token-protected, the default);
    returns its proxy URL. Registering again updates, so each module gets it back after
    a test module cleared the registry."""
    stored = support.register_service(env, "emu", env.emu)
    assert stored["url"] == env.emu, stored
    assert stored["auth"] == "token", stored
    return env.proxy("emu")


@pytest.fixture(scope="module")
def compute_token(env):
    return support.get_token(env, scope="compute")


@pytest.fixture(scope="module")
def register_token(env):
    """A valid token without the `compute` scope."""
    return support.get_token(env, scope="register")


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    report = yield
    # The suite never skips: a check that cannot run has failed.
    if report.skipped and not hasattr(report, "wasxfail"):
        report.outcome = "failed"
        report.longrepr = f"skipped, which the interop suite does not allow: {report.longrepr}"
    # No token, client secret or password in the terminal or the JUnit report.
    if report.longrepr is not None:
        report.longrepr = support.redact(str(report.longrepr))
    report.sections = [(title, support.redact(text)) for title, text in report.sections]
    return report
