//! `--report FILE.html`: one self-contained page of a lab run, drawn from
//! the run's JSON document ([`crate::json::document`]), which is written
//! beside it.
//!
//! Per scenario, a chart of every run of both arms on one axis
//! (`chart.rs`), and the timeline of each arm's first run (`timeline.rs`).
//! The page fetches nothing: its SVG and CSS are inline, and its content
//! security policy forbids any load. The SVG is written here by hand: a
//! strip of dots, a few lines and labels per chart is less code than the
//! configuration a chart crate would need, adds nothing to the lab's
//! build, and keeps the markup small and stable for the browser test to
//! count.

mod about;
mod chart;
mod model;
mod page;
mod timeline;

pub use about::About;
pub use model::{ArmResult, Document, ReportError, ScenarioResult, TimelineEntry};

/// The HTML page for the lab's JSON `document`.
pub fn render(document: &str) -> Result<String, ReportError> {
    let document = Document::parse(document)?;
    Ok(page::page(&document))
}

/// `s` with the five characters HTML gives a meaning escaped.
fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_markup() {
        assert_eq!(
            escape("<a href=\"x\">'&'</a>"),
            "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;"
        );
    }
}
