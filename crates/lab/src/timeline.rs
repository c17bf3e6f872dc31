//! What happened in one run: its nodes' connection and policy events and
//! the scenario's own marks (the fault, the first success), each with its
//! time since the run started, for the report's timelines.
//!
//! The runner records one run of each arm ([`record`]); inside it, a node
//! built with [`observer`] adds its events, and the scenario [`mark`]s its
//! own moments. Outside a recorded run both do nothing, so scenarios call
//! them unconditionally.

use std::{
    fmt,
    future::Future,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use either::Either;
use libp2p::swarm::SwarmEvent;
use transport_policies::{conn_prune, rebootstrap, state_isolation, Event};

use crate::stack::LabEvent;

/// The most entries a run keeps: a run that goes wrong (a reconnect loop,
/// a flood) must not grow the report without bound. Later ones are counted.
pub const MAX_ENTRIES: usize = 200;
/// The longest text an entry keeps, in characters.
const MAX_TEXT: usize = 160;

/// What kind of moment an entry is; the report colours each kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// The scenario injected its fault (a cut, a kill, a restart).
    Fault,
    /// A connection was established or closed.
    Connection,
    /// A policy acted or reported (a suspicion, a prune, a replaced run).
    Policy,
    /// The scenario's measured moment: the first success after the fault.
    Success,
    /// The run's cap passed without its measured moment.
    Capped,
}

impl Kind {
    /// The kind's name in the JSON and the report.
    pub fn name(self) -> &'static str {
        match self {
            Self::Fault => "fault",
            Self::Connection => "connection",
            Self::Policy => "policy",
            Self::Success => "success",
            Self::Capped => "capped",
        }
    }

    /// The kind a name in the JSON stands for.
    pub fn from_name(name: &str) -> Option<Self> {
        [
            Self::Fault,
            Self::Connection,
            Self::Policy,
            Self::Success,
            Self::Capped,
        ]
        .into_iter()
        .find(|k| k.name() == name)
    }
}

/// One moment of a run.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    /// Since the run started.
    pub at: Duration,
    /// The node it happened on, as the scenario names it.
    pub node: String,
    /// What kind of moment.
    pub kind: Kind,
    /// What happened, in a line.
    pub text: String,
}

/// One run's entries, as the runner returns them.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Recorded {
    /// In the order they happened, at most [`MAX_ENTRIES`].
    pub entries: Vec<Entry>,
    /// Entries past [`MAX_ENTRIES`], not kept.
    pub dropped: usize,
}

#[derive(Clone)]
struct Timeline {
    started: Instant,
    recorded: Arc<Mutex<Recorded>>,
}

impl Timeline {
    fn push(&self, node: &str, kind: Kind, text: impl fmt::Display) {
        self.push_at(Instant::now(), node, kind, text);
    }

    fn push_at(&self, when: Instant, node: &str, kind: Kind, text: impl fmt::Display) {
        let at = when.saturating_duration_since(self.started);
        let mut recorded = self.recorded.lock().expect("no panic while held");
        if recorded.entries.len() >= MAX_ENTRIES {
            recorded.dropped += 1;
            return;
        }
        let mut text = text.to_string();
        if let Some((cut, _)) = text.char_indices().nth(MAX_TEXT) {
            text.truncate(cut);
            text.push('…');
        }
        recorded.entries.push(Entry {
            at,
            node: node.to_owned(),
            kind,
            text,
        });
    }
}

tokio::task_local! {
    static CURRENT: Timeline;
}

/// Runs `run`, recording what [`mark`] and the nodes built with
/// [`observer`] within it report.
pub async fn record<T>(run: impl Future<Output = T>) -> (T, Recorded) {
    let timeline = Timeline {
        started: Instant::now(),
        recorded: Arc::default(),
    };
    let output = CURRENT.scope(timeline.clone(), run).await;
    let recorded = std::mem::take(&mut *timeline.recorded.lock().expect("no panic while held"));
    (output, recorded)
}

/// Marks a moment of the scenario's on `node`, if this run is recorded.
pub fn mark(node: &str, kind: Kind, text: impl fmt::Display) {
    let _ = CURRENT.try_with(|timeline| timeline.push(node, kind, text));
}

/// Marks a moment that happened at `when`, found out later (a delivery
/// seen only once the run's messages are counted).
pub fn mark_at(when: Instant, node: &str, kind: Kind, text: impl fmt::Display) {
    let _ = CURRENT.try_with(|timeline| timeline.push_at(when, node, kind, text));
}

/// An observer for a testkit node named `node`
/// ([`testkit::Node::spawn_observed`]): it adds the node's connection events
/// and, through [`Notable`], its behaviour's events that matter to the
/// timeline, if this run is recorded.
pub fn observer<E: Notable>(node: &str) -> impl FnMut(&SwarmEvent<E>) + Send + 'static {
    let timeline = CURRENT.try_with(Timeline::clone).ok();
    let node = node.to_owned();
    move |event| {
        if let Some(timeline) = &timeline {
            if let Some((kind, text)) = describe(event) {
                timeline.push(&node, kind, text);
            }
        }
    }
}

/// A behaviour event the timeline shows, in a line; `None` for the rest.
pub trait Notable {
    /// The event's kind and line, if the timeline shows it.
    fn notable(&self) -> Option<(Kind, String)>;
}

