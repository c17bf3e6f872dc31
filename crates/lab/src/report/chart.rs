//! A scenario's chart: every run of both arms as a dot on one axis, the
//! median marked, the cap drawn, capped runs drawn at the cap as hollow
//! triangles.

use std::fmt::Write as _;

use super::{escape, ScenarioResult};

const WIDTH: f64 = 760.0;
const HEIGHT: f64 = 132.0;
/// Room on the left for the arms' names.
const LEFT: f64 = 70.0;
const RIGHT: f64 = 24.0;
/// The two rows, plain's and the policies'.
const ROWS: [f64; 2] = [44.0, 84.0];
const AXIS: f64 = 106.0;
const NAMES: [&str; 2] = ["plain", "policies"];
const CLASSES: [&str; 2] = ["plain", "policy"];

/// The chart of `scenario`, an `<svg class="chart">` with one `.run`
/// element per run.
pub(super) fn chart(scenario: &ScenarioResult) -> String {
    let top = scenario
        .arms
        .iter()
        .flat_map(|a| a.samples.iter().copied())
        .chain(scenario.cap)
        .fold(0.0_f64, f64::max);
    let (step, end) = ticks(top);
    let x = |v: f64| LEFT + (v / end).clamp(0.0, 1.0) * (WIDTH - LEFT - RIGHT);
    let unit = escape(&scenario.unit);

    let mut svg = format!(
        "<svg class=\"chart\" data-scenario=\"{}\" width=\"{WIDTH}\" height=\"{HEIGHT}\" \
         viewBox=\"0 0 {WIDTH} {HEIGHT}\" role=\"img\" aria-label=\"{}: every run, plain and with the policies\">",
        escape(&scenario.name),
        escape(&scenario.metric),
    );
    // The axis, its ticks and their values.
    let _ = write!(
        svg,
        "<line class=\"axis\" x1=\"{LEFT}\" y1=\"{AXIS}\" x2=\"{}\" y2=\"{AXIS}\"/>",
        WIDTH - RIGHT
    );
    let mut tick = 0.0;
    while tick <= end + step / 2.0 {
        let at = x(tick);
        let _ = write!(
            svg,
            "<line class=\"tick\" x1=\"{at:.1}\" y1=\"{AXIS}\" x2=\"{at:.1}\" y2=\"{}\"/>\
             <text class=\"tick-label\" x=\"{at:.1}\" y=\"{}\">{}</text>",
            AXIS + 4.0,
            AXIS + 17.0,
            value(tick)
        );
        tick += step;
    }
    let _ = write!(
        svg,
        "<text class=\"unit\" x=\"{}\" y=\"{}\">{unit}</text>",
        WIDTH - RIGHT,
        AXIS + 17.0 + 12.0
    );
    if let Some(cap) = scenario.cap {
        let at = x(cap);
        let _ = write!(
            svg,
            "<line class=\"cap\" x1=\"{at:.1}\" y1=\"16\" x2=\"{at:.1}\" y2=\"{AXIS}\"/>\
             <text class=\"cap-label\" x=\"{at:.1}\" y=\"12\">cap {} {unit}</text>",
            value(cap)
        );
    }
    for (i, arm) in scenario.arms.iter().enumerate() {
        let y = ROWS[i];
        let _ = write!(
            svg,
            "<text class=\"arm\" x=\"{}\" y=\"{}\">{}</text>\
             <line class=\"row\" x1=\"{LEFT}\" y1=\"{y}\" x2=\"{}\" y2=\"{y}\"/>",
            LEFT - 8.0,
            y + 4.0,
            NAMES[i],
            WIDTH - RIGHT
        );
        for (run, (&v, &capped)) in arm.samples.iter().zip(&arm.capped).enumerate() {
            // A small vertical spread, so that equal runs stay countable.
            let dy = (run % 5) as f64 * 3.0 - 6.0;
            let (cx, cy) = (x(v), y + dy);
            let title = format!(
                "<title>{} run {}: {}{} {unit}</title>",
                NAMES[i],
                run + 1,
                if capped { "≥" } else { "" },
                value(v)
            );
            if capped {
                let _ = write!(
                    svg,
                    "<path class=\"run capped {}\" d=\"M{:.1} {:.1} L{:.1} {:.1} L{:.1} {:.1} Z\">{title}</path>",
                    CLASSES[i],
                    cx - 5.0,
                    cy - 6.0,
                    cx + 6.0,
                    cy,
                    cx - 5.0,
                    cy + 6.0
                );
            } else {
                let _ = write!(
                    svg,
                    "<circle class=\"run {}\" cx=\"{cx:.1}\" cy=\"{cy:.1}\" r=\"5\">{title}</circle>",
                    CLASSES[i]
                );
            }
        }
        // The median of runs that include capped ones at the cap is a bound.
        let bound =
            scenario.cap.is_some_and(|cap| arm.median >= cap) && arm.capped.iter().any(|&c| c);
        let m = x(arm.median);
        let _ = write!(
            svg,
            "<line class=\"median\" x1=\"{m:.1}\" y1=\"{}\" x2=\"{m:.1}\" y2=\"{}\"/>\
             <text class=\"median-label\" x=\"{m:.1}\" y=\"{}\">median {}{} {unit}</text>",
            y - 13.0,
            y + 13.0,
            y - 16.0,
            if bound { "≥" } else { "" },
            value(arm.median)
        );
    }
    svg.push_str("</svg>");
    svg
}

