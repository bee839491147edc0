"""The smoke gate decides: samples with pass rates and flaky cases, cassettes that replay the same
distribution, trajectories, result files and ``smoke compare``'s verdicts and exit codes, and the
defects a new user hit (a replay that chmods the folder it runs from, unrecorded cases that fail
the lot)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from sutazai.agents.smoke.expectations import Outcome, check, trajectory_matches
from sutazai.agents.smoke.spec import Expectations
from sutazai.agents.smoke.verdicts import fisher_worse, pass_at_k, pass_hat_k, wilson
from sutazai.scaffolds.generate import init_workspace, new_agent
from tests.scripted_engine import Reply, ScriptedEngine
from tests.test_smoke import ServerThread, cli

CASES = """cases:
  - name: names-paris
    input: What is the capital of France?
    expect:
      contains: Paris
  - name: says-hello
    input: Say hello.
    expect:
      regex: "(?i)hello"
"""


@pytest.fixture
def ws(tmp_path: Path) -> Path:
    root = init_workspace(tmp_path / "ws")
    new_agent(root / "agents", "helper", "conversation")
    (root / "agents" / "helper" / "smoke.yaml").write_text(CASES)
    return root


def _engine(answer_for_seed: Any) -> tuple[ScriptedEngine, ServerThread]:
    """Answers by the request's seed, as a sampling model would differ from seed to seed."""

    def pick(body: dict[str, Any]) -> Reply:
        question = body["messages"][-1]["content"]
        if "hello" in question.lower():
            return Reply("Hello there!")
        return Reply(answer_for_seed(int(body.get("seed") or 0)))

    engine = ScriptedEngine(pick=pick)
    return engine, ServerThread(engine.app())


# --- the statistics, against values worked by hand --------------------------------------------


def test_rates_intervals_and_the_exact_test() -> None:
    assert wilson(0, 3) == pytest.approx((0.0, 0.5615), abs=1e-3)
    assert wilson(3, 3) == pytest.approx((0.4385, 1.0), abs=1e-3)
    assert wilson(0, 0) == (0.0, 1.0)  # nothing ran: nothing known
    assert pass_at_k(5, 2, 3) == pytest.approx(0.9)  # 1 - C(3,3)/C(5,3)
    assert pass_hat_k(5, 2, 2) == pytest.approx(0.1)  # C(2,2)/C(5,2)
    assert pass_at_k(5, 0, 1) == 0.0 and pass_hat_k(5, 5, 5) == 1.0
    assert fisher_worse(3, 3, 0, 3) == pytest.approx(0.05)  # 1 / C(6,3)
    assert fisher_worse(5, 5, 0, 5) == pytest.approx(1 / 252)
    assert fisher_worse(5, 5, 5, 5) == 1.0
    assert fisher_worse(0, 5, 5, 5) == pytest.approx(1.0)  # better is never "worse"


@pytest.mark.parametrize(
    ("mode", "expected", "actual", "ok"),
    [
        ("exact", ["a", "b"], ["a", "b"], True),
        ("exact", ["a", "b"], ["b", "a"], False),
        ("in_order", ["a", "c"], ["a", "b", "c"], True),
        ("in_order", ["c", "a"], ["a", "b", "c"], False),
        ("any_order", ["a", "b"], ["b", "a"], True),
        ("any_order", ["a", "b"], ["a", "a", "b"], False),
        ("subset", ["a", "b"], ["a"], True),
        ("subset", ["a"], ["a", "b"], False),
        ("superset", ["a"], ["a", "b"], True),
        ("superset", ["a", "c"], ["a", "b"], False),
    ],
)
def test_trajectory_modes(mode: str, expected: list[str], actual: list[str], ok: bool) -> None:
    assert trajectory_matches(mode, expected, actual) is ok


