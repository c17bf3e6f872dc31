//! Prometheus metrics, with the `metrics` feature: the ledger's node and
//! protocol counts read at scrape time (exact, nothing to keep in step), and
//! a counter of the policy's events. Peers and connections are left out, so
//! the label sets stay bounded by the node's own protocols.

use prometheus_client::{
    encoding::{DescriptorEncoder, EncodeLabelSet, EncodeLabelValue, EncodeMetric},
    metrics::{
        counter::{ConstCounter, Counter},
        family::Family,
        gauge::ConstGauge,
        MetricType,
    },
    registry::Registry,
};

use std::time::Instant;

use crate::{Direction, Event, Quota, ScopeStats};

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelValue)]
enum Kind {
    Refused,
    Starved,
    Recycled,
    RecycleFailed,
    Leaked,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct KindLabel {
    kind: Kind,
}

/// The behaviour's side: events counted as they are reported.
pub(crate) struct Metrics {
    events: Family<KindLabel, Counter>,
}

impl Metrics {
    pub(crate) fn new(registry: &mut Registry, quota: &Quota) -> Self {
        let registry = registry.sub_registry_with_prefix("stream_quota");
        let events = Family::<KindLabel, Counter>::default();
        registry.register(
            "events",
            "Events the policy reported, by kind",
            events.clone(),
        );
        registry.register_collector(Box::new(LedgerCollector {
            quota: quota.clone(),
        }));
        Self { events }
    }

    pub(crate) fn on_event(&self, event: &Event) {
        let kind = match event {
            Event::Refused { .. } => Kind::Refused,
            Event::Starved { .. } => Kind::Starved,
            Event::Recycled { .. } => Kind::Recycled,
            Event::RecycleFailed { .. } => Kind::RecycleFailed,
            Event::Leaked { .. } => Kind::Leaked,
        };
        self.events.get_or_create(&KindLabel { kind }).inc();
    }
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Metrics")
    }
}

/// Reads the ledger on each scrape.
#[derive(Debug)]
struct LedgerCollector {
    quota: Quota,
}

const DIRECTIONS: [(Direction, &str); 2] = [
    (Direction::Inbound, "inbound"),
    (Direction::Outbound, "outbound"),
];

impl prometheus_client::collector::Collector for LedgerCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        // Not a snapshot: its maps of every peer and connection are not
        // needed here, and would hold the ledger longer.
        let gauges = self.quota.shared().ledger().gauges(Instant::now());
        let mut scopes: Vec<(&str, &ScopeStats)> = vec![("", &gauges.node)];
        scopes.extend(gauges.protocols.iter().map(|(p, s)| (p.as_ref(), s)));

        let series: [(&str, &str, MetricType, fn(&ScopeStats, Direction) -> u64); 3] = [
            (
                "open_streams",
                "Streams open now",
                MetricType::Gauge,
                |s, d| u64::from(s.direction(d).open),
            ),
            (
                "opened_streams",
                "Streams admitted",
                MetricType::Counter,
                |s, d| s.direction(d).opened,
            ),
            (
                "refused_streams",
                "Streams refused by a limit",
                MetricType::Counter,
                |s, d| s.direction(d).refused,
            ),
        ];
        for (name, help, metric_type, value) in series {
            let mut metric = encoder.encode_descriptor(
                name,
                &format!("{help}, node-wide (protocol=\"\") and per protocol"),
                None,
                metric_type,
            )?;
            for (protocol, stats) in &scopes {
                for (direction, label) in DIRECTIONS {
                    let labels = [("protocol", *protocol), ("direction", label)];
                    let family = metric.encode_family(&labels)?;
                    let v = value(stats, direction);
                    match metric_type {
                        MetricType::Counter => ConstCounter::new(v).encode(family)?,
                        _ => ConstGauge::new(v as i64).encode(family)?,
                    }
                }
            }
        }
        let blocked = gauges.blocked_connections;
        let metric = encoder.encode_descriptor(
            "blocked_connections",
            "Connections with an outbound open waiting for stream credit",
            None,
            MetricType::Gauge,
        )?;
        ConstGauge::new(blocked as i64).encode(metric)?;
        let oldest = gauges.node.oldest_open.unwrap_or_default().as_secs_f64();
        let metric = encoder.encode_descriptor(
            "oldest_open_stream_seconds",
            "Age of the oldest open stream",
            None,
            MetricType::Gauge,
        )?;
        ConstGauge::new(oldest).encode(metric)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Config;

    #[test]
    fn a_scrape_shows_node_and_event_series() {
        let quota = Quota::new(Config::default()).unwrap();
        let mut registry = Registry::default();
        let metrics = Metrics::new(&mut registry, &quota);
        metrics.on_event(&Event::Starved {
            peer: libp2p_identity::PeerId::random(),
            connection: libp2p_swarm::ConnectionId::new_unchecked(1),
            blocked_for: std::time::Duration::from_secs(2),
        });
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &registry).unwrap();
        for expected in [
            "stream_quota_open_streams{protocol=\"\",direction=\"inbound\"} 0",
            "stream_quota_opened_streams_total{protocol=\"\",direction=\"outbound\"} 0",
            "stream_quota_events_total{kind=\"Starved\"} 1",
            "stream_quota_blocked_connections 0",
        ] {
            assert!(text.contains(expected), "{expected} missing from:\n{text}");
        }
    }
}
