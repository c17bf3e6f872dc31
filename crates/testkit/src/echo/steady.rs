//! A peer that keeps asking: one echo request in flight at a time, a new one
//! every interval, counted.

use std::time::Duration;

use futures::StreamExt;
use libp2p::{swarm::SwarmEvent, Multiaddr, PeerId};
use tokio::{sync::watch, task::JoinHandle};

use crate::{node::WaitError, ConnectError, NodeConfig, PlainBehaviour, PlainEvent, TransportKind};

use super::Target;

/// A plain QUIC node on a task of its own that sends its server an echo
/// request every interval, one in flight at a time, and counts what came
/// back. Dropping it stops it.
pub struct Steady {
    task: JoinHandle<()>,
    served: watch::Receiver<Served>,
}

/// A [`Steady`] peer's requests so far.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Served {
    /// Echoed.
    pub ok: u64,
    /// Failed, for any reason.
    pub failed: u64,
    /// Its connections to the server that closed.
    pub disconnects: u64,
}

impl Served {
    /// What was counted since `earlier`.
    pub fn since(self, earlier: Served) -> Served {
        Served {
            ok: self.ok - earlier.ok,
            failed: self.failed - earlier.failed,
            disconnects: self.disconnects - earlier.disconnects,
        }
    }
}

impl Steady {
    /// Connects to `server` at `addr` (within `connect`), then asks every `every`.
    pub async fn start(
        server: PeerId,
        addr: Multiaddr,
        every: Duration,
        connect: Duration,
    ) -> Result<Self, ConnectError> {
        let mut swarm = NodeConfig::new(TransportKind::Quic).build(PlainBehaviour::new);
        swarm
            .dial(addr)
            .map_err(|e| ConnectError::Dial(e.to_string()))?;
        tokio::time::timeout(connect, async {
            loop {
                match swarm.select_next_some().await {
                    SwarmEvent::ConnectionEstablished { peer_id, .. } if peer_id == server => {
                        return Ok(())
                    }
                    SwarmEvent::OutgoingConnectionError { error, .. } => {
                        return Err(ConnectError::Dial(error.to_string()))
                    }
                    _ => {}
                }
            }
        })
        .await
        .map_err(|_| {
            ConnectError::Timeout(WaitError::new(
                connect,
                "the connection to the server",
                Vec::new(),
            ))
        })??;
        let (report, served) = watch::channel(Served::default());
        let task = tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            let mut in_flight = false;
            let mut counts = Served::default();
            loop {
                tokio::select! {
                    event = swarm.select_next_some() => {
                        match event {
                            SwarmEvent::Behaviour(PlainEvent::Echo(e)) => {
                                match e.result {
                                    Ok(_) => counts.ok += 1,
                                    Err(_) => counts.failed += 1,
                                }
                                in_flight = false;
                            }
                            SwarmEvent::ConnectionClosed { peer_id, .. } if peer_id == server => {
                                counts.disconnects += 1;
                            }
                            _ => continue,
                        }
                        let _ = report.send(counts);
                    }
                    _ = tick.tick(), if !in_flight => {
                        swarm.behaviour_mut().echo.send(server, Target::Any);
                        in_flight = true;
                    }
                }
            }
        });
        Ok(Self { task, served })
    }

    /// Its requests so far.
    pub fn served(&self) -> Served {
        *self.served.borrow()
    }
}

impl Drop for Steady {
    fn drop(&mut self) {
        self.task.abort();
    }
}
