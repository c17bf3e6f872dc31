//! A connection's muxer after the handshake: the streams the remote opened
//! meanwhile come first, each replaying the bytes the handshake read from it.

use std::{
    collections::VecDeque,
    io,
    pin::Pin,
    task::{Context, Poll},
};

use futures::{AsyncRead, AsyncWrite};
use libp2p_core::muxing::{StreamMuxer, StreamMuxerEvent};

/// A stream whose first bytes were read ahead; reads give them back first.
#[derive(Debug)]
pub(crate) struct Replay<S> {
    read_ahead: Vec<u8>,
    replayed: usize,
    inner: S,
}

impl<S> Replay<S> {
    pub(crate) fn new(inner: S) -> Self {
        Self {
            read_ahead: Vec::new(),
            replayed: 0,
            inner,
        }
    }

    /// The bytes read ahead so far.
    pub(crate) fn read_ahead(&self) -> &[u8] {
        &self.read_ahead
    }
}

impl<S: AsyncRead + Unpin> Replay<S> {
    /// Reads more of the stream ahead, at most `max` bytes in all; returns
    /// how many came (0 at the end of the stream or at `max`).
    pub(crate) fn poll_read_ahead(
        &mut self,
        cx: &mut Context<'_>,
        max: usize,
    ) -> Poll<io::Result<usize>> {
        let mut chunk = [0u8; 256];
        let room = max.saturating_sub(self.read_ahead.len()).min(chunk.len());
        if room == 0 {
            return Poll::Ready(Ok(0));
        }
        let n = futures::ready!(Pin::new(&mut self.inner).poll_read(cx, &mut chunk[..room]))?;
        self.read_ahead.extend_from_slice(&chunk[..n]);
        Poll::Ready(Ok(n))
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Replay<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if this.replayed < this.read_ahead.len() {
            let pending = &this.read_ahead[this.replayed..];
            let n = pending.len().min(buf.len());
            buf[..n].copy_from_slice(&pending[..n]);
            this.replayed += n;
            if this.replayed == this.read_ahead.len() {
                this.read_ahead = Vec::new();
                this.replayed = 0;
            }
            return Poll::Ready(Ok(n));
        }
        Pin::new(&mut this.inner).poll_read(cx, buf)
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Replay<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_close(cx)
    }
}

/// A muxer that went through the handshake: what the handshake took off it
/// (streams the remote opened, the muxer's own events) comes out first.
#[derive(Debug)]
pub(crate) struct Muxer<M: StreamMuxer> {
    inner: M,
    inbound: VecDeque<Replay<M::Substream>>,
    events: VecDeque<StreamMuxerEvent>,
}

impl<M: StreamMuxer> Muxer<M> {
    pub(crate) fn new(
        inner: M,
        inbound: VecDeque<Replay<M::Substream>>,
        events: VecDeque<StreamMuxerEvent>,
    ) -> Self {
        Self {
            inner,
            inbound,
            events,
        }
    }
}

impl<M> StreamMuxer for Muxer<M>
where
    M: StreamMuxer + Unpin,
    M::Substream: Unpin,
{
    type Substream = Replay<M::Substream>;
    type Error = M::Error;

    fn poll_inbound(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Result<Self::Substream, Self::Error>> {
        let this = self.get_mut();
        if let Some(stream) = this.inbound.pop_front() {
            return Poll::Ready(Ok(stream));
        }
        Pin::new(&mut this.inner)
            .poll_inbound(cx)
            .map_ok(Replay::new)
    }

    fn poll_outbound(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Result<Self::Substream, Self::Error>> {
        Pin::new(&mut self.get_mut().inner)
            .poll_outbound(cx)
            .map_ok(Replay::new)
    }

    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Pin::new(&mut self.get_mut().inner).poll_close(cx)
    }

    fn poll(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Result<StreamMuxerEvent, Self::Error>> {
        let this = self.get_mut();
        if let Some(event) = this.events.pop_front() {
            return Poll::Ready(Ok(event));
        }
        Pin::new(&mut this.inner).poll(cx)
    }
}
