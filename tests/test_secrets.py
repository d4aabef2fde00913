"""No password ever leaves: every command, fed a secret by every route, is searched.

Routes: a store URL on the command line (``user:pw@``, ``?password=``, a password with
an unescaped ``@``, an unreachable port), ``EVENTBENCH_PG_DSN`` (well-formed, with
``@`` in the password, malformed, unreachable), and a third-party store whose import
or open fails with a message quoting its DSN. Outputs: stdout, stderr and every file
written (results JSON, Markdown, HTML, summary, comparison and conformance reports).

The local server trusts every connection, so a URL with any password still connects:
the measured and checked paths run for real, not only the error paths.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path
from urllib.parse import quote

import conftest
import pytest

from harness import redact
from harness.provision import InvalidDsn, normalize_dsn

EVENTBENCH = Path(sys.executable).with_name("eventbench")
MARK = "Zq7"
"""Every secret below starts with this, so one search finds any of them."""
HOST = "127.0.0.1:5432"
URL_PW = f"{MARK}UrlPass"
QUERY_PW = f"{MARK}QueryPass"
AT_PW = f"{MARK}@AtPass"
ENV_PW = f"{MARK}EnvPass"
MODULE_PW = f"{MARK}ModPass"
URL = f"postgresql://postgres:{URL_PW}@{HOST}/postgres"
QUERY_URL = f"postgresql://postgres@{HOST}/postgres?password={QUERY_PW}&sslmode=disable"
AT_URL = f"postgresql://postgres:{AT_PW}@{HOST}/postgres"
DOWN_URL = f"postgresql://postgres:{URL_PW}@127.0.0.1:1/postgres"
ENV_DSN = f"postgresql://postgres:{ENV_PW}@{HOST}/postgres"
LEAKS = (MARK, "AtPass", quote(MARK))

SECRET_STORE = textwrap.dedent(
    f"""
    import os

    DSN = "postgresql://acme:{MODULE_PW}@db.invalid:5432/acme"
    if os.environ.get("FAIL_AT_IMPORT_OF") == __name__:
        raise RuntimeError(f"cannot reach {{DSN}}")


    def make_store():
        raise ConnectionError(f"could not connect to {{DSN}} (password {MODULE_PW})")
    """
)

SMALL_RUN = [
    "--scenarios",
    "read-stream",
    "--modes",
    "streamed",
    "--sizes",
    "200",
    "--repeats",
    "1",
    "--memory-repeats",
    "0",
    "--warmups",
    "0",
]


@pytest.fixture(scope="module", autouse=True)
def postgres() -> None:
    conftest.require_backend("postgres")


def _leaks(text: str) -> list[str]:
    return [form for form in LEAKS if form in text]


def _files_leak(root: Path) -> dict[str, list[str]]:
    found = {}
    for path in sorted(root.rglob("*")):
        if path.is_file():
            text = path.read_text(encoding="utf-8", errors="replace")
            # Embedded chart images are base64 pixels: any 3 letters turn up in a page of
            # them by chance (a 600 KB page holds "Zq7" about twice). Text in a chart is
            # in its alt attribute, which is still searched.
            text = re.sub(r"data:image/png;base64,[A-Za-z0-9+/=]+", "data:image/png", text)
            leaked = _leaks(text)
            if leaked:
                found[str(path.relative_to(root))] = leaked
    return found


def _eventbench(cwd: Path, *args: str, env: dict[str, str] | None = None) -> str:
    """Run the command; return stdout + stderr after asserting neither holds a secret."""
    full_env = {**os.environ, **(env or {})}
    full_env.pop("PYTHONPATH", None)
    if "EVENTBENCH_PG_DSN" not in (env or {}):
        full_env.pop("EVENTBENCH_PG_DSN", None)
    done = subprocess.run(
        [str(EVENTBENCH), *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        env=full_env,
        timeout=300,
    )
    output = done.stdout + done.stderr
    assert not _leaks(output), f"eventbench {' '.join(args)} printed a secret:\n{output}"
    return output


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "secret_store.py").write_text(SECRET_STORE)
    return tmp_path


# --------------------------------------------------------------------------- masking itself


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        (URL, f"postgresql://postgres:***@{HOST}/postgres"),
        (QUERY_URL, f"postgresql://postgres@{HOST}/postgres?password=***&sslmode=disable"),
        (AT_URL, f"postgresql://postgres:***@{HOST}/postgres"),
        ("postgres//bad:Zq7Bad@@host", "postgres//bad:***@host"),
        ("postgresql://u:Zq7:a/b@h/db", "postgresql://u:***@h/db"),
        (
            f"connect to {URL}: refused",
            f"connect to postgresql://postgres:***@{HOST}/postgres: refused",
        ),
        (
            "dsn='host=h PGPASSWORD=Zq7x sslpassword=\"Zq7 y\"'",
            "dsn='host=h PGPASSWORD=*** sslpassword=***'",
        ),
        (
            "write postgresql://USER:PASSWORD@HOST:5432/DATABASE",
            "write postgresql://USER:PASSWORD@HOST:5432/DATABASE",
        ),
    ],
)
def test_redact_masks_every_form(text: str, shown: str) -> None:
    assert redact.redact(text) == shown


def test_a_secret_once_seen_is_masked_wherever_it_appears() -> None:
    redact.remember("postgresql://u:Zq7Remembered%2Fx@h/db")
    said = "auth failed for password Zq7Remembered/x (encoded Zq7Remembered%2Fx)"
    assert MARK not in redact.redact(said)


def test_a_password_with_an_at_sign_is_read_as_browsers_read_it() -> None:
    assert normalize_dsn(AT_URL) == f"postgresql://postgres:{quote(AT_PW, safe='')}@{HOST}/postgres"
    with pytest.raises(InvalidDsn, match="percent-encode") as bad:
        normalize_dsn("postgresql://u:Zq7/slash@h/db")
    assert MARK not in str(bad.value)
    with pytest.raises(InvalidDsn, match="not a PostgreSQL URL") as malformed:
        normalize_dsn("postgres//bad:Zq7Bad@@host")
    assert MARK not in str(malformed.value)


# --------------------------------------------------------------------------- every command


needs_script = pytest.mark.skipif(
    not EVENTBENCH.exists(), reason="the eventbench script is not installed"
)


@pytest.mark.slow
@needs_script
def test_run_report_compare_and_check_on_secret_urls_show_no_secret(project: Path) -> None:
    out = project / "out"
    env = {"EVENTBENCH_PG_DSN": AT_URL.replace(AT_PW, ENV_PW + "@x")}

    # run: store URLs (user info, query string, "@" in the password) and the env DSN.
    ran = _eventbench(
        project,
        "run",
        "--backends",
        f"pg={URL},{QUERY_URL},at={AT_URL},postgres",
        *SMALL_RUN,
        "-o",
        str(out / "run.json"),
        "--export-pytest-benchmark",
        str(out / "bench.json"),
        env=env,
    )
    assert (out / "run.json").exists(), ran
    assert "failed" not in ran, ran  # the URLs were really used (trust auth)
    results = (out / "run.json").read_text()
    assert '"pg"' in results and '"at"' in results and "password=***" in results
    servers = json.loads(results)["environment"]["servers"]
    assert servers["pg"].startswith("PostgreSQL ") and servers["postgres"] == servers["pg"]

    # report, and compare (two files; `compare --ref` measures through the same runner)
    _eventbench(project, "report", str(out / "run.json"), "-o", str(out / "report"))
    _eventbench(
        project, "compare", str(out / "run.json"), str(out / "run.json"), "-o", str(out / "cmp")
    )
    checked = _eventbench(
        project,
        "check",
        f"pg={URL}",
        QUERY_URL,
        AT_URL,
        "postgres",
        "-k",
        "snapshot",
        "--report",
        str(out / "conformance.md"),
        "--report",
        str(out / "conformance.json"),
        env=env,
    )
    assert "0 failed" in checked, checked

    written = sorted(p.name for p in out.rglob("*") if p.is_file())
    assert sum(name.endswith((".html", ".md")) for name in written) >= 5, written
    assert _files_leak(out) == {}


BAD_ENV_DSNS = (
    f"postgresql://postgres:{ENV_PW}@127.0.0.1:1/postgres",  # nobody answers
    f"postgres//bad:{ENV_PW}@@host",  # malformed
    f"postgresql://postgres:{ENV_PW}/x@{HOST}/postgres",  # "/" in the password
)


@needs_script
@pytest.mark.parametrize("dsn", BAD_ENV_DSNS)
def test_a_bad_env_dsn_is_reported_without_its_secret(project: Path, dsn: str) -> None:
    env = {"EVENTBENCH_PG_DSN": dsn, "PGPASSWORD": ENV_PW}
    listed = _eventbench(project, "backends", env=env)
    assert "EVENTBENCH_PG_DSN" in listed
    checked = _eventbench(
        project, "check", "postgres", "-k", "snapshot", "--report", "out/c.json", env=env
    )
    assert "EVENTBENCH_PG_DSN" in checked
    assert _files_leak(project / "out") == {}


@pytest.mark.slow
@needs_script
def test_failing_stores_and_urls_are_reported_without_their_secret(project: Path) -> None:
    out = project / "out"
    (project / "secret_import.py").write_text(SECRET_STORE)
    # Not required here (CI requires it): this run skips what cannot run, PostgreSQL too.
    env = {"EVENTBENCH_PG_DSN": f"postgres//bad:{ENV_PW}@@host", "EVENTBENCH_REQUIRE_POSTGRES": "0"}
    failing = [
        DOWN_URL,
        "acme=secret_store:make_store",  # raises, quoting its DSN, when opened
        "imp=secret_import:make_store",  # raises, quoting its DSN, when imported
        "postgresql://u:Zq7Pw/x@h/db",
        "postgres",  # the malformed EVENTBENCH_PG_DSN
    ]
    ran = _eventbench(
        project,
        "run",
        "--debug",
        "--skip-unavailable",  # so that every backend's failure is reported, not the first
        "--backends",
        ",".join(failing),
        *SMALL_RUN,
        "-o",
        str(out / "failing"),
        env={**env, "FAIL_AT_IMPORT_OF": "secret_import"},
    )
    assert "***" in ran, ran
    assert "cannot import 'secret_import'" in ran and "ConnectionError" in ran, ran
    for spec in failing:
        _eventbench(
            project,
            "check",
            "--debug",
            spec,
            "-k",
            "snapshot",
            "--report",
            str(out / "failing.md"),
            "--report",
            str(out / "failing.json"),
            env={**env, "FAIL_AT_IMPORT_OF": "secret_import"},
        )
    assert _files_leak(out) == {}


def test_pytest_plugin_ids_and_failures_mask_the_url(project: Path) -> None:
    env = {**os.environ}
    env.pop("PYTHONPATH", None)
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-p",
            "no:cacheprovider",
            "-q",
            "-k",
            "snapshot",
            "--eventbench-factory",
            URL,
            "--eventbench-factory",
            DOWN_URL.replace(URL_PW, URL_PW + "2"),
        ],
        cwd=project,
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    output = done.stdout + done.stderr
    # Three read.snapshot* checks, on the store that works and on the one that is down.
    assert "3 passed" in output and "3 failed" in output, output
    assert not _leaks(output), output