/// The tick step and the axis's end for values up to `top`: about five
/// steps of 1, 2 or 5 times a power of ten.
fn ticks(top: f64) -> (f64, f64) {
    if !top.is_finite() || top <= 0.0 {
        return (1.0, 5.0);
    }
    let rough = top / 5.0;
    let power = 10f64.powf(rough.log10().floor());
    let step = [1.0, 2.0, 5.0, 10.0]
        .into_iter()
        .map(|m| m * power)
        .find(|&s| s >= rough)
        .unwrap_or(10.0 * power);
    (step, (top / step).ceil() * step)
}

/// A value as the chart writes it: whole above 10, one decimal below.
fn value(v: f64) -> String {
    if v.abs() >= 10.0 || v == v.trunc() {
        format!("{v:.0}")
    } else {
        format!("{v:.1}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::ArmResult;

    fn arm(samples: &[f64], capped: &[bool]) -> ArmResult {
        ArmResult {
            median: samples[samples.len() / 2],
            samples: samples.to_vec(),
            capped: capped.to_vec(),
            timeline: Vec::new(),
            dropped: 0,
        }
    }

    #[test]
    fn ticks_are_round_and_cover_the_top() {
        assert_eq!(ticks(20_000.0), (5_000.0, 20_000.0));
        assert_eq!(ticks(12_800.0), (5_000.0, 15_000.0));
        assert_eq!(ticks(47.0), (10.0, 50.0));
        assert_eq!(ticks(0.0), (1.0, 5.0));
    }

    #[test]
    fn one_mark_per_run_and_capped_runs_at_the_cap() {
        let scenario = ScenarioResult {
            name: "quic-restart".into(),
            description: String::new(),
            metric: "time <until>".into(),
            unit: "ms".into(),
            cap: Some(20_000.0),
            arms: [
                arm(&[20_000.0, 20_000.0, 10_001.0], &[true, true, false]),
                arm(&[26.0, 31.0, 50.0], &[false, false, false]),
            ],
        };
        let svg = chart(&scenario);
        assert_eq!(svg.matches("class=\"run ").count(), 6);
        assert_eq!(svg.matches("class=\"run capped plain\"").count(), 2);
        assert_eq!(svg.matches("class=\"median\"").count(), 2);
        assert!(svg.contains("cap 20000 ms"));
        assert!(
            svg.contains("median ≥20000 ms"),
            "a capped median is a bound"
        );
        assert!(svg.contains("median 31 ms"));
        assert!(svg.contains("time &lt;until&gt;"), "escaped");
        // The capped runs sit at the cap's x, the axis's end.
        let cap_x = LEFT + (WIDTH - LEFT - RIGHT);
        assert!(svg.contains(&format!("M{:.1} ", cap_x - 5.0)));
    }
}
