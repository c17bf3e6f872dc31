//! `gossip-restart`: failure 4 as gossipsub meets it, a peer of the mesh
//! restarts with the same key and port.
//!
//! The flow is the one of the state-isolation integration test
//! (`integration-tests/tests/state_isolation/behaviours.rs`): the survivor in
//! process, the peer in a child process dialing it; gossip is made to flow
//! both ways, the peer is SIGKILLed, restarted and dials back, and then both
//! publish, one message each every [`PACE`], until the cap.

use std::time::{Duration, Instant};

use either::Either;
use libp2p::{
    gossipsub, identify,
    identity::Keypair,
    swarm::{NetworkBehaviour, SwarmEvent},
};
use testkit::{ChildNode, ChildSpec, GossipBehaviour, GossipEvent, Node, TransportKind};
use transport_policies::Policies;

use super::{millis, pair::CONNECT, Arm, Context, RunError, Sample, Scenario, Unit};
use crate::{
    stack::{self, policy_config},
    timeline::{self, Kind},
};

/// Plain, the restarted peer never learns the survivor's subscription, so
/// nothing of its ever arrives; the policy arm delivers both ways within
/// about 100 ms. Both sides publish until then, so the lost count covers it all.
const CAP: Duration = Duration::from_secs(10);

/// One message each way this often.
const PACE: Duration = Duration::from_millis(50);

/// How long the last message each way may take once publishing stopped.
const DRAIN: Duration = Duration::from_secs(2);

/// See the module docs.
pub(crate) const SCENARIO: Scenario = Scenario {
    name: "gossip-restart",
    description: "An in-process survivor running gossipsub (default config, one topic) and \
                  identify, and a peer in a child process running them too, connected over \
                  QUIC, gossip flowing both ways; the peer is SIGKILLed, restarted with the same \
                  key on the same port and dials the survivor again; then each side publishes \
                  one message every 50 ms for 10 s (failure 4: plain, the survivor's gossipsub \
                  takes the new connection for a second one of the old run and never greets \
                  it). The restarted peer runs state-isolation on both arms, to announce its \
                  new run. Policy arm: the survivor's application inside the facade's bundle \
                  (`Policies<App>`: state-isolation, conn-prune probing QUIC every 5 s, \
                  stream-quota). A direction's time is that of its first publish that arrived \
                  (to within the 50 ms pace); per run, stderr gets each direction's time and \
                  the lost publishes (returned Ok, never arrived).",
    metric: "time from the restart until gossip flows both ways (the slower direction)",
    unit: Unit::Millis,
    cap: Some(CAP),
    parallel: super::all_at_once,
    requires: super::nothing,
    run: |arm, ctx| Box::pin(run(arm, ctx)),
};

/// The survivor's application.
#[derive(NetworkBehaviour)]
#[behaviour(to_swarm = "AppEvent")]
struct App {
    gossip: GossipBehaviour,
    identify: identify::Behaviour,
}

#[derive(Debug)]
enum AppEvent {
    Gossip(GossipEvent),
    /// identify's: only there for the application to be what people run.
    Identify,
}

impl From<GossipEvent> for AppEvent {
    fn from(e: GossipEvent) -> Self {
        Self::Gossip(e)
    }
}

impl From<identify::Event> for AppEvent {
    fn from(_: identify::Event) -> Self {
        Self::Identify
    }
}

impl App {
    fn new(key: &Keypair) -> Self {
        Self {
            gossip: GossipBehaviour::new(key),
            identify: identify::Behaviour::new(identify::Config::new(
                "/testkit/1.0.0".to_owned(),
                key.public(),
            )),
        }
    }
}

/// The survivor: the application alone, or inside the facade's bundle.
type Survivor = Node<Either<App, Policies<App>>>;

fn app(behaviour: &mut Either<App, Policies<App>>) -> &mut App {
    match behaviour {
        Either::Left(app) => app,
        Either::Right(policies) => policies.app_mut(),
    }
}

/// The text of a gossip message the survivor's application received.
fn gossip_text(
    event: &SwarmEvent<Either<AppEvent, transport_policies::Event<AppEvent>>>,
) -> Option<String> {
    let SwarmEvent::Behaviour(event) = event else {
        return None;
    };
    let event = match event {
        Either::Left(event) | Either::Right(transport_policies::Event::App(event)) => event,
        Either::Right(_) => return None,
    };
    let AppEvent::Gossip(GossipEvent::Gossipsub(event)) = event else {
        return None;
    };
    let gossipsub::Event::Message { message, .. } = event.as_ref() else {
        return None;
    };
    Some(String::from_utf8_lossy(&message.data).into_owned())
}

async fn survivor(arm: Arm) -> Result<Survivor, RunError> {
    let (config, layers) = stack::node_config(arm, TransportKind::Quic);
    Ok(Node::spawn_observed(
        config,
        move |key| match arm {
            Arm::Plain => Either::Left(App::new(key)),
            Arm::Policy => Either::Right(
                Policies::new(App::new(key), policy_config(None, layers))
                    .expect("the lab's policy config is valid"),
            ),
        },
        timeline::observer("survivor"),
    )
    .await?)
}

async fn publish(node: &Survivor, text: String) -> Result<(), String> {
    node.with(move |s| {
        app(s.behaviour_mut())
            .gossip
            .publish(text.as_bytes())
            .map(|_| ())
            .map_err(|e| e.to_string())
    })
    .await
}

