//! The three real transports, built the same way for every node.

use std::{fmt, net::SocketAddr, str::FromStr};

use libp2p::{
    core::{muxing::StreamMuxerBox, transport::Boxed, upgrade::Version},
    identity::Keypair,
    multiaddr::Protocol,
    quic, tcp, tls, yamux, Multiaddr, PeerId, Transport as _,
};

/// The transport a node listens and dials on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TransportKind {
    /// QUIC v1 (`libp2p-quic` over quinn), default configuration.
    Quic,
    /// Native WebRTC-direct (`libp2p-webrtc` over webrtc-rs).
    WebRtc,
    /// TCP with TLS and yamux.
    Tcp,
}

impl TransportKind {
    /// Every transport, in a fixed order.
    pub const ALL: [TransportKind; 3] = [Self::Quic, Self::WebRtc, Self::Tcp];

    /// Whether the transport runs over UDP, and so can be put behind a [`crate::UdpProxy`].
    pub fn is_udp(self) -> bool {
        !matches!(self, Self::Tcp)
    }

    /// The listen address for this transport on `127.0.0.1:port` (`0` picks a free port).
    pub fn listen_addr(self, port: u16) -> Multiaddr {
        let base = Multiaddr::empty().with(Protocol::Ip4([127, 0, 0, 1].into()));
        match self {
            Self::Quic => base.with(Protocol::Udp(port)).with(Protocol::QuicV1),
            Self::WebRtc => base.with(Protocol::Udp(port)).with(Protocol::WebRTCDirect),
            Self::Tcp => base.with(Protocol::Tcp(port)),
        }
    }

    /// Builds the authenticated, multiplexed transport for `keypair`.
    pub fn build(self, keypair: &Keypair) -> Boxed<(PeerId, StreamMuxerBox)> {
        match self {
            Self::Quic => quic::tokio::Transport::new(quic::Config::new(keypair))
                .map(|(peer, conn), _| (peer, StreamMuxerBox::new(conn)))
                .boxed(),
            Self::WebRtc => {
                let certificate = libp2p_webrtc::tokio::Certificate::generate(&mut rand::rng())
                    .expect("generating a WebRTC certificate does not fail");
                libp2p_webrtc::tokio::Transport::new(keypair.clone(), certificate)
                    .map(|(peer, conn), _| (peer, StreamMuxerBox::new(conn)))
                    .boxed()
            }
            Self::Tcp => tcp::tokio::Transport::new(tcp::Config::default())
                .upgrade(Version::V1)
                .authenticate(tls::Config::new(keypair).expect("a valid TLS identity"))
                .multiplex(yamux::Config::default())
                .map(|(peer, muxer), _| (peer, StreamMuxerBox::new(muxer)))
                .boxed(),
        }
    }
}

impl fmt::Display for TransportKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Quic => "quic",
            Self::WebRtc => "webrtc",
            Self::Tcp => "tcp",
        })
    }
}

impl FromStr for TransportKind {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "quic" => Ok(Self::Quic),
            "webrtc" => Ok(Self::WebRtc),
            "tcp" => Ok(Self::Tcp),
            other => Err(format!("unknown transport {other:?} (quic, webrtc or tcp)")),
        }
    }
}

/// The IP and port of an address's first `ip4`/`ip6` and `udp`/`tcp` components.
pub fn socket_addr(addr: &Multiaddr) -> Option<SocketAddr> {
    let mut ip = None;
    for protocol in addr.iter() {
        match protocol {
            Protocol::Ip4(a) => ip = Some(a.into()),
            Protocol::Ip6(a) => ip = Some(a.into()),
            Protocol::Udp(port) | Protocol::Tcp(port) => return Some(SocketAddr::new(ip?, port)),
            _ => {}
        }
    }
    None
}

/// `addr` with its IP and port replaced by `to`, every other component (`/certhash`,
/// `/p2p`, ...) kept: how a dialer is pointed at a [`crate::UdpProxy`] in front of a node.
pub fn with_socket_addr(addr: &Multiaddr, to: SocketAddr) -> Multiaddr {
    addr.iter()
        .map(|protocol| match protocol {
            Protocol::Ip4(_) | Protocol::Ip6(_) => match to {
                SocketAddr::V4(a) => Protocol::Ip4(*a.ip()),
                SocketAddr::V6(a) => Protocol::Ip6(*a.ip()),
            },
            Protocol::Udp(_) => Protocol::Udp(to.port()),
            Protocol::Tcp(_) => Protocol::Tcp(to.port()),
            other => other,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn socket_addr_is_swapped_and_the_rest_kept() {
        let peer = PeerId::random();
        let addr = TransportKind::WebRtc
            .listen_addr(4001)
            .with(Protocol::P2p(peer));
        assert_eq!(socket_addr(&addr), Some("127.0.0.1:4001".parse().unwrap()));

        let swapped = with_socket_addr(&addr, "127.0.0.1:5002".parse().unwrap());
        assert_eq!(
            swapped,
            TransportKind::WebRtc
                .listen_addr(5002)
                .with(Protocol::P2p(peer))
        );
    }

    #[test]
    fn transport_names_round_trip() {
        for kind in TransportKind::ALL {
            assert_eq!(kind.to_string().parse::<TransportKind>(), Ok(kind));
        }
        assert!("carrier-pigeon".parse::<TransportKind>().is_err());
    }
}
