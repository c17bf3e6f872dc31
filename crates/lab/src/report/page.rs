//! The page around the charts: the run's date, machine and arms, and a
//! section per scenario.

use std::fmt::Write as _;

use super::{chart::chart, escape, timeline::timeline, Document};

/// Nothing may load: the page is its own content, so that it opens the
/// same offline, from a file, years later.
const CSP: &str = "default-src 'none'; style-src 'unsafe-inline'; img-src 'none'";

const STYLE: &str = "\
body{font:14px/1.45 system-ui,sans-serif;color:#1b1f24;max-width:820px;margin:24px auto;padding:0 16px}\
h1{font-size:22px;margin:0 0 4px}h2{font-size:18px;margin:32px 0 4px;border-top:1px solid #d0d7de;padding-top:16px}\
h4{margin:12px 0 2px;font-size:13px}.meta,.desc{color:#57606a}dl{display:grid;grid-template-columns:max-content 1fr;gap:2px 12px}\
dt{font-weight:600}dd{margin:0}svg{display:block;overflow:visible}\
.axis,.tick{stroke:#57606a}.row{stroke:#d0d7de}.cap,.origin{stroke:#cf222e;stroke-dasharray:4 3}\
text{font-size:11px;fill:#57606a}.tick-label,.cap-label,.median-label{text-anchor:middle}\
.arm,.lane{text-anchor:end;font-size:12px;fill:#1b1f24}.unit{text-anchor:end}.cap-label{fill:#cf222e}\
.run.plain{fill:#8c959f}.run.policy{fill:#0969da}.run.capped{fill:none;stroke-width:1.5}\
.run.capped.plain{stroke:#6e7781}.run.capped.policy{stroke:#0969da}.median{stroke:#1b1f24;stroke-width:2}\
.moment.fault{fill:#cf222e}.moment.connection{fill:#8c959f}.moment.policy{fill:#0969da}.moment.success{fill:#1a7f37}\
.moment.capped{fill:none;stroke:#cf222e;stroke-width:1.5}ol.moments li.capped .at{color:#cf222e}\
ol.moments{font-size:12px;margin:4px 0;padding-left:32px;max-height:220px;overflow:auto}\
ol.moments li.fault .at{color:#cf222e}ol.moments li.success .at{color:#1a7f37}ol.moments li.policy .at{color:#0969da}\
.at{font-variant-numeric:tabular-nums;display:inline-block;min-width:80px}.node{font-weight:600}\
.legend span{margin-right:14px}.dot{display:inline-block;width:9px;height:9px;border-radius:50%;margin-right:4px}";

/// The whole page.
pub(super) fn page(document: &Document) -> String {
    let mut html = format!(
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta http-equiv=\"Content-Security-Policy\" content=\"{CSP}\">\
         <meta name=\"viewport\" content=\"width=device-width\">\
         <title>policy-lab report, {}</title><style>{STYLE}</style></head><body>",
        escape(&document.date)
    );
    let _ = write!(
        html,
        "<h1>policy-lab: plain rust-libp2p and the transport policies, side by side</h1>\
         <p class=\"meta\">{} · {} · {} runs per arm · DHT scenarios with {} nodes</p>\
         <dl><dt>plain</dt><dd>{}</dd><dt>policies</dt><dd>{}</dd></dl>\
         <p class=\"legend\"><span><i class=\"dot\" style=\"background:#8c959f\"></i>plain run</span>\
         <span><i class=\"dot\" style=\"background:#0969da\"></i>run with the policies</span>\
         <span>▷ hollow: capped (did not recover within the cap)</span><span>| median</span></p>",
        escape(&document.date),
        escape(&document.machine),
        document.runs,
        document.nodes,
        escape(&document.arms[0]),
        escape(&document.arms[1]),
    );
    html.push_str("<nav><ul>");
    for s in &document.scenarios {
        let _ = write!(html, "<li><a href=\"#{0}\">{0}</a></li>", escape(&s.name));
    }
    html.push_str("</ul></nav>");
    for s in &document.scenarios {
        let _ = write!(
            html,
            "<section class=\"scenario\" id=\"{}\"><h2>{}</h2><p class=\"desc\">{}</p>\
             <p><b>Metric:</b> {} ({}){}</p>{}<h3>Timelines</h3>{}{}</section>",
            escape(&s.name),
            escape(&s.name),
            escape(&s.description),
            escape(&s.metric),
            escape(&s.unit),
            s.cap.map_or(String::new(), |cap| format!(
                "; a run that has not recovered by {cap:.0} {} is capped there",
                escape(&s.unit)
            )),
            chart(s),
            timeline(&s.arms[0], "plain", "plain"),
            timeline(&s.arms[1], "policy", "policies"),
        );
    }
    html.push_str("</body></html>\n");
    html
}