def test_trajectory_per_child_status_and_total_tokens() -> None:
    expect = Expectations.model_validate(
        {
            "trajectory": [
                {"calls": ["ask_fact_finder"], "mode": "exact"},
                {"calls": ["search"], "mode": "superset", "agent": "fact-finder"},
            ],
            "status": "budget",
            "max_total_tokens": 100,
        }
    )
    outcome = Outcome(
        "x",
        prompt_tokens=90,
        completion_tokens=20,
        status="ok",
        agent="planner",
        trajectory={"planner": ["ask_fact_finder"], "fact-finder": []},
    )
    failures = check(expect, outcome)
    assert any("fact-finder called []" in f for f in failures)
    assert any("ended 'ok', expected 'budget'" in f for f in failures)
    assert any("110 tokens in all, over 100" in f for f in failures)
    assert not any("ask_fact_finder']," in f and "planner" in f for f in failures)


# --- samples, cassettes and results, end to end through the CLI ---------------------------------


def test_samples_give_a_pass_rate_and_flaky_cases_and_replay_the_same_distribution(
    ws: Path, tmp_path: Path
) -> None:
    engine, server = _engine(lambda seed: "Paris." if seed % 2 == 0 else "London.")
    with server:
        live = cli(
            "--gateway", server.url, "smoke", "--samples", "4", "--record", "--json",
            "--out", str(tmp_path / "live.json"), cwd=ws,
        )  # fmt: skip
    assert live.returncode == 1, live.stdout + live.stderr  # half the samples fail: the gate says so
    rates = {r["case"]: r for r in json.loads(live.stdout)["rates"]}
    assert rates["names-paris"]["passed"] == 2 and rates["names-paris"]["samples"] == 4
    assert rates["names-paris"]["flaky"] and not rates["says-hello"]["flaky"]
    assert sorted(int(b.get("seed") or 0) for b in engine.requests if "France" in str(b)) == [0, 1, 2, 3]

    replay = cli(
        "smoke", "--replay", "--samples", "4", "--json", "--out", str(tmp_path / "replay.json"), cwd=ws
    )
    by_sample = lambda doc: {  # noqa: E731
        (c["case"], s["sample"]): s["status"] for c in doc["cases"] for s in c["samples"]
    }
    live_doc = json.loads((tmp_path / "live.json").read_text())
    replay_doc = json.loads(replay.stdout)
    assert by_sample(live_doc) == {(c["case"], c["sample"]): c["status"] for c in replay_doc["cases"]}

    more = cli("smoke", "--replay", "--samples", "6", "--json", cwd=ws)
    extra = [c for c in json.loads(more.stdout)["cases"] if c["sample"] >= 4]
    assert {c["status"] for c in extra} == {"skipped"}
    assert "holds 4 sample(s)" in extra[0]["reasons"][0] and "--samples 6" in extra[0]["reasons"][0]

    table = cli("smoke", "--replay", "--samples", "4", cwd=ws)
    assert "2/4" in table.stdout and "flaky" in table.stdout and "pass" in table.stdout


def test_compare_exits_1_only_when_a_case_got_significantly_worse(ws: Path, tmp_path: Path) -> None:
    def results(answer: str, name: str) -> Path:
        _, server = _engine(lambda seed: answer)
        with server:
            cli("--gateway", server.url, "smoke", "-n", "5", "--out", str(tmp_path / name), cwd=ws)
        return tmp_path / name

    good, bad = results("Paris.", "good.json"), results("London.", "bad.json")
    worse = cli("smoke", "compare", str(good), str(bad), cwd=ws)
    assert worse.returncode == 1, worse.stdout + worse.stderr
    assert "worse" in worse.stdout and "1 case(s) significantly worse" in worse.stdout
    same = cli("smoke", "compare", str(good), str(good), cwd=ws)
    assert same.returncode == 0 and "no case significantly worse" in same.stdout
    better = cli("smoke", "compare", str(bad), str(good), "--format", "json", cwd=ws)
    changes = {c["case"]: c for c in json.loads(better.stdout)["cases"]}
    assert better.returncode == 0 and changes["names-paris"]["change"] == "better"
    markdown = cli("smoke", "compare", str(good), str(bad), "--format", "markdown", cwd=ws)
    assert "| helper | names-paris | 5/5 | 0/5 | **worse** |" in markdown.stdout

    other = json.loads(good.read_text())
    (tmp_path / "none-run.json").write_text(json.dumps({**other, "agents": {}, "cases": []}))
    not_run = cli("smoke", "compare", str(good), str(tmp_path / "none-run.json"), "--format", "json", cwd=ws)
    assert {c["change"] for c in json.loads(not_run.stdout)["cases"]} == {
        "not run"
    } and not_run.returncode == 0
    (tmp_path / "other.json").write_text(json.dumps({**other, "workspace": "/somewhere/else"}))
    refused = cli("smoke", "compare", str(good), str(tmp_path / "other.json"), cwd=ws)
    assert refused.returncode == 2 and "another workspace" in refused.stderr
    (tmp_path / "old.json").write_text(json.dumps({**other, "version": 99}))
    refused = cli("smoke", "compare", str(tmp_path / "old.json"), str(good), cwd=ws)
    assert refused.returncode == 2 and "format version 99" in refused.stderr
    assert "Traceback" not in refused.stderr
    bad_level = cli("smoke", "compare", str(good), str(bad), "--format", "html", cwd=ws)
    assert bad_level.returncode == 2 and "--format" in bad_level.stderr


