//! The table the lab ends with: a Markdown table, aligned for a terminal.

use crate::{runner::Outcome, stats::Summary};

const HEADER: [&str; 9] = [
    "scenario",
    "metric",
    "plain median",
    "min",
    "max",
    "policies median",
    "min",
    "max",
    "policies/plain",
];

/// The table of `outcomes`, one row per scenario, then a line per scenario
/// that did not run (`notes`: its name and why) and a legend.
pub fn render(outcomes: &[Outcome], notes: &[(&str, String)]) -> String {
    let mut rows = vec![HEADER.map(str::to_owned).to_vec()];
    for outcome in outcomes {
        let unit = outcome.scenario.unit;
        let mut row = vec![
            outcome.scenario.name.to_owned(),
            format!("{} ({})", outcome.scenario.metric, unit.symbol()),
        ];
        row.extend(cells(&outcome.plain));
        row.extend(cells(&outcome.policy));
        row.push(ratio(&outcome.plain, &outcome.policy));
        rows.push(row);
    }

    let widths: Vec<usize> = (0..HEADER.len())
        .map(|c| rows.iter().map(|r| width(&r[c])).max().unwrap_or(0))
        .collect();
    let mut out = String::new();
    for (i, row) in rows.iter().enumerate() {
        out.push_str(&line(row, &widths));
        if i == 0 {
            let rule: Vec<String> = widths.iter().map(|w| "-".repeat(*w)).collect();
            out.push_str(&line(&rule, &widths));
        }
    }
    for (name, note) in notes {
        out.push_str(&format!("\n{name}: {note}"));
    }
    if !notes.is_empty() {
        out.push('\n');
    }
    out.push_str(
        "\n≥: a run that did not recover within the scenario's cap counts as the cap \
         (k capped: how many did). policies/plain: below 1 is better for times and \
         memory, above 1 for requests per second.\n",
    );
    out
}

/// Median, min and max of one arm.
fn cells(summary: &Summary) -> [String; 3] {
    let median = match summary.capped {
        0 => value(summary.median, false),
        k => format!(
            "{} ({k} capped)",
            value(summary.median, summary.median_capped())
        ),
    };
    [
        median,
        value(summary.min, summary.min_capped()),
        value(summary.max, summary.max_capped()),
    ]
}

fn value(x: f64, capped: bool) -> String {
    if capped {
        format!("≥{x:.0}")
    } else {
        format!("{x:.0}")
    }
}

/// Policy median over plain median. When one of the medians is only a
/// bound (capped), so is the ratio; when both are, it says nothing.
fn ratio(plain: &Summary, policy: &Summary) -> String {
    if plain.median <= 0.0 {
        return "n/a".to_owned();
    }
    let r = policy.median / plain.median;
    // Two decimals, or three for a ratio that two would round to nothing.
    let r = if r < 0.1 {
        format!("{r:.3}")
    } else {
        format!("{r:.2}")
    };
    match (plain.median_capped(), policy.median_capped()) {
        (false, false) => r,
        (true, false) => format!("≤{r}"),
        (false, true) => format!("≥{r}"),
        (true, true) => "n/a (both capped)".to_owned(),
    }
}

fn width(cell: &str) -> usize {
    cell.chars().count()
}

fn line(cells: &[String], widths: &[usize]) -> String {
    let padded: Vec<String> = cells
        .iter()
        .zip(widths)
        .map(|(cell, w)| format!("{cell}{}", " ".repeat(w - width(cell))))
        .collect();
    format!("| {} |\n", padded.join(" | "))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenarios::{self, Sample};

    fn summary(samples: &[Sample]) -> Summary {
        Summary::new(samples).unwrap()
    }

    #[test]
    fn capped_runs_are_marked_and_bound_the_ratio() {
        let outcome = Outcome {
            scenario: scenarios::find("webrtc-kill").unwrap(),
            runs: 3,
            plain: summary(&[Sample::capped(15000.0); 3]),
            policy: summary(&[
                Sample::measured(6000.0),
                Sample::measured(5000.0),
                Sample::measured(7000.0),
            ]),
            timelines: Default::default(),
        };
        let table = render(
            &[outcome],
            &[("dht-network-loss", "skipped: needs root".into())],
        );
        let row = table.lines().find(|l| l.contains("webrtc-kill")).unwrap();
        assert!(row.contains("≥15000 (3 capped)"), "{row}");
        assert!(row.contains("| 6000 "), "{row}");
        assert!(row.contains("≤0.40"), "{row}");
        assert!(table.contains("dht-network-loss: skipped: needs root"));
    }

    #[test]
    fn small_ratios_keep_a_digit() {
        let plain = summary(&[Sample::capped(15000.0)]);
        let policy = summary(&[Sample::measured(34.0)]);
        assert_eq!(ratio(&plain, &policy), "≤0.002");
        let both = summary(&[Sample::capped(15000.0)]);
        assert_eq!(ratio(&plain, &both), "n/a (both capped)");
        let slower = summary(&[Sample::capped(300.0)]);
        let plain = summary(&[Sample::measured(200.0)]);
        assert_eq!(ratio(&plain, &slower), "≥1.50");
    }

    #[test]
    fn columns_line_up() {
        let outcome = Outcome {
            scenario: scenarios::find("overhead").unwrap(),
            runs: 2,
            plain: summary(&[Sample::measured(5000.0), Sample::measured(5100.0)]),
            policy: summary(&[Sample::measured(4900.0), Sample::measured(5000.0)]),
            timelines: Default::default(),
        };
        let table = render(&[outcome], &[]);
        let rows: Vec<&str> = table.lines().take(3).collect();
        assert!(rows.iter().all(|r| width(r) == width(rows[0])), "{table}");
        assert!(rows[2].contains("| 5050 "), "{table}");
        assert!(rows[2].contains("| 0.98 "), "{table}");
    }
}
