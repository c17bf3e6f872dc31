//! The lab's report page (`policy-lab --report`), drawn from the recorded
//! run in `docs/report/lab.json` and opened in headless Chromium by
//! `browser/report.mjs`: every scenario's chart is drawn with a mark per
//! run, every recorded timeline with a mark per moment, and the page makes
//! no request.

use std::{
    path::{Path, PathBuf},
    process::Command,
};

use policy_lab::report::{self, Document};
use serde_json::Value;

use crate::page;

/// The viewport `report.mjs` opens the page in.
const VIEWPORT_WIDTH: u64 = 900;
/// The width every chart and timeline is drawn at.
const DRAWN_WIDTH: f64 = 760.0;

#[test]
fn the_report_of_a_recorded_run_draws_every_scenario_and_fetches_nothing() {
    let Some(dir) = page::ready() else { return };
    let recorded = Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/report/lab.json");
    let json = std::fs::read_to_string(&recorded).expect("the recorded run is committed");
    let document = Document::parse(&json).expect("the recorded run parses");
    assert!(!document.scenarios.is_empty());

    let out = scratch_dir();
    let html = out.join("report.html");
    let screenshot = out.join("report.png");
    std::fs::write(&html, report::render(&json).expect("it renders")).unwrap();
    let output = Command::new("node")
        .arg(dir.join("report.mjs"))
        .arg(&html)
        .arg(&screenshot)
        .arg("--chromium")
        .arg(page::CHROMIUM)
        .current_dir(&dir)
        .output()
        .expect("node runs report.mjs");
    assert!(
        output.status.success(),
        "report.mjs failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let drawn: Value = serde_json::from_slice(&output.stdout).expect("one line of JSON");
    eprintln!("Chromium {}", drawn["chromium"]);

    assert_eq!(drawn["requests"], serde_json::json!([]), "the page fetched");
    assert_eq!(
        drawn["console"],
        serde_json::json!([]),
        "the page complained"
    );
    assert_eq!(drawn["sections"], document.scenarios.len());

    let charts = drawn["charts"].as_array().unwrap();
    assert_eq!(charts.len(), document.scenarios.len());
    for (chart, scenario) in charts.iter().zip(&document.scenarios) {
        assert_eq!(chart["scenario"], scenario.name.as_str());
        let runs: usize = scenario.arms.iter().map(|a| a.samples.len()).sum();
        assert_eq!(chart["runs"], runs, "{}: a mark per run", scenario.name);
        assert_eq!(
            chart["runs_drawn"], runs,
            "{}: every mark on the canvas",
            scenario.name
        );
        assert_eq!(chart["medians"], 2, "{}", scenario.name);
        assert_eq!(
            chart["width"].as_f64(),
            Some(DRAWN_WIDTH),
            "{}",
            scenario.name
        );
        assert!(
            chart["height"].as_f64().unwrap() >= 100.0,
            "{}",
            scenario.name
        );
    }

    let timelines = drawn["timelines"].as_array().unwrap();
    let recorded: Vec<(&str, &str, usize)> = document
        .scenarios
        .iter()
        .flat_map(|s| {
            ["plain", "policy"]
                .into_iter()
                .zip(&s.arms)
                .filter(|(_, arm)| !arm.timeline.is_empty())
                .map(|(arm_name, arm)| (s.name.as_str(), arm_name, arm.timeline.len()))
        })
        .collect();
    assert!(
        recorded.len() >= 2,
        "the recorded run has timelines to draw"
    );
    let shown: Vec<(&str, &str, usize)> = timelines
        .iter()
        .map(|t| {
            assert_eq!(t["width"].as_f64(), Some(DRAWN_WIDTH));
            assert!(t["height"].as_f64().unwrap() >= 100.0);
            (
                t["scenario"].as_str().unwrap(),
                t["arm"].as_str().unwrap(),
                t["moments"].as_u64().unwrap() as usize,
            )
        })
        .collect();
    assert_eq!(
        shown, recorded,
        "a timeline per recorded run, a mark per moment"
    );

    let (width, height) = png_size(&screenshot);
    assert_eq!(width, VIEWPORT_WIDTH);
    assert!(
        height > 300 * document.scenarios.len() as u64,
        "the full page: {height} px"
    );
    std::fs::remove_dir_all(&out).unwrap();
}

/// A directory of this test's own, empty.
fn scratch_dir() -> PathBuf {
    let dir = std::env::temp_dir().join(format!("policy-lab-report-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A PNG's width and height, from its IHDR chunk.
fn png_size(path: &Path) -> (u64, u64) {
    let bytes = std::fs::read(path).expect("the screenshot is written");
    assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n", "a PNG");
    assert_eq!(&bytes[12..16], b"IHDR");
    let be = |at: usize| u64::from(u32::from_be_bytes(bytes[at..at + 4].try_into().unwrap()));
    (be(16), be(20))
}
