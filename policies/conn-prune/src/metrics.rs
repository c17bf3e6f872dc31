//! Prometheus metrics, with the `metrics` feature.

use prometheus_client::{
    encoding::{EncodeLabelSet, EncodeLabelValue},
    metrics::{counter::Counter, family::Family, histogram::Histogram},
    registry::Registry,
};

use crate::{
    monitor::{Action, ProbeOutcome},
    Event, Reason,
};

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelValue)]
enum PruneReason {
    Unresponsive,
    ProbeFailed,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ReasonLabel {
    reason: PruneReason,
}

pub(crate) struct Metrics {
    probes_sent: Counter,
    probes_unanswered: Counter,
    probes_failed: Counter,
    overloaded: Counter,
    probe_rtt: Histogram,
    suspected: Counter,
    recovered: Counter,
    pruned: Family<ReasonLabel, Counter>,
}

impl Metrics {
    pub(crate) fn new(registry: &mut Registry) -> Self {
        let registry = registry.sub_registry_with_prefix("conn_prune");
        let metrics = Self {
            probes_sent: Counter::default(),
            probes_unanswered: Counter::default(),
            probes_failed: Counter::default(),
            overloaded: Counter::default(),
            // 1 ms to about 8 s.
            probe_rtt: Histogram::new(prometheus_client::metrics::histogram::exponential_buckets(
                0.001, 2.0, 14,
            )),
            suspected: Counter::default(),
            recovered: Counter::default(),
            pruned: Family::default(),
        };
        registry.register("probes_sent", "Probes sent", metrics.probes_sent.clone());
        registry.register(
            "probes_unanswered",
            "Probes the remote did not answer in time",
            metrics.probes_unanswered.clone(),
        );
        registry.register(
            "probes_failed",
            "Probes this node could not send or read: no verdict",
            metrics.probes_failed.clone(),
        );
        registry.register(
            "overloaded",
            "Times this node stopped judging its peers, its own timers running late",
            metrics.overloaded.clone(),
        );
        registry.register(
            "probe_rtt_seconds",
            "Round-trip time of answered probes",
            metrics.probe_rtt.clone(),
        );
        registry.register(
            "suspected",
            "Connections that missed a probe",
            metrics.suspected.clone(),
        );
        registry.register(
            "recovered",
            "Suspected connections that answered again",
            metrics.recovered.clone(),
        );
        registry.register(
            "pruned",
            "Connections pruned, by reason",
            metrics.pruned.clone(),
        );
        metrics
    }

    pub(crate) fn on_action(&self, action: &Action) {
        match action {
            Action::Probe { .. } | Action::Close { .. } => {}
            Action::Report(Event::Suspected { .. }) => {
                self.suspected.inc();
            }
            Action::Report(Event::Recovered { .. }) => {
                self.recovered.inc();
            }
            Action::Report(Event::Pruned { reason, .. }) => {
                let reason = match reason {
                    Reason::Unresponsive => PruneReason::Unresponsive,
                    Reason::ProbeFailed(_) => PruneReason::ProbeFailed,
                };
                self.pruned.get_or_create(&ReasonLabel { reason }).inc();
            }
            Action::Report(Event::Overloaded { .. }) => {
                self.overloaded.inc();
            }
        }
    }

    /// A handler's report, with the probes it started since its last one.
    pub(crate) fn on_outcome(&self, outcome: &ProbeOutcome, started: u64) {
        self.probes_sent.inc_by(started);
        match outcome {
            ProbeOutcome::Answered { rtt: Some(rtt) } => self.probe_rtt.observe(rtt.as_secs_f64()),
            ProbeOutcome::Opening | ProbeOutcome::Answered { rtt: None } => {}
            ProbeOutcome::Unanswered { .. } => {
                self.probes_unanswered.inc();
            }
            ProbeOutcome::Failed(_) => {
                self.probes_failed.inc();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use libp2p_identity::PeerId;
    use libp2p_swarm::ConnectionId;
    use prometheus_client::encoding::text::encode;

    use super::*;
    use crate::{Evidence, Trigger};

    #[test]
    fn counts_probes_rtts_and_prunes_by_reason() {
        let mut registry = Registry::default();
        let metrics = Metrics::new(&mut registry);
        let (peer, connection) = (PeerId::random(), ConnectionId::new_unchecked(1));
        metrics.on_outcome(
            &ProbeOutcome::Answered {
                rtt: Some(Duration::from_millis(3)),
            },
            1,
        );
        metrics.on_outcome(
            &ProbeOutcome::Unanswered {
                late_by: Duration::ZERO,
            },
            0,
        );
        metrics.on_outcome(&ProbeOutcome::Failed("refused".into()), 0);
        metrics.on_action(&Action::Report(Event::Pruned {
            peer,
            connection,
            reason: Reason::Unresponsive,
            evidence: Evidence {
                missed_probes: 3,
                rtt: None,
                silent_for: Duration::from_secs(4),
                trigger: Trigger::Schedule,
            },
        }));

        let mut text = String::new();
        encode(&mut text, &registry).unwrap();
        for line in [
            "conn_prune_probes_sent_total 1",
            "conn_prune_probes_unanswered_total 1",
            "conn_prune_probes_failed_total 1",
            "conn_prune_probe_rtt_seconds_count 1",
            "conn_prune_pruned_total{reason=\"Unresponsive\"} 1",
        ] {
            assert!(text.contains(line), "{line} missing from:\n{text}");
        }
    }
}
