//! The lab's JSON document read back: what the page draws.

use std::fmt;

use serde_json::Value;

use crate::timeline::Kind;

/// A lab run, as its JSON document holds it.
#[derive(Debug, Clone, PartialEq)]
pub struct Document {
    /// When it ran.
    pub date: String,
    /// Where.
    pub machine: String,
    /// Runs per arm asked for.
    pub runs: u64,
    /// Nodes in the DHT scenarios.
    pub nodes: u64,
    /// The plain arm's stack and the policy arm's.
    pub arms: [String; 2],
    /// The scenarios, in the order they ran.
    pub scenarios: Vec<ScenarioResult>,
}

/// One scenario's result.
#[derive(Debug, Clone, PartialEq)]
pub struct ScenarioResult {
    /// Its name.
    pub name: String,
    /// What it does.
    pub description: String,
    /// What it measures.
    pub metric: String,
    /// The unit of the samples.
    pub unit: String,
    /// The cap, in the unit, if it has one.
    pub cap: Option<f64>,
    /// Plain's runs, then the policies'.
    pub arms: [ArmResult; 2],
}

/// One arm's runs of a scenario.
#[derive(Debug, Clone, PartialEq)]
pub struct ArmResult {
    /// The median.
    pub median: f64,
    /// Every run's value, in run order; a capped run's is the cap.
    pub samples: Vec<f64>,
    /// Which runs were capped.
    pub capped: Vec<bool>,
    /// What happened in the first run.
    pub timeline: Vec<TimelineEntry>,
    /// Timeline entries past the recorder's bound.
    pub dropped: u64,
}

/// One moment of a recorded run.
#[derive(Debug, Clone, PartialEq)]
pub struct TimelineEntry {
    /// Since the run started, in milliseconds.
    pub at_ms: f64,
    /// The node.
    pub node: String,
    /// What kind of moment.
    pub kind: Kind,
    /// What happened.
    pub text: String,
}

/// A document the page cannot be drawn from.
#[derive(Debug)]
#[non_exhaustive]
pub enum ReportError {
    /// It is not JSON.
    Json(serde_json::Error),
    /// A field is missing or of the wrong type.
    Field(String),
}

impl fmt::Display for ReportError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Json(e) => write!(f, "the lab's JSON document does not parse: {e}"),
            Self::Field(path) => write!(f, "the lab's JSON document has no valid {path}"),
        }
    }
}

impl std::error::Error for ReportError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Json(e) => Some(e),
            Self::Field(_) => None,
        }
    }
}

impl Document {
    /// Reads the lab's JSON document.
    pub fn parse(text: &str) -> Result<Self, ReportError> {
        let v: Value = serde_json::from_str(text).map_err(ReportError::Json)?;
        let scenarios = array(&v, "scenarios")?
            .iter()
            .map(ScenarioResult::from_json)
            .collect::<Result<_, _>>()?;
        Ok(Self {
            date: string(&v, "date")?,
            machine: string(&v, "machine")?,
            runs: integer(&v, "runs")?,
            nodes: integer(&v, "nodes")?,
            arms: [
                string(field(&v, "arms")?, "plain")?,
                string(field(&v, "arms")?, "policy")?,
            ],
            scenarios,
        })
    }
}

impl ScenarioResult {
    fn from_json(v: &Value) -> Result<Self, ReportError> {
        let name = string(v, "scenario")?;
        let within = |e: ReportError| match e {
            ReportError::Field(path) => ReportError::Field(format!("{path} in {name}")),
            e => e,
        };
        let arm = |key| ArmResult::from_json(field(v, key)?).map_err(within);
        Ok(Self {
            description: string(v, "description").map_err(within)?,
            metric: string(v, "metric").map_err(within)?,
            unit: string(v, "unit").map_err(within)?,
            cap: field(v, "cap").map_err(within)?.as_f64(),
            arms: [arm("plain")?, arm("policy")?],
            name,
        })
    }
}

impl ArmResult {
    fn from_json(v: &Value) -> Result<Self, ReportError> {
        let samples = array(v, "samples")?
            .iter()
            .map(|s| s.as_f64().ok_or_else(|| missing("samples")))
            .collect::<Result<Vec<_>, _>>()?;
        let capped = array(v, "capped_runs")?
            .iter()
            .map(|c| c.as_bool().ok_or_else(|| missing("capped_runs")))
            .collect::<Result<Vec<_>, _>>()?;
        if capped.len() != samples.len() {
            return Err(missing("capped_runs, one per sample"));
        }
        let timeline = field(v, "timeline")?;
        Ok(Self {
            median: number(v, "median")?,
            samples,
            capped,
            timeline: array(timeline, "entries")?
                .iter()
                .map(TimelineEntry::from_json)
                .collect::<Result<_, _>>()?,
            dropped: integer(timeline, "dropped")?,
        })
    }
}

impl TimelineEntry {
    fn from_json(v: &Value) -> Result<Self, ReportError> {
        let kind = string(v, "kind")?;
        Ok(Self {
            at_ms: number(v, "at_ms")?,
            node: string(v, "node")?,
            kind: Kind::from_name(&kind).ok_or_else(|| missing("kind"))?,
            text: string(v, "text")?,
        })
    }
}

fn missing(path: &str) -> ReportError {
    ReportError::Field(path.to_owned())
}

fn field<'a>(v: &'a Value, key: &str) -> Result<&'a Value, ReportError> {
    v.get(key).ok_or_else(|| missing(key))
}

fn string(v: &Value, key: &str) -> Result<String, ReportError> {
    field(v, key)?
        .as_str()
        .map(str::to_owned)
        .ok_or_else(|| missing(key))
}

fn number(v: &Value, key: &str) -> Result<f64, ReportError> {
    field(v, key)?.as_f64().ok_or_else(|| missing(key))
}

fn integer(v: &Value, key: &str) -> Result<u64, ReportError> {
    field(v, key)?.as_u64().ok_or_else(|| missing(key))
}

fn array<'a>(v: &'a Value, key: &str) -> Result<&'a Vec<Value>, ReportError> {
    field(v, key)?.as_array().ok_or_else(|| missing(key))
}