def test_samples_below_one_are_refused(ws: Path) -> None:
    refused = cli("smoke", "--samples", "0", cwd=ws)
    assert refused.returncode == 2 and "--samples" in refused.stderr and "Traceback" not in refused.stderr


# --- the defects ------------------------------------------------------------------------------


def test_a_replay_leaves_the_folder_it_runs_from_alone(ws: Path, tmp_path: Path) -> None:
    _, server = _engine(lambda seed: "Paris.")
    with server:
        assert cli("--gateway", server.url, "smoke", "--record", cwd=ws).returncode == 0
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir(mode=0o755)
    os.chmod(elsewhere, 0o755)
    replay = cli("--workspace", str(ws), "smoke", "--replay", cwd=elsewhere)
    assert replay.returncode == 0, replay.stdout + replay.stderr
    assert elsewhere.stat().st_mode & 0o777 == 0o755 and list(elsewhere.iterdir()) == []
    assert not (ws / ":memory:").exists()


def test_unrecorded_cases_are_skipped_with_what_to_record_not_failed(ws: Path) -> None:
    _, server = _engine(lambda seed: "Paris.")
    with server:
        assert cli("--gateway", server.url, "smoke", "--record", cwd=ws).returncode == 0
    smoke = ws / "agents" / "helper" / "smoke.yaml"
    smoke.write_text(smoke.read_text() + "  - name: brand-new\n    input: Hi\n    expect: {regex: Hello}\n")
    replay = cli("smoke", "helper", "--replay", "--json", cwd=ws)
    assert replay.returncode == 0, replay.stdout + replay.stderr
    cases = {c["case"]: c for c in json.loads(replay.stdout)["cases"]}
    assert cases["brand-new"]["status"] == "skipped"
    assert "sutazai smoke helper --record" in cases["brand-new"]["reasons"][0]
    assert cases["names-paris"]["status"] == "passed"

    (ws / "agents" / "helper" / "smoke.cassette.json").unlink()
    nothing = cli("smoke", "helper", "--replay", cwd=ws)
    assert nothing.returncode == 1 and "nothing ran" in nothing.stdout


# --- the gate on the real engine ----------------------------------------------------------------


