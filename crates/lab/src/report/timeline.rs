//! One run's timeline: a lane per kind of moment on a time axis from the
//! fault, and the moments listed below it.

use std::fmt::Write as _;

use super::{escape, ArmResult};
use crate::timeline::Kind;

const WIDTH: f64 = 760.0;
const LEFT: f64 = 90.0;
const RIGHT: f64 = 24.0;
const TOP: f64 = 14.0;
const LANE: f64 = 22.0;
/// The lanes, top to bottom, and what each is called.
const LANES: [(&str, &[Kind]); 4] = [
    ("fault", &[Kind::Fault]),
    ("connection", &[Kind::Connection]),
    ("policy", &[Kind::Policy]),
    ("outcome", &[Kind::Success, Kind::Capped]),
];

/// `arm`'s recorded run: an `<svg class="timeline">` with one `.moment`
/// per entry, and the entries as a list. Times are from the first fault,
/// or from the run's start if it had none.
pub(super) fn timeline(arm: &ArmResult, class: &str, name: &str) -> String {
    let entries = &arm.timeline;
    if entries.is_empty() {
        return format!(
            "<p class=\"no-timeline\">{name}: this scenario's nodes report no connection or \
             policy events (it measures throughput or memory, not a fault).</p>"
        );
    }
    let fault = entries.iter().find(|e| e.kind == Kind::Fault);
    let origin = fault.map_or(0.0, |e| e.at_ms);
    let from = entries.iter().map(|e| e.at_ms - origin).fold(0.0, f64::min);
    let to = entries
        .iter()
        .map(|e| e.at_ms - origin)
        .fold(0.0_f64, f64::max)
        .max(from + 1.0);
    let x = |t: f64| LEFT + (t - from) / (to - from) * (WIDTH - LEFT - RIGHT);
    let axis = TOP + LANE * LANES.len() as f64;
    let height = axis + 34.0;

    let mut svg = format!(
        "<svg class=\"timeline {class}\" width=\"{WIDTH}\" height=\"{height}\" \
         viewBox=\"0 0 {WIDTH} {height}\" role=\"img\" aria-label=\"{name}: the first run's events\">"
    );
    for (lane, (label, _)) in LANES.iter().enumerate() {
        let y = TOP + LANE * lane as f64 + LANE / 2.0;
        let _ = write!(
            svg,
            "<text class=\"lane\" x=\"{}\" y=\"{}\">{}</text>\
             <line class=\"row\" x1=\"{LEFT}\" y1=\"{y}\" x2=\"{}\" y2=\"{y}\"/>",
            LEFT - 8.0,
            y + 4.0,
            label,
            WIDTH - RIGHT
        );
    }
    let _ = write!(
        svg,
        "<line class=\"axis\" x1=\"{LEFT}\" y1=\"{axis}\" x2=\"{}\" y2=\"{axis}\"/>",
        WIDTH - RIGHT
    );
    for t in [from, from + (to - from) / 2.0, to] {
        let _ = write!(
            svg,
            "<text class=\"tick-label\" x=\"{:.1}\" y=\"{}\">{}</text>",
            x(t),
            axis + 16.0,
            seconds(t)
        );
    }
    if fault.is_some() {
        let _ = write!(
            svg,
            "<line class=\"origin\" x1=\"{0:.1}\" y1=\"{TOP}\" x2=\"{0:.1}\" y2=\"{axis}\"/>",
            x(0.0)
        );
    }
    let _ = write!(
        svg,
        "<text class=\"unit\" x=\"{}\" y=\"{}\">{}</text>",
        WIDTH - RIGHT,
        axis + 30.0,
        if fault.is_some() {
            "s from the fault"
        } else {
            "s from the run's start"
        }
    );
    for e in entries {
        let lane = LANES
            .iter()
            .position(|(_, kinds)| kinds.contains(&e.kind))
            .unwrap_or(0);
        let y = TOP + LANE * lane as f64 + LANE / 2.0;
        let _ = write!(
            svg,
            "<circle class=\"moment {}\" cx=\"{:.1}\" cy=\"{y}\" r=\"4.5\"><title>{} {}: {}</title></circle>",
            e.kind.name(),
            x(e.at_ms - origin),
            seconds(e.at_ms - origin),
            escape(&e.node),
            escape(&e.text)
        );
    }
    svg.push_str("</svg>");

    let mut list = String::from("<ol class=\"moments\">");
    for e in entries {
        let _ = write!(
            list,
            "<li class=\"{}\"><span class=\"at\">{}</span> <span class=\"node\">{}</span> {}</li>",
            e.kind.name(),
            seconds(e.at_ms - origin),
            escape(&e.node),
            escape(&e.text)
        );
    }
    if arm.dropped > 0 {
        let _ = write!(
            list,
            "<li class=\"dropped\">… and {} more, not kept</li>",
            arm.dropped
        );
    }
    list.push_str("</ol>");
    format!("<div class=\"run-timeline\"><h4>{name}, first run</h4>{svg}{list}</div>")
}

/// Milliseconds from the fault as signed seconds, `+4.512 s`.
fn seconds(ms: f64) -> String {
    format!("{:+.3} s", ms / 1000.0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::TimelineEntry;

    fn entry(at_ms: f64, kind: Kind, text: &str) -> TimelineEntry {
        TimelineEntry {
            at_ms,
            node: "survivor".into(),
            kind,
            text: text.into(),
        }
    }

    #[test]
    fn times_count_from_the_fault() {
        let arm = ArmResult {
            median: 0.0,
            samples: vec![],
            capped: vec![],
            timeline: vec![
                entry(100.0, Kind::Connection, "connection 1 established"),
                entry(6_000.0, Kind::Fault, "SIGKILLed"),
                entry(10_512.0, Kind::Policy, "conn-prune pruned <1>"),
            ],
            dropped: 2,
        };
        let html = timeline(&arm, "policy", "policies");
        assert_eq!(html.matches("class=\"moment ").count(), 3);
        assert!(html.contains("-5.900 s"));
        assert!(html.contains("+4.512 s"));
        assert!(html.contains("pruned &lt;1&gt;"));
        assert!(html.contains("2 more"));
    }

    #[test]
    fn an_empty_run_says_so() {
        let arm = ArmResult {
            median: 0.0,
            samples: vec![],
            capped: vec![],
            timeline: vec![],
            dropped: 0,
        };
        assert!(timeline(&arm, "plain", "plain").contains("no-timeline"));
    }
}
