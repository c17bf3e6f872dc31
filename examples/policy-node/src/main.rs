//! An application with every transport policy, to copy from.
//!
//! ```sh
//! # A Kademlia server on QUIC (conn-prune, stream-quota, state-isolation, rebootstrap):
//! cargo run -p policy-node -- quic 4001
//! # another one, bootstrapping from the first (the address it printed):
//! cargo run -p policy-node -- quic 4002 /ip4/127.0.0.1/udp/4001/quic-v1/p2p/12D3Koo...
//! # A node browsers reach over WebRTC-direct (conn-prune, state-isolation):
//! cargo run -p policy-node -- webrtc 4003
//! ```
//!
//! It prints its address and every policy event; `RUST_LOG=debug` shows more.

use std::{error::Error, net::Ipv4Addr, time::Duration};

use futures::StreamExt;
use libp2p::{
    identify,
    identity::Keypair,
    kad::{self, store::MemoryStore},
    multiaddr::Protocol,
    ping,
    swarm::{NetworkBehaviour, SwarmEvent},
    Multiaddr, Swarm, SwarmBuilder,
};
use transport_policies::{
    state_isolation::{self, Handshake},
    stream_quota::{self, Quota},
    Config, Event, Policies,
};

/// What the application itself runs; the policies protect all of it.
#[derive(NetworkBehaviour)]
struct App {
    ping: ping::Behaviour,
    identify: identify::Behaviour,
}

type Node = Swarm<Policies<App>>;
type BoxError = Box<dyn Error + Send + Sync>;

#[tokio::main]
async fn main() -> Result<(), Box<dyn Error>> {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .try_init();
    // Two rustls backends come with the libp2p tree; pick one.
    let _ = rustls::crypto::ring::default_provider().install_default();

    let mut args = std::env::args().skip(1);
    let transport = args.next().unwrap_or_else(|| "quic".to_owned());
    let port: u16 = args.next().map_or(Ok(0), |p| p.parse())?;
    let bootstrap: Vec<Multiaddr> = args.map(|a| a.parse()).collect::<Result<_, _>>()?;

    let mut swarm = match transport.as_str() {
        "quic" => quic_dht_server(bootstrap)?,
        "webrtc" => browser_facing_webrtc()?,
        other => return Err(format!("unknown transport {other:?}: quic or webrtc").into()),
    };
    let listen = Multiaddr::from(Ipv4Addr::LOCALHOST).with(Protocol::Udp(port));
    swarm.listen_on(match transport.as_str() {
        "quic" => listen.with(Protocol::QuicV1),
        _ => listen.with(Protocol::WebRTCDirect),
    })?;

    loop {
        tokio::select! {
            event = swarm.select_next_some() => on_event(&mut swarm, event),
            _ = tokio::signal::ctrl_c() => return Ok(()),
        }
    }
}

fn app(key: &Keypair) -> App {
    App {
        ping: ping::Behaviour::default(),
        identify: identify::Behaviour::new(identify::Config::new(
            "/policy-node/1.0.0".to_owned(),
            key.public(),
        )),
    }
}

fn quic_dht_server(bootstrap: Vec<Multiaddr>) -> Result<Node, Box<dyn Error>> {
    // The first node of a network has no bootstrap peers: rebootstrap then
    // only carries Kademlia, and learns peers as they arrive.
    // stream-quota's ledger sits under the transport (it sees every stream)
    // and is read by its behaviour in the bundle; state-isolation's
    // handshake wraps that, so a restarted peer's new connection reaches
    // the application with the old run gone.
    let quota = Quota::new(stream_quota::Config::default())?;
    let handshake = Handshake::new();
    let config = Config::quic_dht_server(bootstrap)
        .with_stream_quota(Some(quota.clone()))
        .with_handshake(Some(handshake.clone()));
    Ok(SwarmBuilder::with_new_identity()
        .with_tokio()
        .with_other_transport(|key| {
            let quic = libp2p::quic::tokio::Transport::new(libp2p::quic::Config::new(key));
            handshake.transport(quota.transport(quic))
        })?
        .with_behaviour(|key| {
            let peer = key.public().to_peer_id();
            let mut kad = kad::Behaviour::new(peer, MemoryStore::new(peer));
            kad.set_mode(Some(kad::Mode::Server));
            Ok::<_, BoxError>(Policies::with_kad(app(key), kad, config)?)
        })?
        .with_swarm_config(|c| c.with_idle_connection_timeout(Duration::from_secs(60)))
        .build())
}

fn browser_facing_webrtc() -> Result<Node, Box<dyn Error>> {
    let handshake = Handshake::new();
    let config = Config::browser_facing_webrtc().with_handshake(Some(handshake.clone()));
    Ok(SwarmBuilder::with_new_identity()
        .with_tokio()
        .with_other_transport(|key| {
            let certificate = libp2p_webrtc::tokio::Certificate::generate(&mut rand::rng())?;
            Ok(handshake.transport(libp2p_webrtc::tokio::Transport::new(
                key.clone(),
                certificate,
            )))
        })?
        .with_behaviour(|key| Ok::<_, BoxError>(Policies::new(app(key), config)?))?
        .with_swarm_config(|c| c.with_idle_connection_timeout(Duration::from_secs(60)))
        .build())
}

fn on_event(swarm: &mut Node, event: SwarmEvent<Event<AppEvent>>) {
    match event {
        SwarmEvent::NewListenAddr { address, .. } => {
            println!("listening on {address}/p2p/{}", swarm.local_peer_id());
        }
        SwarmEvent::Behaviour(Event::App(AppEvent::Identify(identify::Event::Received {
            peer_id,
            info,
            ..
        }))) => {
            // Kademlia learns a peer's addresses from identify, as in
            // rust-libp2p's own examples.
            if let Some(kad) = swarm.behaviour_mut().kad_mut() {
                if info.protocols.contains(&kad::PROTOCOL_NAME) {
                    for addr in info.listen_addrs {
                        kad.add_address(&peer_id, addr);
                    }
                }
            }
        }
        SwarmEvent::Behaviour(Event::Isolation(state_isolation::Event::Replaced(r))) => {
            println!("{} restarted: closed {:?}", r.peer, r.closed);
        }
        SwarmEvent::Behaviour(Event::Prune(e)) => println!("conn-prune: {e:?}"),
        SwarmEvent::Behaviour(Event::Quota(e)) => println!("stream-quota: {e:?}"),
        SwarmEvent::Behaviour(Event::Rebootstrap(e)) => println!("rebootstrap: {e:?}"),
        SwarmEvent::ConnectionEstablished { peer_id, .. } => println!("connected to {peer_id}"),
        SwarmEvent::ConnectionClosed { peer_id, cause, .. } => {
            println!("disconnected from {peer_id}: {cause:?}");
        }
        _ => {}
    }
}