@pytest.mark.slow
def test_the_demo_gate_flags_a_broken_agent_and_not_a_neutral_change_on_smollm2(
    tmp_path: Path, real_stack: tuple[Any, str]
) -> None:
    """SmolLM2 through the real gateway: the demo's summarizer cases (the summary names the cat and
    the mat) pass 3 of 3; capping its answer at 4 tokens is flagged as significantly worse (exit 1);
    rewording its description is not (exit 0). (A prompt that says "reply banana" is *not* a harmful
    change on this model: SmolLM2-135M ignores it and answers as before; see docs/smoke.md.)"""
    workspace, _ = real_stack
    root = workspace.root
    spec = root / "agents" / "summarizer" / "agent.yaml"
    original = spec.read_text()

    def results(name: str) -> Path:
        out = tmp_path / name
        done = cli("smoke", "summarizer", "-n", "3", "--out", str(out), cwd=root)
        assert out.exists(), done.stdout + done.stderr
        return out

    try:
        base = results("base.json")
        rates = {c["case"]: c for c in json.loads(base.read_text())["cases"]}
        assert [s["status"] for s in rates["summarises"]["samples"]] == ["passed"] * 3
        spec.write_text(original.replace("max_tokens: 96", "max_tokens: 4"))
        harmful = cli("smoke", "compare", str(base), str(results("harmful.json")), cwd=root)
        assert harmful.returncode == 1 and "worse" in harmful.stdout, harmful.stdout
        spec.write_text(original.replace("Summarises documents", "Writes short summaries of documents"))
        neutral = cli("smoke", "compare", str(base), str(results("neutral.json")), cwd=root)
        assert neutral.returncode == 0, neutral.stdout
    finally:
        spec.write_text(original)


def test_changed_runs_only_cases_whose_agent_or_delegates_changed(tmp_path: Path) -> None:
    from tests.test_delegation import _agent

    root = init_workspace(tmp_path / "ws")
    _agent(root, "top", ["leaf"])
    _agent(root, "leaf", [])
    (root / "agents" / "leaf" / "smoke.yaml").write_text("cases:\n  - name: own\n    input: hi\n")
    new_agent(root / "agents", "helper", "conversation")
    (root / "agents" / "helper" / "smoke.yaml").write_text(CASES)
    engine, server = _engine(lambda seed: "Paris.")
    engine.replies = [Reply('TOOL: ask_leaf {"input": "q"}')]  # top delegates once; the rest: pick
    with server:
        first = cli("--gateway", server.url, "smoke", "--out", str(tmp_path / "base.json"), cwd=root)
        assert (tmp_path / "base.json").exists(), first.stdout + first.stderr

        def changed() -> set[tuple[str, str]]:
            done = cli(
                "--gateway", server.url, "smoke", "--changed", "--base", str(tmp_path / "base.json"), "--json",
                cwd=root,
            )  # fmt: skip
            return {(c["agent"], c["case"]) for c in json.loads(done.stdout)["cases"]}

        assert changed() == set()  # nothing changed: nothing runs
        prompt = root / "agents" / "leaf" / "agent.yaml"
        prompt.write_text(prompt.read_text().replace("You are leaf.", "You are the leaf."))
        assert changed() == {("leaf", "own"), ("top", "tree")}  # and top, which delegates to it
        smoke = root / "agents" / "helper" / "smoke.yaml"
        smoke.write_text(smoke.read_text().replace("Say hello.", "Say hello, please."))
        assert ("helper", "says-hello") in changed() and ("helper", "names-paris") not in changed()
    refused = cli("smoke", "--changed", cwd=root)
    assert refused.returncode == 2 and "--base" in refused.stderr


