//! `dht-peers-restart`: failure 5, every peer of a DHT node restarts.

use std::time::{Duration, Instant};

use super::{dht, Arm, Context, RunError, Sample, Scenario, Unit};
use crate::timeline::{self, Kind};

/// Plain Kademlia stays alone (until its periodic bootstrap, 5 minutes on);
/// the policy arm takes conn-prune's detection (about 9.5 s at worst) and
/// milliseconds more.
const CAP: Duration = Duration::from_secs(20);

/// How often the peers are asked whether they hold X.
const POLL: Duration = Duration::from_millis(100);

/// Peers in flight at once, over all runs: `--nodes 8` runs all six runs
/// together, larger networks fewer.
const MAX_CHILDREN: usize = 48;

/// See the module docs.
pub(crate) const SCENARIO: Scenario = Scenario {
    name: "dht-peers-restart",
    description: "X, in process on QUIC, is in a Kademlia DHT of --nodes nodes (its peers \
                  in child processes, three of them its bootstrap peers); every peer is \
                  SIGKILLed and restarted with its key and port, tables empty (failures 4 \
                  and 5). Plain arm: Kademlia bootstrapped once at start, on every node. \
                  Policy arm: the policies on every node. X: the facade's QUIC DHT server \
                  preset (rebootstrap's defaults around X's Kademlia, conn-prune with QUIC \
                  probed every 5 s, state-isolation's defaults); its peers: state-isolation \
                  and rebootstrap with a peer memory in a file, so that a restarted peer \
                  dials the peers it remembers.",
    metric: "time from the restart until 3 peers hold X",
    unit: Unit::Millis,
    cap: Some(CAP),
    parallel: |ctx| (MAX_CHILDREN / (ctx.nodes - 1)).max(1),
    requires: super::nothing,
    run: |arm, ctx| Box::pin(run(arm, ctx, dht::Peers::WithPolicies)),
};

/// The same, the restarted peers plain on both arms: X's policies on their own.
pub(crate) const PLAIN_PEERS: Scenario = Scenario {
    name: "dht-peers-restart-plain-peers",
    description: "As dht-peers-restart, but X's peers run plain Kademlia on both arms: \
                  the policy arm is X's policies on their own (they learn of the restarts \
                  only from conn-prune's probes and rebootstrap's re-dials).",
    run: |arm, ctx| Box::pin(run(arm, ctx, dht::Peers::Plain)),
    ..SCENARIO
};

async fn run(arm: Arm, ctx: Context, peers: dht::Peers) -> Result<Sample, RunError> {
    let dht::Dht { mut peers, x } = dht::join(arm, &ctx, peers).await?;
    peers.restart_all().await?;
    let restarted = Instant::now();
    timeline::mark("peers", Kind::Fault, "every peer of X SIGKILLed and restarted");
    // The restarted peers' tables start empty: X is back when they hold it again.
    while restarted.elapsed() <= CAP {
        if peers
            .holders(x.peer_id())
            .await
            .is_ok_and(|h| h >= dht::HOLDERS)
        {
            timeline::mark("peers", Kind::Success, "3 peers hold X again");
            return Ok(Sample::time(Some(restarted.elapsed()), CAP));
        }
        tokio::time::sleep(POLL).await;
    }
    timeline::mark("run", Kind::Capped, "the cap passed: fewer than 3 peers hold X");
    Ok(Sample::time(None, CAP))
}