/// Every gossip message the survivor received until `last` (included), or
/// until `within` passed.
async fn survivor_received(node: &mut Survivor, last: &str, within: Duration) -> Vec<String> {
    let mut received = Vec::new();
    let _ = node
        .wait_for(within, "the last gossip message", |event| {
            let text = gossip_text(event)?;
            let done = text == last;
            received.push(text);
            done.then_some(())
        })
        .await;
    received
}

/// Gossip flows both ways on the first connection.
async fn warm_up(node: &mut Survivor, child: &mut ChildNode) -> Result<(), RunError> {
    let deadline = Instant::now() + CONNECT;
    let late = || RunError::new("gossip never flowed before the restart");
    for i in 0.. {
        if Instant::now() >= deadline {
            return Err(late());
        }
        let text = format!("warm-{i}");
        if publish(node, text.clone()).await.is_ok() && child.wait_gossip(&text, PACE * 4).await? {
            break;
        }
        tokio::time::sleep(PACE).await;
    }
    for i in 0.. {
        if Instant::now() >= deadline {
            return Err(late());
        }
        let text = format!("warmb-{i}");
        if child.publish(&text).await?.is_ok()
            && survivor_received(node, &text, PACE * 4)
                .await
                .contains(&text)
        {
            return Ok(());
        }
        tokio::time::sleep(PACE).await;
    }
    unreachable!("the loop returns")
}

/// One publish: its text, when (from the restart), and whether it returned `Ok`.
struct Publish {
    text: String,
    at: Duration,
    ok: bool,
}

/// One direction's publishes and what the other side received.
struct Direction {
    published: Vec<Publish>,
    received: Vec<String>,
}

impl Direction {
    /// When the first publish that arrived was made, from the restart.
    fn first_delivery(&self) -> Option<Duration> {
        self.published
            .iter()
            .find(|p| self.received.contains(&p.text))
            .map(|p| p.at)
    }

    /// Publishes that returned `Ok` and never arrived.
    fn lost(&self) -> usize {
        self.published
            .iter()
            .filter(|p| p.ok && !self.received.contains(&p.text))
            .count()
    }

    fn ok(&self) -> usize {
        self.published.iter().filter(|p| p.ok).count()
    }

    fn show(&self) -> String {
        let first = match self.first_delivery() {
            Some(t) => format!("{:.0} ms", millis(t)),
            None => "never".to_owned(),
        };
        format!(
            "first delivery {first}, {} of {} publishes Ok, {} Ok ones lost",
            self.ok(),
            self.published.len(),
            self.lost()
        )
    }
}

async fn run(arm: Arm, ctx: Context) -> Result<Sample, RunError> {
    // state-isolation on both arms: the restarted peer announces its new
    // run; a plain survivor ignores the announcement.
    let spec = ChildSpec::new(TransportKind::Quic, ctx.key_seeds(1))
        .with_gossip()
        .with_state_isolation();
    let mut child = ChildNode::spawn(spec).await?;
    let mut node = survivor(arm).await?;
    let addr = node.addr().clone();
    node.accept_from(&mut child, &addr, CONNECT).await?;
    warm_up(&mut node, &mut child).await?;

    child.kill().await?;
    timeline::mark("peer", Kind::Fault, "SIGKILLed");
    child.restart().await?;
    let restarted = Instant::now();
    timeline::mark("peer", Kind::Fault, "restarted, dials the survivor");
    node.accept_from(&mut child, &addr, CONNECT).await?;
    let connected = restarted.elapsed();

    let mut to_restarted = Vec::new();
    let mut to_survivor = Vec::new();
    let mut pace = tokio::time::interval(PACE);
    let mut i = 0;
    while restarted.elapsed() < CAP {
        pace.tick().await;
        let text = format!("a-{i}");
        let ok = publish(&node, text.clone()).await.is_ok();
        to_restarted.push(Publish {
            text,
            at: restarted.elapsed(),
            ok,
        });
        let text = format!("b-{i}");
        let ok = child.publish(&text).await?.is_ok();
        to_survivor.push(Publish {
            text,
            at: restarted.elapsed(),
            ok,
        });
        i += 1;
    }
    // The last message each way, once everything before it had time to arrive.
    let last = i - 1;
    let to_restarted = Direction {
        received: child
            .received_gossip_until(&format!("a-{last}"), DRAIN)
            .await?,
        published: to_restarted,
    };
    let to_survivor = Direction {
        received: survivor_received(&mut node, &format!("b-{last}"), DRAIN).await,
        published: to_survivor,
    };

    eprintln!(
        "  gossip-restart {arm:<6} (new connection at {:.0} ms): survivor -> restarted: {}; \
         restarted -> survivor: {}; lost {}",
        millis(connected),
        to_restarted.show(),
        to_survivor.show(),
        to_restarted.lost() + to_survivor.lost(),
    );
    let both = to_restarted
        .first_delivery()
        .zip(to_survivor.first_delivery())
        .map(|(a, b)| a.max(b));
    match both {
        Some(both) => timeline::mark_at(
            restarted + both,
            "survivor",
            Kind::Success,
            "gossip flows both ways (the first message of the slower direction)",
        ),
        None => timeline::mark("run", Kind::Capped, "the cap passed: gossip flows one way at most"),
    }
    Ok(Sample::time(both, CAP))
}
