//! The counts are exact: after every step, in every scope, both directions,
//! on every node, the ledger equals the ground truth the test keeps.

use super::*;

/// Where a stream runs: its opener and its acceptor (indices of the test's
/// nodes) and the connection's id on each side.
#[derive(Debug, Clone, Copy)]
struct Link {
    opener: usize,
    acceptor: usize,
    on_opener: ConnectionId,
    on_acceptor: ConnectionId,
}

impl Link {
    /// The same connection, for streams the other side opens.
    fn reversed(self) -> Self {
        Self {
            opener: self.acceptor,
            acceptor: self.opener,
            on_opener: self.on_acceptor,
            on_acceptor: self.on_opener,
        }
    }
}

/// Which end of a stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum End {
    Opener,
    Acceptor,
}

#[derive(Debug)]
struct Record {
    link: Link,
    protocol: StreamProtocol,
    opener_open: bool,
    acceptor_open: bool,
}

/// The ground truth: every connection and every stream the test made, and
/// which ends of each stream are still held.
struct Truth {
    peers: Vec<PeerId>,
    /// Each node's live connections, with the peer at the other end.
    connections: Vec<Vec<(ConnectionId, PeerId)>>,
    streams: Vec<Record>,
}

impl Truth {
    fn new(peers: Vec<PeerId>) -> Self {
        Self {
            connections: vec![Vec::new(); peers.len()],
            peers,
            streams: Vec::new(),
        }
    }

    /// `dialer` connected to `listener`; `ids` as [`connect`] returns them.
    fn connected(
        &mut self,
        dialer: usize,
        listener: usize,
        (on_dialer, on_listener): (ConnectionId, ConnectionId),
    ) -> Link {
        self.connections[dialer].push((on_dialer, self.peers[listener]));
        self.connections[listener].push((on_listener, self.peers[dialer]));
        Link {
            opener: dialer,
            acceptor: listener,
            on_opener: on_dialer,
            on_acceptor: on_listener,
        }
    }

    fn disconnected(&mut self, link: Link) {
        self.connections[link.opener].retain(|(c, _)| *c != link.on_opener);
        self.connections[link.acceptor].retain(|(c, _)| *c != link.on_acceptor);
    }

    /// A stream of `protocol` was opened over `link`, both ends held.
    fn opened(&mut self, link: Link, protocol: StreamProtocol) -> usize {
        self.streams.push(Record {
            link,
            protocol,
            opener_open: true,
            acceptor_open: true,
        });
        self.streams.len() - 1
    }

    /// One end of stream `index` was dropped.
    fn dropped(&mut self, index: usize, end: End) {
        let record = &mut self.streams[index];
        match end {
            End::Opener => record.opener_open = false,
            End::Acceptor => record.acceptor_open = false,
        }
    }

    /// A stream that was opened and dropped at both ends (an echo request).
    fn came_and_went(&mut self, link: Link, protocol: StreamProtocol) {
        let index = self.opened(link, protocol);
        self.dropped(index, End::Opener);
        self.dropped(index, End::Acceptor);
    }

    /// What node `node`'s ledger must show.
    fn expected(&self, node: usize) -> Ledger {
        let mut ledger = Ledger::default();
        for (connection, peer) in &self.connections[node] {
            ledger
                .connections
                .insert(*connection, (*peer, Counts::default()));
            ledger.peers.entry(*peer).or_default();
        }
        for record in &self.streams {
            let link = record.link;
            let ends = [
                (
                    link.opener,
                    link.acceptor,
                    link.on_opener,
                    true,
                    record.opener_open,
                ),
                (
                    link.acceptor,
                    link.opener,
                    link.on_acceptor,
                    false,
                    record.acceptor_open,
                ),
            ];
            for (me, other, connection, outbound, open) in ends {
                if me != node {
                    continue;
                }
                let peer = self.peers[other];
                let protocol = record.protocol.clone();
                let mut scopes = vec![
                    &mut ledger.node,
                    ledger
                        .peers
                        .get_mut(&peer)
                        .expect("a stream has a connection"),
                    ledger.protocols.entry(protocol.clone()).or_default(),
                ];
                // A closed connection leaves its streams in the other scopes.
                let live = ledger.connections.contains_key(&connection);
                if let Some((_, counts)) = ledger.connections.get_mut(&connection) {
                    scopes.push(counts);
                }
                for counts in scopes {
                    count(counts, outbound, open);
                }
                if live {
                    count(
                        ledger
                            .protocols_per_connection
                            .entry((connection, protocol.clone()))
                            .or_default(),
                        outbound,
                        open,
                    );
                }
                count(
                    ledger
                        .protocols_per_peer
                        .entry((peer, protocol))
                        .or_default(),
                    outbound,
                    open,
                );
            }
        }
        ledger
    }
}

