//! The one rule for which runs may be compared (by `compare`, `gate` and `history`): the same
//! scenario name, load model, levels, streaming, protocol (and the baseline's), prompt and mock
//! settings. Two runs that differ in one of them measure different things, and a change between
//! them says nothing about a gateway. A field a run does not record (written before it existed)
//! counts as its default.

use serde_json::Value;

use crate::schema::RunResult;

/// The scenario fields that must be equal, as JSON pointers into `run.json`'s `scenario`.
pub const SAME_FIELDS: [(&str, &str); 10] = [
    ("scenario name", "/name"),
    ("load model", "/load/model"),
    ("levels", "/load/levels"),
    ("streaming", "/load/stream"),
    ("protocol", "/load/protocol"),
    ("baseline protocol", "/load/baseline_protocol"),
    ("prompt", "/load/prompt"),
    ("prompt size", "/load/prompt_tokens"),
    ("prompt sweep", "/sweep/prompt_tokens"),
    ("mock settings", "/mock"),
];

/// What a field a run does not record stands for (the default when it was added).
fn default_of(pointer: &str) -> Value {
    match pointer {
        "/load/protocol" | "/load/baseline_protocol" => Value::String("openai".into()),
        _ => Value::Null,
    }
}

/// The field at `pointer`, or its default.
fn field(run: &RunResult, pointer: &str) -> Value {
    match run.scenario.pointer(pointer) {
        Some(value) if !value.is_null() => value.clone(),
        _ => default_of(pointer),
    }
}

/// `Ok` when `other` measured the same thing as `first`; else which field differs, with both
/// values, naming the runs.
pub fn same_runs(first: &RunResult, other: &RunResult) -> Result<(), String> {
    for (what, pointer) in SAME_FIELDS {
        let (a, b) = (&field(first, pointer), &field(other, pointer));
        if a != b {
            return Err(format!(
                "runs {} and {} are not the same runs: their {what} differ ({} vs {}); compare runs of one scenario and mock",
                first.run_id,
                other.run_id,
                short(a),
                short(b)
            ));
        }
    }
    Ok(())
}

/// A JSON value shortened for a one-line message.
fn short(value: &Value) -> String {
    let text = value.to_string();
    if text.chars().count() > 80 {
        format!("{}…", text.chars().take(80).collect::<String>())
    } else {
        text
    }
}

/// Checks every run against the first; the first mismatch is the error.
pub fn all_same(runs: &[&RunResult]) -> Result<(), String> {
    let Some((first, rest)) = runs.split_first() else {
        return Ok(());
    };
    rest.iter().try_for_each(|other| same_runs(first, other))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(id: &str, scenario: Value) -> RunResult {
        let text = serde_json::json!({
            "schema_version": 2, "run_id": id, "started_unix_ms": 0, "finished_unix_ms": null,
            "status": "complete",
            "environment": {
                "cpu_model": {"value": "c"}, "cores": 2, "memory_bytes": {"value": 1},
                "kernel": {"value": "k"}, "git_revision": {"value": "r"},
                "gatebench_version": "0", "tool_versions": {}, "pinning": null
            },
            "scenario": scenario, "targets": [], "levels": []
        });
        serde_json::from_value(text).expect("a minimal run")
    }

    #[test]
    fn different_scenarios_mock_settings_or_streaming_are_refused_naming_the_field() {
        let base = serde_json::json!({"name": "quick", "load": {"model": "poisson", "levels": [50], "stream": true}, "mock": {"ttft_ms": 20}});
        let a = run("a", base.clone());
        assert!(same_runs(&a, &run("b", base.clone())).is_ok());
        let mut other_mock = base.clone();
        other_mock["mock"]["ttft_ms"] = 5.into();
        let error = same_runs(&a, &run("c", other_mock)).expect_err("mock differs");
        assert!(
            error.contains("mock settings") && error.contains('a') && error.contains('c'),
            "{error}"
        );
        let mut not_streaming = base.clone();
        not_streaming["load"]["stream"] = false.into();
        assert!(same_runs(&a, &run("d", not_streaming))
            .expect_err("streaming differs")
            .contains("streaming"));
        let mut renamed = base;
        renamed["name"] = "seed-replica".into();
        assert!(same_runs(&a, &run("e", renamed))
            .expect_err("name")
            .contains("scenario name"));
    }

    #[test]
    fn a_run_from_before_protocols_is_an_openai_run_and_anthropic_is_not() {
        let old = serde_json::json!({"name": "q", "load": {"model": "poisson", "levels": [5], "stream": true}, "mock": {}});
        let mut openai = old.clone();
        openai["load"]["protocol"] = "openai".into();
        assert!(same_runs(&run("old", old.clone()), &run("new", openai.clone())).is_ok());
        let mut anthropic = openai;
        anthropic["load"]["protocol"] = "anthropic".into();
        assert!(
            same_runs(&run("old", old.clone()), &run("anthropic", anthropic))
                .expect_err("protocol differs")
                .contains("protocol")
        );
        let mut baseline = old.clone();
        baseline["load"]["baseline_protocol"] = "openai".into();
        assert!(same_runs(&run("old", old.clone()), &run("explicit", baseline)).is_ok());
        let mut sweep = old.clone();
        sweep["sweep"] = serde_json::json!({"prompt_tokens": [1000, 10000]});
        let mut other_sweep = old.clone();
        other_sweep["sweep"] = serde_json::json!({"prompt_tokens": [1000, 100000]});
        assert!(same_runs(&run("a", sweep), &run("b", other_sweep))
            .expect_err("sweep differs")
            .contains("prompt sweep"));
    }
}
