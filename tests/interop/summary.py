"""Counts of checks per client (one test module per client) from pytest's JUnit report.
Exits 1 when no check ran, when any failed, or when any was skipped: the suite never
skips. With --all, every client's module must have run (run.sh passes it when it runs
the whole suite). Usage: summary.py [--all] JUNIT.xml"""

import sys
import xml.etree.ElementTree as ET
from collections import defaultdict

CLIENTS = {
    "test_twitcherctl": "twitcherctl (pyramid-twitcher 0.11.3)",
    "test_twitcher_client": "twitcher.client.TwitcherService",
    "test_requests_oauthlib": "requests-oauthlib 1.1.0",
    "test_owslib": "OWSLib 0.35.0",
    "test_birdy": "birdy 0.10.0",
    "test_nginx_auth_request": "nginx auth_request",
    "test_keycloak_jwt": "PyJWT tokens, keycloak_token",
    "test_schemathesis": "schemathesis (/__api__)",
}


def main(path, require_all):
    counts = defaultdict(lambda: {"passed": 0, "failed": 0, "skipped": 0})
    for case in ET.parse(path).getroot().iter("testcase"):
        module = case.get("classname", "?").split(".")[0]
        if case.find("failure") is not None or case.find("error") is not None:
            outcome = "failed"
        elif case.find("skipped") is not None:
            outcome = "skipped"
        else:
            outcome = "passed"
        counts[module][outcome] += 1
    total = {"passed": 0, "failed": 0, "skipped": 0}
    print("interop checks per client:")
    for module in sorted(counts, key=lambda m: list(CLIENTS).index(m) if m in CLIENTS else 99):
        c = counts[module]
        for k in total:
            total[k] += c[k]
        n = sum(c.values())
        label = CLIENTS.get(module, module)
        print(f"  {label:<40} checks={n:<3} passed={c['passed']:<3} failed={c['failed']:<3} skipped={c['skipped']}")
    missing = [m for m in CLIENTS if m not in counts] if require_all else []
    for m in missing:
        print(f"  {CLIENTS[m]:<40} NO CHECKS RAN")
    ok = total["passed"] > 0 and total["failed"] == 0 and total["skipped"] == 0 and not missing
    if total["skipped"]:
        print("interop: checks were skipped, which the suite does not allow")
    print(f"interop: {total['passed']} passed, {total['failed']} failed")
    return 0 if ok else 1


if __name__ == "__main__":
    args = sys.argv[1:]
    require_all = "--all" in args
    args = [a for a in args if a != "--all"]
    sys.exit(main(args[0], require_all))
