"""Sanity checks on the run.json of the CI smoke run (scenarios/ci-tiny.toml)."""
import json
import pathlib
import sys

runs = sorted(pathlib.Path(sys.argv[1]).glob("*/run.json"))
assert runs, f"no run.json under {sys.argv[1]}"
run = json.loads(runs[-1].read_text())
assert run["schema_version"] == 3, run["schema_version"]
assert run["status"] == "complete", run["status"]
assert [t["name"] for t in run["targets"]] == ["direct", "reference"], run["targets"]
assert all(t["served"] for t in run["targets"]), run["targets"]
assert len(run["levels"]) == 4, len(run["levels"])
for level in run["levels"]:
    name = f'{level["target"]}@{level["level"]}'
    assert level["requests_ok"] > 0 and not level["errors"], (name, level["errors"])
    ttft = level["latency"]["ttft"]["value"]["p50_ms"]
    assert 29.0 < ttft < 35.0, (name, "ttft p50", ttft)
    itl = level["latency"]["itl"]["value"]["p50_ms"]
    assert 4.0 < itl < 6.5, (name, "itl p50", itl)
    assert level["tokens_received"] == 16 * level["requests_ok"], name
    assert level["latency"]["first_token_relay"]["value"]["count"] > 0, name
    if level["target"] == "reference":
        stages = level["stages"]
        assert list(stages) == sorted(["parse", "auth", "rate_limit", "route", "select", "mutate", "forward", "relay", "log", "meter"]), list(stages)
        assert all(s["count"] >= level["requests_ok"] for s in stages.values()), name
        assert stages["forward"]["effective_parallelism"] > 0, name
        if level["flamegraph"] is not None:  # null only when the profile window caught no sample
            svg = runs[-1].parent / level["flamegraph"]
            assert svg.is_file() and svg.with_suffix(".folded").is_file(), (name, level["flamegraph"])
    for key in ("e2e_p50", "e2e_p99", "ttft_p50"):
        added = level["added_latency_ms"][key]
        if level["target"] == "direct":
            assert added["value"] is None and added["reason"] == "baseline", (name, key, added)
        else:
            assert added["value"] is not None, (name, key)
            ci = level["added_latency_ci_ms"][key]
            if ci["value"] is None:  # a p99 from this smoke run's ~40-80 requests per level
                assert "samples (n·(1−q) ≥ 10)" in ci["reason"], (name, key, ci)
                continue
            low, high = ci["value"]
            assert low <= added["value"] <= high, (name, key, added, low, high)
    e2e = level["latency"]["e2e"]["value"]
    if e2e["count"] < 10000:  # p99.9 needs n·(1−q) ≥ 10
        assert e2e["p999_ms"] is None and any(t.startswith("p99.9 ") for t in e2e["thin"]), (name, e2e)
    assert level["latency"]["outside_mock"]["value"]["count"] > 0, name
assert any(l["flamegraph"] for l in run["levels"] if l["target"] == "reference"), "no reference flamegraph"
print(f"run.json ok: {runs[-1]} ({len(run['levels'])} levels)")

# The report written at the end of the run: self-contained, with its charts.
report = (runs[-1].parent / "report.html").read_text()
assert report.count("data-chart=") >= 5, "report.html has too few charts"
assert "<script src=" not in report and "<link " not in report, "report.html loads something"
print("report.html ok:", report.count("data-chart="), "charts")
