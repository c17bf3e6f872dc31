//! `dht-network-loss`: failure 5, a DHT node loses its network for longer
//! than QUIC's idle timeout, then gets it back.

use std::{
    process::{Command, Stdio},
    time::{Duration, Instant},
};

use testkit::UdpPortCut;

use super::{dht, Arm, Context, RunError, Sample, Scenario, Unit};
use crate::{
    stack::live_entries,
    timeline::{self, Kind},
};

/// Plain Kademlia does not redial (until its periodic bootstrap, 5 minutes
/// on); rebootstrap's next attempt comes within its 4 s backoff ceiling.
const CAP: Duration = Duration::from_secs(15);

/// How long X may take to lose every connection: QUIC's idle timeout
/// (10 to 14.5 s) on the plain arm, conn-prune's probes on the policy arm.
const LOSS: Duration = Duration::from_secs(30);

/// Peers in flight at once, over all runs (see `dht-peers-restart`).
const MAX_CHILDREN: usize = 48;

/// See the module docs.
pub(crate) const SCENARIO: Scenario = Scenario {
    name: "dht-network-loss",
    description: "X, in process on QUIC, is in a Kademlia DHT of --nodes nodes; iptables \
                  drops every UDP packet to or from X's port until X has lost every \
                  connection, then the rules go (failure 5). X is back when it holds 3 \
                  connected peers in its routing table again. Needs root and iptables. \
                  Plain arm: Kademlia bootstrapped once at start. Policy arm: the facade's \
                  QUIC DHT server preset (rebootstrap's defaults, conn-prune with QUIC probed \
                  every 5 s, state-isolation's defaults).",
    metric: "time from the restore until X has 3 live table entries",
    unit: Unit::Millis,
    cap: Some(CAP),
    parallel: |ctx| (MAX_CHILDREN / (ctx.nodes - 1)).max(1),
    requires: iptables,
    run: |arm, ctx| Box::pin(run(arm, ctx)),
};

/// The cut needs to change iptables rules: root, and the tool.
fn iptables() -> Result<(), String> {
    let listed = Command::new("iptables")
        .args(["-w", "-n", "-L", "INPUT"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
    match listed {
        Ok(status) if status.success() => Ok(()),
        Ok(_) => Err("needs root to change iptables rules (`.ci/setup iptables -- cargo run --release -p policy-lab` sets it up)".to_owned()),
        Err(e) => Err(format!(
            "needs iptables ({e}): `.ci/setup iptables -- cargo run --release -p policy-lab` installs it"
        )),
    }
}

async fn run(arm: Arm, ctx: Context) -> Result<Sample, RunError> {
    let dht::Dht { peers: _peers, x } = dht::join(arm, &ctx, dht::Peers::Plain).await?;
    let port = testkit::socket_addr(x.addr())
        .ok_or_else(|| RunError::new("X's address has no port"))?
        .port();

    let cut = UdpPortCut::new(port)?;
    timeline::mark("kernel", Kind::Fault, "X's UDP port cut both ways");
    x.wait_until(LOSS, "every connection gone", |s| {
        (s.connected_peers().count() == 0).then_some(())
    })
    .await?;
    // From the start of the restore: connections whose handshakes were
    // waiting can complete while the second rule is being removed, before
    // `iptables` returns. The removal's few milliseconds count against the
    // policy arm, never for it.
    let restored = Instant::now();
    drop(cut);
    timeline::mark("kernel", Kind::Fault, "the cut is gone");

    let back = x
        .wait_until(CAP, "live routing-table entries", |s| {
            s.behaviour_mut()
                .kad_mut()
                .map(live_entries)
                .filter(|live| *live >= dht::HOLDERS)
        })
        .await;
    match back {
        Ok(_) => timeline::mark("X", Kind::Success, "3 live peers in X's routing table"),
        Err(_) => timeline::mark("run", Kind::Capped, "the cap passed: X has fewer than 3 live peers"),
    }
    Ok(Sample::time(back.ok().map(|_| restored.elapsed()), CAP))
}
