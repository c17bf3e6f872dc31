//! The `--json` output: one object per scenario, on one line, written by
//! hand in a fixed key order; and the report's JSON document, which holds
//! those lines and says where and when they were measured.

use std::fmt::Write as _;

use crate::{
    report::About,
    runner::Outcome,
    scenarios::{millis, Unit},
    stats::Summary,
    timeline::Recorded,
};

/// `outcome` as one line of JSON (no newline):
///
/// ```text
/// {"scenario": "...", "metric": "...", "unit": "ms", "runs": N,
///  "plain": {"median": x, "min": x, "max": x, "capped": k, "samples": [...],
///            "capped_runs": [false, ...], "timeline": {...}},
///  "policy": {...the same...},
///  "description": "...", "cap": x}
/// ```
///
/// Values are in the unit, to 0.1; a capped sample is written as the cap,
/// counted in `capped` and `true` in `capped_runs`. `cap` is in the unit
/// too, `null` for a scenario without one. A `timeline` is the arm's first
/// run: `{"dropped": k, "entries": [{"at_ms": x, "node": "...", "kind":
/// "fault" | "connection" | "policy" | "success" | "capped", "text": "..."}, ...]}`.
pub fn line(outcome: &Outcome) -> String {
    let scenario = outcome.scenario;
    let cap = match (scenario.cap, scenario.unit) {
        (Some(cap), Unit::Millis) => number(millis(cap)),
        _ => "null".to_owned(),
    };
    format!(
        "{{\"scenario\": {}, \"metric\": {}, \"unit\": {}, \"runs\": {}, \"plain\": {}, \"policy\": {}, \"description\": {}, \"cap\": {cap}}}",
        string(scenario.name),
        string(scenario.metric),
        string(scenario.unit.symbol()),
        outcome.runs,
        arm(&outcome.plain, &outcome.timelines[0]),
        arm(&outcome.policy, &outcome.timelines[1]),
        string(scenario.description),
    )
}

/// The report's JSON document: where and when, each arm's stack, and the
/// scenarios' [`line()`]s.
///
/// ```text
/// {"date": "2026-12-03 08:10 UTC", "machine": "...", "runs": N, "nodes": N,
///  "arms": {"plain": "...", "policy": "..."}, "scenarios": [line, ...]}
/// ```
pub fn document(outcomes: &[Outcome], about: &About) -> String {
    let lines: Vec<String> = outcomes.iter().map(line).collect();
    format!(
        "{{\"date\": {}, \"machine\": {}, \"runs\": {}, \"nodes\": {},\n \"arms\": {{\"plain\": {}, \"policy\": {}}},\n \"scenarios\": [\n{}\n]}}\n",
        string(&about.date),
        string(&about.machine),
        about.runs,
        about.nodes,
        string(about.arms[0]),
        string(about.arms[1]),
        lines.join(",\n"),
    )
}

fn arm(summary: &Summary, timeline: &Recorded) -> String {
    let samples: Vec<String> = summary.samples.iter().map(|s| number(*s)).collect();
    let capped_runs: Vec<&str> = summary
        .capped_runs
        .iter()
        .map(|&c| if c { "true" } else { "false" })
        .collect();
    format!(
        "{{\"median\": {}, \"min\": {}, \"max\": {}, \"capped\": {}, \"samples\": [{}], \"capped_runs\": [{}], \"timeline\": {}}}",
        number(summary.median),
        number(summary.min),
        number(summary.max),
        summary.capped,
        samples.join(", "),
        capped_runs.join(", "),
        timeline_json(timeline),
    )
}

fn timeline_json(timeline: &Recorded) -> String {
    let entries: Vec<String> = timeline
        .entries
        .iter()
        .map(|e| {
            format!(
                "{{\"at_ms\": {}, \"node\": {}, \"kind\": {}, \"text\": {}}}",
                number(millis(e.at)),
                string(&e.node),
                string(e.kind.name()),
                string(&e.text)
            )
        })
        .collect();
    format!(
        "{{\"dropped\": {}, \"entries\": [{}]}}",
        timeline.dropped,
        entries.join(", ")
    )
}