fn count(counts: &mut Counts, outbound: bool, open: bool) {
    let (now, opened, _refused) = if outbound {
        &mut counts.outbound
    } else {
        &mut counts.inbound
    };
    *opened += 1;
    if open {
        *now += 1;
        counts.has_oldest = true;
    }
}

/// Every node's ledger equals the truth now.
fn check(members: &[&Member], truth: &Truth, step: &str) {
    for (i, member) in members.iter().enumerate() {
        assert_eq!(
            Ledger::of(&member.quota.snapshot()),
            truth.expected(i),
            "after {step}: the ledger of node {i}"
        );
    }
}

/// Waits until node `i`'s ledger equals the truth, then checks every node.
async fn settle(members: &[&Member], i: usize, truth: &Truth, step: &str) {
    let expected = truth.expected(i);
    members[i]
        .wait_ledger(SOON, step, move |s| Ledger::of(s) == expected)
        .await;
    check(members, truth, step);
}

/// An echo request over `link`: the opener's end is dropped before the
/// outcome is reported, so the opener's ledger is exact at once. The
/// acceptor drops its end right after it sent the echo and its FIN, on
/// its own task, which may run after the opener has read them: its ledger
/// is waited for, with a deadline.
async fn echo_over(opener: &mut Member, link: Link, truth: &mut Truth) {
    let acceptor_peer = truth.peers[link.acceptor];
    opener.echo(acceptor_peer, link.on_opener).await;
    truth.came_and_went(link, echo::PROTOCOL);
    assert_eq!(
        Ledger::of(&opener.quota.snapshot()),
        truth.expected(link.opener),
        "the echo opener's ledger once the request completed"
    );
}

