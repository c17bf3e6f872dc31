//! The incarnation exchange run on a muxer before the swarm has it: our
//! message on a stream of our own, the remote's read from the stream it
//! opens, every other stream the remote opens meanwhile kept for the swarm.

use std::{
    collections::VecDeque,
    future::poll_fn,
    task::{Context, Poll},
    time::Duration,
};

use futures::{future::BoxFuture, AsyncRead, AsyncWrite, FutureExt};
use futures_timer::Delay;
use libp2p_core::muxing::{StreamMuxer, StreamMuxerEvent, StreamMuxerExt};
use multistream_select::{dialer_select_proto, listener_select_proto, NegotiationError, Version};

use super::{
    muxer::{Muxer, Replay},
    peek::{self, Peeked},
};
use crate::{
    protocol::{self, ExchangeError, PROTOCOL},
    Incarnation,
};

/// Streams of the remote's kept for the swarm while the exchange runs, as
/// many as a held connection parks; past that they wait in the muxer.
const MAX_KEPT: usize = 32;

/// The muxer's own events taken in one pass, so a muxer that is always
/// ready cannot hold the exchange.
const MAX_EVENTS_PER_POLL: usize = 16;

/// What the exchange learnt of the remote.
#[derive(Debug)]
pub(crate) enum Learnt {
    /// It announced this incarnation.
    Incarnation(Incarnation),
    /// Its message was refused.
    Refused(ExchangeError),
    /// It refused our protocol: it does not speak the exchange.
    Unsupported,
    /// Nothing within the bound.
    Nothing,
}

/// How a connection's exchange ended.
#[derive(Debug)]
pub(crate) struct Outcome {
    pub(crate) learnt: Learnt,
    /// Our incarnation reached the remote.
    pub(crate) announced: bool,
}

/// Where an [`Outcome`] leaves a connection handler's side of the exchange.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Flags {
    /// Nothing more to announce: ours arrived, or the remote refused it.
    pub(crate) announced: bool,
    /// The remote's message was read.
    pub(crate) received: bool,
    /// The remote's streams already read for a message.
    pub(crate) attempts: u8,
}

impl Outcome {
    pub(crate) fn flags(&self) -> Flags {
        Flags {
            announced: self.announced || matches!(self.learnt, Learnt::Unsupported),
            received: matches!(self.learnt, Learnt::Incarnation(_)),
            attempts: u8::from(matches!(
                self.learnt,
                Learnt::Incarnation(_) | Learnt::Refused(_)
            )),
        }
    }
}