/// A JSON number to 0.1; JSON has no infinities or NaN, so those are `null`.
fn number(x: f64) -> String {
    if !x.is_finite() {
        return "null".to_owned();
    }
    let rounded = (x * 10.0).round() / 10.0;
    // `Display` of an f64 never uses an exponent, which JSON would allow
    // anyway, and writes whole numbers without a fraction.
    format!("{}", rounded + 0.0)
}

/// A JSON string literal.
fn string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            c if u32::from(c) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use serde_json::Value;

    use super::*;
    use crate::scenarios::{self, Sample};

    fn outcome(name: &str, plain: &[Sample], policy: &[Sample]) -> Outcome {
        Outcome {
            scenario: scenarios::find(name).unwrap(),
            runs: plain.len(),
            plain: Summary::new(plain).unwrap(),
            policy: Summary::new(policy).unwrap(),
            timelines: Default::default(),
        }
    }

    #[test]
    fn a_line_parses_back_with_every_field() {
        let o = outcome(
            "webrtc-kill",
            &[Sample::capped(15000.0); 3],
            &[
                Sample::measured(4000.04),
                Sample::measured(3000.0),
                Sample::measured(5000.06),
            ],
        );
        let line = line(&o);
        assert!(!line.contains('\n'));
        let v: Value = serde_json::from_str(&line).unwrap();
        assert_eq!(v["scenario"], "webrtc-kill");
        assert_eq!(v["metric"], o.scenario.metric);
        assert_eq!(v["unit"], "ms");
        assert_eq!(v["runs"], 3);
        assert_eq!(v["plain"]["median"], 15000.0);
        assert_eq!(v["plain"]["capped"], 3);
        assert_eq!(v["plain"]["samples"].as_array().unwrap().len(), 3);
        assert_eq!(v["policy"]["median"], 4000.0);
        assert_eq!(v["policy"]["min"], 3000.0);
        assert_eq!(v["policy"]["max"], 5000.1);
        assert_eq!(v["policy"]["capped"], 0);
        let samples: Vec<f64> = v["policy"]["samples"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s.as_f64().unwrap())
            .collect();
        assert_eq!(samples, [4000.0, 3000.0, 5000.1], "run order, to 0.1");
        assert_eq!(
            v["plain"]["capped_runs"],
            serde_json::json!([true, true, true])
        );
        assert_eq!(
            v["policy"]["capped_runs"],
            serde_json::json!([false, false, false])
        );
        assert_eq!(v["description"], o.scenario.description);
        assert_eq!(v["cap"].as_f64(), o.scenario.cap.map(millis));
        assert_eq!(v["policy"]["timeline"]["entries"], serde_json::json!([]));
    }

    #[test]
    fn keys_come_in_the_documented_order_and_spacing() {
        let o = outcome(
            "overhead",
            &[Sample::measured(5000.0)],
            &[Sample::measured(4950.0)],
        );
        assert_eq!(
            line(&o),
            format!(
                "{{\"scenario\": \"overhead\", \"metric\": \"{}\", \"unit\": \"req/s\", \"runs\": 1, \
                 \"plain\": {{\"median\": 5000, \"min\": 5000, \"max\": 5000, \"capped\": 0, \"samples\": [5000], \
                 \"capped_runs\": [false], \"timeline\": {{\"dropped\": 0, \"entries\": []}}}}, \
                 \"policy\": {{\"median\": 4950, \"min\": 4950, \"max\": 4950, \"capped\": 0, \"samples\": [4950], \
                 \"capped_runs\": [false], \"timeline\": {{\"dropped\": 0, \"entries\": []}}}}, \
                 \"description\": {}, \"cap\": null}}",
                o.scenario.metric,
                string(o.scenario.description)
            )
        );
    }

    #[test]
    fn strings_are_escaped() {
        let s = string("a \"quoted\" back\\slash\nand \u{1}");
        assert_eq!(
            serde_json::from_str::<String>(&s).unwrap(),
            "a \"quoted\" back\\slash\nand \u{1}"
        );
    }

    #[test]
    fn numbers_are_valid_json() {
        for (x, written) in [
            (0.0, "0"),
            (-0.0, "0"),
            (1.25, "1.3"),
            (1e12, "1000000000000"),
        ] {
            assert_eq!(number(x), written);
        }
        assert_eq!(number(f64::NAN), "null");
    }
}
