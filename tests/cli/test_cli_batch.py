"""`videoagent batch` as a user runs it: output, exit statuses, configuration errors."""

from __future__ import annotations

import json
import urllib.request
from pathlib import Path

from cli_helpers import SCALE, clean_env, sim_env, videoagent

from videoagent.simulator import BackgroundSimulator


def briefs_file(
    folder: Path, text: str = "first teaser\nsecond teaser\n# a comment\nthird\n"
) -> Path:
    path = folder / "briefs.txt"
    path.write_text(text, encoding="utf-8")
    return path


def test_batch_prints_a_table_and_exits_0(simulator: BackgroundSimulator, tmp_path: Path) -> None:
    """A batch against the configured API ends with a table of verified files, status 0."""
    out = tmp_path / "videos"
    done = videoagent(
        "batch", str(briefs_file(tmp_path)), "--out", str(out), env=sim_env(simulator)
    )
    assert done.returncode == 0, done.stderr
    assert "3 done, 0 failed, 0 skipped" in done.stdout
    for name in ("0001-first-teaser.mp4", "0002-second-teaser.mp4", "0003-third.mp4"):
        assert (out / name).is_file()
        assert f"done  {name}" in done.stdout
    assert "credits used: 150" in done.stdout
    assert f"API requests: {simulator.stats().requests}" in done.stdout
    assert simulator.api_key not in done.stdout + done.stderr


def test_batch_simulate_json(tmp_path: Path) -> None:
    """`--simulate --json` runs on an embedded simulator and prints only JSON on stdout."""
    done = videoagent(
        "batch",
        str(briefs_file(tmp_path)),
        "--out",
        str(tmp_path / "v"),
        "--simulate",
        "--json",
        "--mode",
        "collaborative",
        "--reply",
        "ship it",
        "--time-scale",
        str(SCALE),
    )
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    assert summary["counts"]["done"] == 3
    assert all(o["replies"] >= 1 for o in summary["done"])


def test_bad_lines_are_reported_before_sending(
    simulator: BackgroundSimulator, tmp_path: Path
) -> None:
    """Bad records are listed with file:line, nothing is sent, and the status is 2."""
    path = tmp_path / "briefs.jsonl"
    path.write_text('{"brief": "ok"}\n\n{"brief": "x", "mode": "loud"}\n{oops\n', encoding="utf-8")
    done = videoagent("batch", str(path), "--out", str(tmp_path / "v"), env=sim_env(simulator))
    assert done.returncode == 2
    assert f"{path}:3: mode must be autonomous or collaborative" in done.stderr
    assert f"{path}:4: not valid JSON" in done.stderr
    assert "--skip-invalid" in done.stderr
    assert "Traceback" not in done.stderr
    assert simulator.stats().requests == 0

    skipped = videoagent(
        "batch", str(path), "--out", str(tmp_path / "v"), "--skip-invalid", env=sim_env(simulator)
    )
    assert skipped.returncode == 1  # not every brief became a video
    assert "1 done, 0 failed, 2 skipped" in skipped.stdout
    assert f"skipping {path}:3" in skipped.stderr


def test_short_credits_stop_the_batch(simulator: BackgroundSimulator, tmp_path: Path) -> None:
    """An account that cannot pay for the batch gets one sentence, status 1, and no project."""
    key = simulator.add_account(credits=60)
    env = {**sim_env(simulator), "VIDEOAGENT_API_KEY": key}
    done = videoagent("batch", str(briefs_file(tmp_path)), "--out", str(tmp_path / "v"), env=env)
    assert done.returncode == 1
    assert "60 credits but the batch needs 150" in done.stderr
    assert simulator.projects(key) == ()
    partial = videoagent(
        "batch",
        str(briefs_file(tmp_path)),
        "--out",
        str(tmp_path / "v"),
        "--allow-partial",
        env=env,
    )
    assert partial.returncode == 1
    assert "1 done, 0 failed, 2 skipped" in partial.stdout
    assert "not enough credits" in partial.stdout