enum Announce {
    Open,
    Sending(BoxFuture<'static, Result<(), Unannounced>>),
    Done { sent: bool },
}

enum Unannounced {
    Unsupported,
    Failed,
}

/// Runs the exchange on `muxer` for at most `bound`; a muxer error ends the
/// connection.
pub(crate) async fn run<M>(
    muxer: M,
    local: Incarnation,
    bound: Duration,
) -> Result<(Muxer<M>, Outcome), M::Error>
where
    M: StreamMuxer + Unpin,
    M::Substream: AsyncRead + AsyncWrite + Send + Unpin + 'static,
{
    let mut exchange = Exchange {
        muxer: Some(muxer),
        local,
        bound,
        announce: Announce::Open,
        peeking: Vec::new(),
        receiving: None,
        kept: VecDeque::new(),
        events: VecDeque::new(),
        learnt: Learnt::Nothing,
        deadline: Delay::new(bound),
    };
    poll_fn(|cx| exchange.poll(cx)).await
}

struct Exchange<M: StreamMuxer> {
    muxer: Option<M>,
    local: Incarnation,
    bound: Duration,
    announce: Announce,
    peeking: Vec<Replay<M::Substream>>,
    receiving: Option<BoxFuture<'static, Result<Incarnation, ExchangeError>>>,
    kept: VecDeque<Replay<M::Substream>>,
    events: VecDeque<StreamMuxerEvent>,
    learnt: Learnt,
    deadline: Delay,
}

impl<M> Exchange<M>
where
    M: StreamMuxer + Unpin,
    M::Substream: AsyncRead + AsyncWrite + Send + Unpin + 'static,
{
    fn poll(&mut self, cx: &mut Context<'_>) -> Poll<Result<(Muxer<M>, Outcome), M::Error>> {
        if let Err(e) = self.poll_muxer(cx) {
            return Poll::Ready(Err(e));
        }
        self.poll_announce(cx);
        self.poll_peeking(cx);
        self.poll_receiving(cx);
        let done = matches!(self.announce, Announce::Done { .. })
            && !matches!(self.learnt, Learnt::Nothing);
        if done || self.deadline.poll_unpin(cx).is_ready() {
            return Poll::Ready(Ok(self.finish()));
        }
        Poll::Pending
    }

    /// Accepts the remote's streams, opens ours, and keeps the muxer's events.
    fn poll_muxer(&mut self, cx: &mut Context<'_>) -> Result<(), M::Error> {
        let muxer = self.muxer.as_mut().expect("present until finished");
        for _ in 0..MAX_EVENTS_PER_POLL {
            match muxer.poll_unpin(cx) {
                Poll::Ready(event) => self.events.push_back(event?),
                Poll::Pending => break,
            }
        }
        if let Announce::Open = self.announce {
            if let Poll::Ready(stream) = muxer.poll_outbound_unpin(cx) {
                self.announce = Announce::Sending(announce(stream?, self.local, self.bound));
            }
        }
        while self.receiving.is_none()
            && matches!(self.learnt, Learnt::Nothing)
            && self.peeking.len() + self.kept.len() < MAX_KEPT
        {
            match muxer.poll_inbound_unpin(cx) {
                Poll::Ready(stream) => self.peeking.push(Replay::new(stream?)),
                Poll::Pending => break,
            }
        }
        Ok(())
    }

    fn poll_announce(&mut self, cx: &mut Context<'_>) {
        let Announce::Sending(sending) = &mut self.announce else {
            return;
        };
        let Poll::Ready(result) = sending.poll_unpin(cx) else {
            return;
        };
        self.announce = Announce::Done {
            sent: result.is_ok(),
        };
        if let Err(Unannounced::Unsupported) = result {
            if matches!(self.learnt, Learnt::Nothing) {
                self.learnt = Learnt::Unsupported;
            }
        }
    }

    /// Tells the remote's exchange stream from the others by its proposal.
    fn poll_peeking(&mut self, cx: &mut Context<'_>) {
        let mut i = 0;
        while i < self.peeking.len() {
            match poll_proposal(&mut self.peeking[i], cx) {
                Poll::Pending => i += 1,
                Poll::Ready(false) => self.kept.push_back(self.peeking.remove(i)),
                Poll::Ready(true) => {
                    let stream = self.peeking.remove(i);
                    if self.receiving.is_none() && matches!(self.learnt, Learnt::Nothing) {
                        self.receiving = Some(receive(stream, self.bound));
                    } else {
                        tracing::debug!("dropping a surplus incarnation stream");
                    }
                }
            }
        }
    }

    fn poll_receiving(&mut self, cx: &mut Context<'_>) {
        let Some(receiving) = &mut self.receiving else {
            return;
        };
        let Poll::Ready(result) = receiving.poll_unpin(cx) else {
            return;
        };
        self.receiving = None;
        self.learnt = match result {
            Ok(incarnation) => Learnt::Incarnation(incarnation),
            Err(e) => Learnt::Refused(e),
        };
    }

    fn finish(&mut self) -> (Muxer<M>, Outcome) {
        // Streams still being read go to the swarm with what was read of them.
        let mut kept = std::mem::take(&mut self.kept);
        kept.extend(self.peeking.drain(..));
        let muxer = Muxer::new(
            self.muxer.take().expect("finished once"),
            kept,
            std::mem::take(&mut self.events),
        );
        let outcome = Outcome {
            learnt: std::mem::replace(&mut self.learnt, Learnt::Nothing),
            announced: matches!(self.announce, Announce::Done { sent: true }),
        };
        (muxer, outcome)
    }
}

/// Whether the stream proposes the exchange's protocol, once its first
/// bytes tell; a stream that ends or fails first is not ours.
fn poll_proposal<S: AsyncRead + Unpin>(stream: &mut Replay<S>, cx: &mut Context<'_>) -> Poll<bool> {
    loop {
        match peek::proposal(stream.read_ahead()) {
            Peeked::Proposal(name) => return Poll::Ready(name == PROTOCOL.as_ref().as_bytes()),
            Peeked::Other => return Poll::Ready(false),
            Peeked::Incomplete => {}
        }
        match futures::ready!(stream.poll_read_ahead(cx, peek::MAX_PEEK)) {
            Ok(0) | Err(_) => return Poll::Ready(false),
            Ok(_) => {}
        }
    }
}

fn announce<S>(
    stream: S,
    local: Incarnation,
    bound: Duration,
) -> BoxFuture<'static, Result<(), Unannounced>>
where
    S: AsyncRead + AsyncWrite + Send + Unpin + 'static,
{
    async move {
        let (_, stream) = dialer_select_proto(stream, [PROTOCOL], Version::V1)
            .await
            .map_err(|e| match e {
                NegotiationError::Failed => Unannounced::Unsupported,
                NegotiationError::ProtocolError(_) => Unannounced::Failed,
            })?;
        protocol::send(stream, local, bound)
            .await
            .map_err(|_| Unannounced::Failed)
    }
    .boxed()
}

fn receive<S>(
    stream: Replay<S>,
    bound: Duration,
) -> BoxFuture<'static, Result<Incarnation, ExchangeError>>
where
    S: AsyncRead + AsyncWrite + Send + Unpin + 'static,
{
    async move {
        let (_, stream) = listener_select_proto(stream, [PROTOCOL])
            .await
            .map_err(|e| ExchangeError::Io(std::io::Error::other(e)))?;
        protocol::receive(stream, bound).await
    }
    .boxed()
}