fn describe<E: Notable>(event: &SwarmEvent<E>) -> Option<(Kind, String)> {
    match event {
        SwarmEvent::ConnectionEstablished {
            peer_id,
            connection_id,
            endpoint,
            ..
        } => Some((
            Kind::Connection,
            format!(
                "{} to {} established ({})",
                conn(connection_id),
                short(peer_id),
                if endpoint.is_dialer() {
                    "dialed"
                } else {
                    "accepted"
                }
            ),
        )),
        SwarmEvent::ConnectionClosed {
            peer_id,
            connection_id,
            cause,
            ..
        } => Some((
            Kind::Connection,
            match cause {
                Some(cause) => format!(
                    "{} to {} closed: {cause}",
                    conn(connection_id),
                    short(peer_id)
                ),
                None => format!("{} to {} closed", conn(connection_id), short(peer_id)),
            },
        )),
        SwarmEvent::Behaviour(event) => event.notable(),
        _ => None,
    }
}

/// `connection 3` for `ConnectionId(3)`, whose number is not public.
fn conn(connection: &libp2p::swarm::ConnectionId) -> String {
    let debug = format!("{connection:?}");
    let number: String = debug.chars().filter(char::is_ascii_digit).collect();
    format!("connection {number}")
}

/// The last characters of a peer id: enough to tell a run's peers apart.
fn short(peer: &impl fmt::Display) -> String {
    let full = peer.to_string();
    let tail = full.len().saturating_sub(6);
    format!("peer …{}", &full[tail..])
}

impl Notable for LabEvent {
    fn notable(&self) -> Option<(Kind, String)> {
        match self {
            LabEvent::App(_) => None,
            LabEvent::Policy(event) => policy_event(event),
        }
    }
}

/// A node that is the application alone or inside the facade's bundle, as
/// the scenarios with an application of their own build it.
impl<A> Notable for Either<A, Event<A>> {
    fn notable(&self) -> Option<(Kind, String)> {
        match self {
            Either::Left(_) => None,
            Either::Right(event) => policy_event(event),
        }
    }
}

/// The policies' events that say what they did, for any application event.
pub fn policy_event<A>(event: &Event<A>) -> Option<(Kind, String)> {
    let text = match event {
        Event::Prune(event) => prune(event),
        Event::Isolation(event) => isolation(event),
        Event::Rebootstrap(event) => rebootstrap_event(event)?,
        Event::Quota(event) => format!("stream-quota: {}", debug_name(event)),
        _ => return None,
    };
    Some((Kind::Policy, text))
}

fn prune(event: &conn_prune::Event) -> String {
    match event {
        conn_prune::Event::Pruned {
            peer,
            connection,
            reason,
            evidence,
            ..
        } => format!(
            "conn-prune pruned {} to {}: {reason:?}, {} probes missed, silent for {:.1} s",
            conn(connection),
            short(peer),
            evidence.missed_probes,
            evidence.silent_for.as_secs_f64()
        ),
        conn_prune::Event::Suspected {
            peer, connection, ..
        } => format!(
            "conn-prune suspects {} to {}",
            conn(connection),
            short(peer)
        ),
        conn_prune::Event::Recovered {
            peer, connection, ..
        } => format!(
            "conn-prune: {} to {} answered again",
            conn(connection),
            short(peer)
        ),
        other => format!("conn-prune: {}", debug_name(other)),
    }
}

fn isolation(event: &state_isolation::Event) -> String {
    match event {
        state_isolation::Event::Replaced(replacement) => {
            format!(
                "state-isolation: a new run of {} on {}, {} older connections closed",
                short(&replacement.peer),
                conn(&replacement.connection),
                replacement.closed.len()
            )
        }
        state_isolation::Event::Stale {
            peer, connection, ..
        } => format!(
            "state-isolation closed {} to {}: of a replaced run",
            conn(connection),
            short(peer)
        ),
        other => format!("state-isolation: {}", debug_name(other)),
    }
}

fn rebootstrap_event(event: &rebootstrap::Event) -> Option<String> {
    match event {
        rebootstrap::Event::Kad(_) => None,
        other => Some(format!("rebootstrap: {}", debug_name(other))),
    }
}

/// An event's `Debug` form up to its fields: the variant's name.
fn debug_name(event: &impl fmt::Debug) -> String {
    let full = format!("{event:?}");
    match full.find([' ', '(', '{']) {
        Some(end) => full[..end].to_owned(),
        None => full,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn records_marks_within_a_run_and_nothing_outside() {
        mark("x", Kind::Fault, "outside any run");
        let ((), recorded) = record(async {
            mark("x", Kind::Fault, "cut");
            mark("x", Kind::Success, "served");
        })
        .await;
        let texts: Vec<_> = recorded.entries.iter().map(|e| e.text.as_str()).collect();
        assert_eq!(texts, ["cut", "served"]);
        assert!(recorded.entries[0].at <= recorded.entries[1].at);
    }

    #[tokio::test]
    async fn keeps_at_most_max_entries_and_counts_the_rest() {
        let ((), recorded) = record(async {
            for i in 0..MAX_ENTRIES + 5 {
                mark("x", Kind::Policy, i);
            }
        })
        .await;
        assert_eq!(recorded.entries.len(), MAX_ENTRIES);
        assert_eq!(recorded.dropped, 5);
    }

    #[tokio::test]
    async fn cuts_long_texts() {
        let ((), recorded) = record(async { mark("x", Kind::Policy, "y".repeat(1000)) }).await;
        assert_eq!(recorded.entries[0].text.chars().count(), MAX_TEXT + 1);
    }

    #[test]
    fn names_round_trip() {
        for kind in [
            Kind::Fault,
            Kind::Connection,
            Kind::Policy,
            Kind::Success,
            Kind::Capped,
        ] {
            assert_eq!(Kind::from_name(kind.name()), Some(kind));
        }
    }
}