def test_missing_configuration_is_one_sentence(tmp_path: Path) -> None:
    """A missing key or URL names its variable in one line, status 2, no traceback."""
    path = str(briefs_file(tmp_path))
    no_key = videoagent("batch", path, "--out", str(tmp_path / "v"), env=clean_env())
    assert no_key.returncode == 2
    assert no_key.stderr.strip().count("\n") == 0
    assert "VIDEOAGENT_API_KEY" in no_key.stderr
    no_url = videoagent("account", env=clean_env(VIDEOAGENT_API_KEY="es_live_" + "a" * 32))
    assert no_url.returncode == 2
    assert "VIDEOAGENT_BASE_URL" in no_url.stderr
    assert "Traceback" not in no_url.stderr
    assert "a" * 32 not in no_url.stderr
    bad_scale = videoagent(
        "account",
        env=clean_env(
            VIDEOAGENT_API_KEY="es_live_" + "a" * 32,
            VIDEOAGENT_BASE_URL="http://127.0.0.1:9/v1",
            VIDEOAGENT_TIME_SCALE="fast",
        ),
    )
    assert bad_scale.returncode == 2
    assert "VIDEOAGENT_TIME_SCALE must be a number" in bad_scale.stderr
    unreadable = videoagent("batch", str(tmp_path / "nope.txt"), "--out", str(tmp_path))
    assert unreadable.returncode == 2
    assert "cannot read" in unreadable.stderr


def test_usage_errors_exit_2() -> None:
    """Unknown commands and missing arguments are usage errors (status 2)."""
    assert videoagent("frobnicate").returncode == 2
    assert videoagent("batch").returncode == 2


def test_verbose_logs_never_show_the_key(simulator: BackgroundSimulator, tmp_path: Path) -> None:
    """`--verbose` logs every request, and never the API key."""
    done = videoagent(
        "batch",
        str(briefs_file(tmp_path, "one\n")),
        "--out",
        str(tmp_path / "v"),
        "--verbose",
        env=sim_env(simulator),
    )
    assert done.returncode == 0, done.stderr
    assert "POST /projects" in done.stderr
    assert simulator.api_key not in done.stdout + done.stderr
    assert simulator.api_key[8:] not in done.stdout + done.stderr


def test_webhook_listen_receives_and_finishes(
    simulator: BackgroundSimulator, tmp_path: Path
) -> None:
    """With --webhook-listen the projects carry our URL, webhooks are accepted, the batch ends."""
    env = {**sim_env(simulator), "VIDEOAGENT_WEBHOOK_SECRET": simulator.webhook_secret}
    done = videoagent(
        "batch",
        str(briefs_file(tmp_path)),
        "--out",
        str(tmp_path / "v"),
        "--webhook-listen",
        "127.0.0.1:0",
        env=env,
    )
    assert done.returncode == 0, done.stderr
    assert "webhooks: listening at http://127.0.0.1:" in done.stderr
    base = simulator.base_url.removesuffix("/v1")
    with urllib.request.urlopen(f"{base}/_sim/webhooks") as answer:
        deliveries = json.load(answer)["data"]
    assert deliveries
    assert {d["status"] for d in deliveries} <= {200, 202, 204, None}
    assert any(d["status"] in (200, 202, 204) for d in deliveries)


def test_webhook_listen_needs_the_secret(simulator: BackgroundSimulator, tmp_path: Path) -> None:
    """--webhook-listen without a webhook secret is a usage error naming the variable."""
    done = videoagent(
        "batch",
        str(briefs_file(tmp_path)),
        "--out",
        str(tmp_path / "v"),
        "--webhook-listen",
        "127.0.0.1:0",
        env=sim_env(simulator),
    )
    assert done.returncode == 2
    assert "VIDEOAGENT_WEBHOOK_SECRET" in done.stderr
    assert simulator.stats().requests == 0
