//! One counted stream: watches its negotiation, then passes bytes through
//! untouched.

use std::{
    io::{self, IoSlice, IoSliceMut},
    pin::Pin,
    sync::Arc,
    task::{Context, Poll},
};

use futures::{ready, AsyncRead, AsyncWrite};

use crate::{
    ledger::{MuxerId, StreamKey},
    negotiation::{Negotiation, Outcome, Role},
    quota::Shared,
    LimitExceeded,
};

/// A stream of a [`crate::Muxer`]. Counted open until dropped; refused
/// streams fail every read and write with [`LimitExceeded`].
#[derive(Debug)]
pub struct Substream<S> {
    /// `None` for an outbound stream refused before the muxer opened one.
    inner: Option<S>,
    /// `None` once its protocol is known, or it is not multistream-select.
    /// Boxed, and dropped once settled: inline, a long-lived stream (ping's,
    /// identify's) would keep the framers' buffers, most of its size, for
    /// its whole life.
    negotiation: Option<Box<Negotiation>>,
    /// Bytes at the start of the caller's write buffer read already, by a
    /// write the inner stream did not (fully) take.
    read_ahead: usize,
    /// Boxed: every stream carries the field, few are refused.
    refused: Option<Box<LimitExceeded>>,
    muxer: MuxerId,
    key: Option<StreamKey>,
    shared: Arc<Shared>,
}

impl<S> Substream<S> {
    pub(crate) fn new(
        inner: S,
        role: Role,
        muxer: MuxerId,
        key: StreamKey,
        shared: Arc<Shared>,
    ) -> Self {
        Self {
            inner: Some(inner),
            negotiation: Some(Box::new(Negotiation::new(role))),
            read_ahead: 0,
            refused: None,
            muxer,
            key: Some(key),
            shared,
        }
    }

    pub(crate) fn refused(refusal: LimitExceeded, shared: Arc<Shared>) -> Self {
        Self {
            inner: None,
            negotiation: None,
            read_ahead: 0,
            refused: Some(Box::new(refusal)),
            muxer: crate::ledger::MuxerId::NONE,
            key: None,
            shared,
        }
    }

    fn error(&self) -> Option<io::Error> {
        self.refused.as_deref().cloned().map(io::Error::from)
    }

    /// Acts on what the negotiation bytes settled: attributes the stream,
    /// or refuses it when its protocol's scope is full.
    fn settle(&mut self, outcome: Outcome) -> io::Result<()> {
        match outcome {
            Outcome::Pending => Ok(()),
            Outcome::GaveUp => {
                self.negotiation = None;
                Ok(())
            }
            Outcome::Agreed => {
                let negotiation = self.negotiation.take().expect("it just agreed");
                let Some(key) = self.key else { return Ok(()) };
                let muxer = self.muxer;
                let protocol = negotiation.agreed();
                let attributed = (self.shared).with_ledger(|l| l.attribute(muxer, key, protocol));
                attributed.map_err(|refusal| {
                    self.refused = Some(Box::new(refusal.clone()));
                    // Dropping the inner stream resets it (yamux, WebRTC) or
                    // stops and finishes it (QUIC) now, not when the caller
                    // gets round to dropping us.
                    self.inner = None;
                    refusal.into()
                })
            }
        }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Substream<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let Some(inner) = &mut this.inner else {
            return Poll::Ready(Err(this.error().unwrap_or_else(closed)));
        };
        let n = ready!(Pin::new(inner).poll_read(cx, buf))?;
        if let Some(negotiation) = &mut this.negotiation {
            let outcome = negotiation.on_read(&buf[..n]);
            this.settle(outcome)?;
        }
        Poll::Ready(Ok(n))
    }

    fn poll_read_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &mut [IoSliceMut<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        match (&mut this.inner, &this.negotiation) {
            (Some(inner), None) => Pin::new(inner).poll_read_vectored(cx, bufs),
            _ => {
                let buf = bufs.iter_mut().find(|b| !b.is_empty());
                Pin::new(this).poll_read(cx, buf.map_or(&mut [], |b| &mut **b))
            }
        }
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Substream<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if this.inner.is_none() {
            return Poll::Ready(Err(this.error().unwrap_or_else(closed)));
        }
        // Read before the inner stream sees the bytes, so that an echo over
        // a protocol's limit is never sent.
        if let Some(negotiation) = &mut this.negotiation {
            let fresh = buf.get(this.read_ahead..).unwrap_or_default();
            let outcome = negotiation.on_written(fresh);
            this.read_ahead = buf.len();
            this.settle(outcome)?;
        }
        let inner = this.inner.as_mut().expect("checked above");
        let n = ready!(Pin::new(inner).poll_write(cx, buf))?;
        this.read_ahead = this.read_ahead.saturating_sub(n);
        Poll::Ready(Ok(n))
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        match (&mut this.inner, &this.negotiation) {
            (Some(inner), None) => Pin::new(inner).poll_write_vectored(cx, bufs),
            _ => {
                let buf = bufs.iter().find(|b| !b.is_empty());
                Pin::new(this).poll_write(cx, buf.map_or(&[], |b| &**b))
            }
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        match &mut this.inner {
            Some(inner) => Pin::new(inner).poll_flush(cx),
            None => Poll::Ready(Err(this.error().unwrap_or_else(closed))),
        }
    }

    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match &mut self.get_mut().inner {
            Some(inner) => Pin::new(inner).poll_close(cx),
            None => Poll::Ready(Ok(())),
        }
    }
}

impl<S> Drop for Substream<S> {
    fn drop(&mut self) {
        if let Some(key) = self.key {
            let muxer = self.muxer;
            self.shared.with_ledger(|l| l.close_stream(muxer, key));
        }
    }
}

fn closed() -> io::Error {
    io::ErrorKind::NotConnected.into()
}