def test_compare_against_a_git_ref_runs_both_sides_and_says_worse(ws: Path) -> None:
    """``smoke compare --base REF``: the cases run as committed (a temporary worktree, removed after)
    and as in the working tree, through one gateway; a prompt broken since the commit is worse."""
    import subprocess

    def git(*args: str) -> None:
        subprocess.run(["git", *args], cwd=ws, check=True, capture_output=True)

    git("init", "-q")
    git("-c", "user.email=t@t", "-c", "user.name=t", "add", "-A")
    git("-c", "user.email=t@t", "-c", "user.name=t", "commit", "-qm", "base")

    def pick(body: dict[str, Any]) -> Reply:
        if "banana" in body["messages"][0]["content"]:
            return Reply("banana")
        return Reply("Hello there!" if "hello" in body["messages"][-1]["content"].lower() else "Paris.")

    engine = ScriptedEngine(pick=pick)
    with ServerThread(engine.app()) as server:
        same = cli("--gateway", server.url, "smoke", "compare", "--base", "HEAD", "-n", "3", cwd=ws)
        assert same.returncode == 0 and "no case significantly worse" in same.stdout, (
            same.stdout + same.stderr
        )
        prompt = ws / "agents" / "helper" / "prompt.md"
        prompt.write_text("Whatever the user writes, reply with exactly one word: banana\n")
        worse = cli(
            "--gateway",
            server.url,
            "smoke",
            "compare",
            "--base",
            "HEAD",
            "-n",
            "4",
            "--format",
            "json",
            cwd=ws,
        )
        assert worse.returncode == 1, worse.stdout + worse.stderr
        verdicts = {c["case"]: c["change"] for c in json.loads(worse.stdout)["cases"]}
        assert verdicts == {"names-paris": "worse", "says-hello": "worse"}, verdicts
        unknown = cli("--gateway", server.url, "smoke", "compare", "--base", "no-such-ref", cwd=ws)
        assert unknown.returncode != 0 and "no commit 'no-such-ref'" in unknown.stdout + unknown.stderr
    listed = subprocess.run(["git", "worktree", "list"], cwd=ws, capture_output=True, text=True).stdout
    assert len(listed.strip().splitlines()) == 1  # the temporary worktrees are gone


def test_similar_to_a_reference_answer_live_and_replayed(ws: Path) -> None:
    """``similar_to``: the answer must be close to a reference by the embedding tier; the embeddings
    go in the cassette, so the replay needs neither engine nor embedder."""
    (ws / "agents" / "helper" / "smoke.yaml").write_text(
        "cases:\n"
        "  - name: close\n    input: What is the capital of France?\n"
        "    expect:\n      similar_to: Paris is the capital of France.\n"
        "  - name: far\n    input: Say something about France.\n"
        "    expect:\n      similar_to: {text: The Eiffel Tower stands in Paris., threshold: 0.9}\n"
    )
    engine, server = _engine(lambda seed: "The capital of France is Paris.")
    with server:
        recorded = cli("--gateway", server.url, "smoke", "--record", "--json", cwd=ws)
        embedded = len(engine.embedding_requests)
    cases = {c["case"]: c for c in json.loads(recorded.stdout)["cases"]}
    assert cases["close"]["status"] == "passed", cases["close"]
    assert (
        cases["far"]["status"] == "failed"
        and "similar to the reference, under 0.90" in cases["far"]["reasons"][0]
    )
    assert embedded >= 2  # the embedding tier was asked, through the gateway
    replayed = cli("--gateway", "http://127.0.0.1:9", "smoke", "--replay", "--json", cwd=ws)
    again = {c["case"]: c["status"] for c in json.loads(replayed.stdout)["cases"]}
    assert again == {"close": "passed", "far": "failed"}, replayed.stdout


