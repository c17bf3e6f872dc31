//! The muxer wrapper: every stream of a connection passes through it, and
//! it tells the ledger when an outbound open is blocked.

use std::{
    pin::Pin,
    sync::Arc,
    task::{Context, Poll},
    time::Instant,
};

use libp2p_core::{
    muxing::{StreamMuxer, StreamMuxerEvent},
    ConnectedPoint,
};
use libp2p_identity::PeerId;

use crate::{ledger::MuxerId, negotiation::Role, quota::Shared, stream::Substream, Direction};

/// Inbound streams refused in one `poll_inbound` call before yielding, so a
/// peer opening streams as fast as it can does not hold the connection task.
const MAX_REFUSALS_PER_POLL: usize = 32;

/// A connection's muxer with every stream counted in a [`crate::Quota`]'s
/// ledger. Made by [`crate::Quota::wrap`] or [`crate::Quota::transport`].
///
/// Outbound opens are judged by libp2p-swarm's connection task, which polls
/// `poll` and then, only while the handler waits for a stream,
/// `poll_outbound`: a `poll` with no `poll_outbound` since the last one means
/// the wait ended (the stream came, or the request timed out).
#[derive(Debug)]
pub struct Muxer<M> {
    inner: M,
    id: MuxerId,
    shared: Arc<Shared>,
    /// An outbound open is waiting on the inner muxer.
    blocked: bool,
    /// `poll_outbound` was called since the last `poll`.
    outbound_polled: bool,
    /// Outbound streams the ledger will still admit, as of the last one
    /// opened here: the room `admission::admit` gave that stream at
    /// `Stage::Open`, less the stream itself. The check before the
    /// muxer is asked is skipped while there is room. Only other
    /// connections of the peer or node can use it up meanwhile; the ledger's
    /// `open_stream` still judges every stream, and refuses then.
    outbound_headroom: u32,
}

impl<M> Muxer<M> {
    pub(crate) fn new(
        inner: M,
        peer: PeerId,
        endpoint: ConnectedPoint,
        shared: Arc<Shared>,
    ) -> Self {
        let id = shared.with_ledger(|l| l.add_connection(peer, endpoint));
        Self {
            inner,
            id,
            shared,
            blocked: false,
            outbound_polled: false,
            outbound_headroom: 0,
        }
    }

    fn unblock(&mut self) {
        if self.blocked {
            self.blocked = false;
            let id = self.id;
            self.shared.with_ledger(|l| l.outbound_unblocked(id));
        }
    }
}

impl<M> StreamMuxer for Muxer<M>
where
    M: StreamMuxer + Unpin,
    M::Substream: Unpin,
{
    type Substream = Substream<M::Substream>;
    type Error = M::Error;

    fn poll_inbound(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Result<Self::Substream, Self::Error>> {
        let this = self.get_mut();
        for _ in 0..MAX_REFUSALS_PER_POLL {
            let stream = match Pin::new(&mut this.inner).poll_inbound(cx) {
                Poll::Ready(Ok(stream)) => stream,
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                Poll::Pending => return Poll::Pending,
            };
            let now = Instant::now();
            let opened =
                (this.shared).with_ledger(|l| l.open_stream(this.id, Direction::Inbound, now));
            match opened {
                Ok(opened) => {
                    return Poll::Ready(Ok(Substream::new(
                        stream,
                        Role::Listener,
                        this.id,
                        opened.key,
                        this.shared.clone(),
                    )))
                }
                // Dropped unread: the transport resets or stops it.
                Err(_) => drop(stream),
            }
        }
        cx.waker().wake_by_ref();
        Poll::Pending
    }

    fn poll_outbound(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Result<Self::Substream, Self::Error>> {
        let this = self.get_mut();
        this.outbound_polled = true;
        if !this.blocked && this.outbound_headroom == 0 {
            match (this.shared).with_ledger(|l| l.admit_outbound(this.id)) {
                Ok(headroom) => this.outbound_headroom = headroom,
                Err(refusal) => {
                    return Poll::Ready(Ok(Substream::refused(refusal, this.shared.clone())))
                }
            }
        }
        match Pin::new(&mut this.inner).poll_outbound(cx) {
            Poll::Pending => {
                if !this.blocked {
                    this.blocked = true;
                    let now = Instant::now();
                    (this.shared).with_ledger(|l| l.outbound_blocked(this.id, now));
                }
                Poll::Pending
            }
            Poll::Ready(Err(e)) => {
                this.unblock();
                Poll::Ready(Err(e))
            }
            Poll::Ready(Ok(stream)) => {
                this.unblock();
                let now = Instant::now();
                let opened =
                    (this.shared).with_ledger(|l| l.open_stream(this.id, Direction::Outbound, now));
                Poll::Ready(Ok(match opened {
                    Ok(opened) => {
                        this.outbound_headroom = opened.headroom;
                        let shared = this.shared.clone();
                        Substream::new(stream, Role::Dialer, this.id, opened.key, shared)
                    }
                    // Another connection took the last slot since the check above.
                    Err(refusal) => {
                        this.outbound_headroom = 0;
                        Substream::refused(refusal, this.shared.clone())
                    }
                }))
            }
        }
    }

    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Pin::new(&mut self.get_mut().inner).poll_close(cx)
    }

    fn poll(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Result<StreamMuxerEvent, Self::Error>> {
        let this = self.get_mut();
        if !this.outbound_polled {
            this.unblock();
        }
        this.outbound_polled = false;
        Pin::new(&mut this.inner).poll(cx)
    }
}

impl<M> Drop for Muxer<M> {
    fn drop(&mut self) {
        let id = self.id;
        self.shared.with_ledger(|l| l.remove_connection(id));
    }
}
