"""schemathesis against the main twitcher's own OpenAPI document (/__api__): requests
generated from the document for every operation, valid and invalid, with the admin's
HTTP Basic credentials. No answer may be a server error (5xx), and every answer must
conform to the document's schema for its status. One test per API operation; the
examples per operation are bounded (INTEROP_EXAMPLES) to keep the run short."""

import os
import re
import subprocess
import sys

import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance

import support

ENV = support.load_env()
schema = schemathesis.openapi.from_url(f"{ENV.twitcher}/__api__", timeout=10)


@schema.parametrize()
@settings(
    max_examples=ENV.examples,
    deadline=None,
    database=None,
    derandomize=True,
    suppress_health_check=list(HealthCheck),
)
def test_api(case):
    case.call_and_validate(
        base_url=ENV.twitcher,
        auth=ENV.admin,
        timeout=10,
        checks=[not_a_server_error, response_schema_conformance],
    )


def test_all_phases_with_the_cli(tmp_path):
    """The schemathesis CLI over the same document, with every phase: examples,
    coverage (boundary and invalid values, unexpected methods), fuzzing, and stateful
    sequences that follow the links it infers (register a service, read it, delete
    it). Same two checks; a fixed seed so that a failure replays."""
    cli = os.path.join(os.path.dirname(sys.executable), "schemathesis")
    report = tmp_path / "junit.xml"
    p = subprocess.run(
        [
            cli,
            "run",
            f"{ENV.twitcher}/__api__",
            "--auth",
            f"{ENV.admin_user}:{ENV.admin_password}",
            "--checks",
            "not_a_server_error,response_schema_conformance",
            "--max-examples",
            str(ENV.examples),
            "--seed",
            "1",
            "--no-color",
            "--report",
            "junit",
            "--report-junit-path",
            str(report),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        stdin=subprocess.DEVNULL,
        cwd=tmp_path,  # its crash cache (.schemathesis/) goes there, not into the work tree
    )
    output = support.redact(p.stdout + p.stderr)
    assert p.returncode == 0, output[-6000:]
    ops = re.search(r"Operations:\s+(\d+) selected / (\d+) total", output)
    assert ops and ops.group(1) == ops.group(2) != "0", output[:2000]
    assert "Stateful" in output, output[-2000:]
    assert report.exists()