@pytest.mark.heavy  # whole pytest sessions in subprocesses: not the inner loop
def test_the_pytest_plugin_samples_shards_and_merges_under_xdist(ws: Path, tmp_path: Path) -> None:
    """``--sutazai-samples``, ``--sutazai-out`` and ``--sutazai-shard``: a recorded run replayed by two
    xdist workers writes one file equal to one process's; two shards merged by ``smoke merge`` equal
    it too; the parts are cleaned up; a bad shard is a usage error."""
    import subprocess
    import sys

    def pytest_run(*args: str) -> subprocess.CompletedProcess[str]:
        command = [sys.executable, "-m", "pytest", "agents/helper/smoke.yaml", "-p", "no:cacheprovider", "-q"]
        return subprocess.run([*command, *args], cwd=ws, capture_output=True, text=True, timeout=300)

    def verdicts(path: Path) -> dict[tuple[str, str], list[str]]:
        data = json.loads(path.read_text())
        return {(c["agent"], c["case"]): sorted(s["status"] for s in c["samples"]) for c in data["cases"]}

    _, server = _engine(lambda seed: "Paris." if seed % 2 else "London.")  # names-paris is flaky
    with server:
        toml = ws / "sutazai.toml"
        toml.write_text(toml.read_text().replace("http://127.0.0.1:11435", server.url))
        one = tmp_path / "one.json"
        recorded = pytest_run("--sutazai-record", "--sutazai-samples", "3", "--sutazai-out", str(one))
    assert recorded.returncode == 1 and "samples" in recorded.stdout, recorded.stdout  # a flaky case fails
    first = verdicts(one)
    assert set(first[("helper", "names-paris")]) == {"failed", "passed"}  # 3 samples, seeds varied
    assert first[("helper", "says-hello")] == ["passed"] * 3
    from sutazai.agents.smoke import latest
    from sutazai.workspace import Workspace

    kept = latest.read(Workspace(ws), "helper")  # the case's latest verdict: all 3 samples, not the last
    assert kept["names-paris"].ran == 3 and kept["names-paris"].flaky, kept
    two = tmp_path / "two.json"
    workers = pytest_run("--sutazai-replay", "--sutazai-samples", "3", "--sutazai-out", str(two), "-n", "2")
    assert workers.returncode == 1, workers.stdout
    assert verdicts(two) == verdicts(one)  # two workers' results, merged, equal one process's
    assert not list(tmp_path.glob("two.json.*.part"))
    shards = []
    for index in (1, 2):
        shard = tmp_path / f"shard{index}.json"
        pytest_run(
            "--sutazai-replay",
            "--sutazai-samples",
            "3",
            "--sutazai-out",
            str(shard),
            "--sutazai-shard",
            f"{index}/2",
        )
        shards.append(shard)
    ran = [set(verdicts(s)) if s.exists() else set() for s in shards]
    assert ran[0] | ran[1] == set(first) and not ran[0] & ran[1]  # every case in exactly one shard
    merged = tmp_path / "merged.json"
    joined = cli("smoke", "merge", *[str(s) for s in shards if s.exists()], "-o", str(merged), cwd=ws)
    assert joined.returncode == 0, joined.stdout + joined.stderr
    assert verdicts(merged) == verdicts(one)
    assert cli("smoke", "compare", str(one), str(merged), cwd=ws).returncode == 0
    bad = pytest_run("--sutazai-replay", "--sutazai-shard", "3/2")
    assert bad.returncode == 4 and "--sutazai-shard takes i/n" in bad.stderr


def test_each_case_keeps_its_latest_verdict_and_a_run_of_some_cases_keeps_the_others(tmp_path: Path) -> None:
    """What the language server's lens and the TUI's agent view read: per case, passes of samples,
    flaky, the failed samples' run ids; a later run of some cases keeps the others."""
    from sutazai.agents.smoke import latest
    from sutazai.agents.smoke.runner import CaseResult
    from sutazai.workspace import Workspace

    workspace = Workspace(init_workspace(tmp_path / "ws"))
    first = [
        CaseResult("bot", "greets", [], "passed", run_id="r1"),
        CaseResult("bot", "greets", [], "failed", run_id="r2", sample=1),
        CaseResult("bot", "counts", [], "passed", run_id="r3"),
    ]
    latest.record(workspace, first)
    cases = latest.read(workspace, "bot")
    assert cases["greets"].flaky and cases["greets"].failed_runs == ["r2"]
    assert cases["greets"].label(now=cases["greets"].at + 7200) == "1/2 passed, flaky · 2 h ago"
    assert (
        not cases["counts"].flaky and cases["counts"].label(now=cases["counts"].at) == "1/1 passed · just now"
    )
    latest.record(workspace, [CaseResult("bot", "counts", [], "error", run_id="r4")])
    latest.record(workspace, [CaseResult("bot", "greets", [], "skipped")])  # did not run: verdict stands
    cases = latest.read(workspace, "bot")
    assert cases["greets"].failed_runs == ["r2"] and cases["counts"].failed_runs == ["r4"]
    stored = workspace.data_dir / "smoke" / "latest" / "bot.json"
    assert stored.stat().st_mode & 0o777 == 0o600
    assert latest.read(workspace, "other") == {}