#[tokio::test]
async fn counts_are_exact_in_every_scope_and_direction() {
    const A: usize = 0;
    const B: usize = 1;
    const C: usize = 2;
    let mut a = member(Config::default()).await;
    let mut b = member(Config::default()).await;
    let mut c = member(Config::default()).await;
    let (a_id, b_id, c_id) = (a.peer_id(), b.peer_id(), c.peer_id());
    let mut truth = Truth::new(vec![a_id, b_id, c_id]);

    // A dials B; C dials A, so A has an inbound connection too.
    let ab = truth.connected(A, B, connect(&mut a, &mut b).await);
    let ca = truth.connected(C, A, connect(&mut c, &mut a).await);
    check(&[&a, &b, &c], &truth, "connecting");

    // libp2p-stream streams, opened each way over each connection. The
    // opener's `open_stream` returns once the acceptor echoed the protocol,
    // which it counted (and attributed) before writing: exact at once.
    let ab_alpha_a = a.open(b_id, ALPHA).await;
    let (from, ab_alpha_b) = b.accept(ALPHA).await;
    assert_eq!(from, a_id);
    let ab_alpha = truth.opened(ab, ALPHA);
    check(&[&a, &b, &c], &truth, "A opening alpha to B");

    let ba_beta_b = b.open(a_id, BETA).await;
    let (from, ba_beta_a) = a.accept(BETA).await;
    assert_eq!(from, b_id);
    let ba_beta = truth.opened(ab.reversed(), BETA);
    check(&[&a, &b, &c], &truth, "B opening beta to A");

    let ca_alpha_c = c.open(a_id, ALPHA).await;
    let (from, ca_alpha_a) = a.accept(ALPHA).await;
    assert_eq!(from, c_id);
    let ca_alpha = truth.opened(ca, ALPHA);
    check(&[&a, &b, &c], &truth, "C opening alpha to A");

    let ac_beta_a = a.open(c_id, BETA).await;
    let (from, ac_beta_c) = c.accept(BETA).await;
    assert_eq!(from, a_id);
    let ac_beta = truth.opened(ca.reversed(), BETA);
    check(&[&a, &b, &c], &truth, "A opening beta to C");

    let ab_alpha2_a = a.open(b_id, ALPHA).await;
    let (_, ab_alpha2_b) = b.accept(ALPHA).await;
    let ab_alpha2 = truth.opened(ab, ALPHA);
    check(&[&a, &b, &c], &truth, "A opening a second alpha to B");

    // Each end counts open until its application drops it.
    drop(ab_alpha_a);
    truth.dropped(ab_alpha, End::Opener);
    check(&[&a, &b, &c], &truth, "A dropping its end of alpha");
    drop(ab_alpha_b);
    truth.dropped(ab_alpha, End::Acceptor);
    check(&[&a, &b, &c], &truth, "B dropping its end of alpha");

    drop(ba_beta_a);
    truth.dropped(ba_beta, End::Acceptor);
    check(&[&a, &b, &c], &truth, "A dropping its accepted beta first");
    drop(ba_beta_b);
    truth.dropped(ba_beta, End::Opener);
    check(&[&a, &b, &c], &truth, "B dropping its opened beta");

    // Echo requests through the swarm, each way over each connection.
    for (opener, link) in [(A, ab), (B, ab.reversed()), (C, ca), (A, ca.reversed())] {
        let opener = match opener {
            A => &mut a,
            B => &mut b,
            _ => &mut c,
        };
        echo_over(opener, link, &mut truth).await;
        settle(&[&a, &b, &c], link.acceptor, &truth, "an echo request").await;
    }

    // A second connection to B: per connection now differs from per peer.
    let ab2 = truth.connected(A, B, connect(&mut a, &mut b).await);
    check(&[&a, &b, &c], &truth, "A connecting to B again");
    echo_over(&mut a, ab2, &mut truth).await;
    settle(&[&a, &b, &c], B, &truth, "an echo on the second connection").await;
    echo_over(&mut b, ab2.reversed(), &mut truth).await;
    settle(&[&a, &b, &c], A, &truth, "an echo back on it").await;

    // Everything dropped: nothing open, every cumulative count kept.
    drop((ca_alpha_c, ca_alpha_a, ac_beta_a, ac_beta_c));
    drop((ab_alpha2_a, ab_alpha2_b));
    for (stream, end) in [
        (ca_alpha, End::Opener),
        (ca_alpha, End::Acceptor),
        (ac_beta, End::Opener),
        (ac_beta, End::Acceptor),
        (ab_alpha2, End::Opener),
        (ab_alpha2, End::Acceptor),
    ] {
        truth.dropped(stream, end);
    }
    check(&[&a, &b, &c], &truth, "every stream dropped");
    assert_eq!(a.quota.snapshot().node.open(), 0);

    // Closing the second connection takes it out of the ledger, and only
    // it. The muxer is dropped by the connection's task, not in step with
    // the ConnectionClosed event: waited for.
    let (on_a, on_b) = (ab2.on_opener, ab2.on_acceptor);
    assert!(a.node.with(move |s| s.close_connection(on_a)).await);
    a.node.wait_closed(on_a, SOON).await.unwrap();
    b.node.wait_closed(on_b, SOON).await.unwrap();
    truth.disconnected(ab2);
    settle(&[&a, &b, &c], A, &truth, "closing the second connection").await;
    settle(&[&a, &b, &c], B, &truth, "closing the second connection").await;
}
