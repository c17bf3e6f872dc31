//! Which protocol a stream negotiated, read off the multistream-select bytes
//! that pass through it.
//!
//! multistream-select 1.0 frames every message with an unsigned-varint length
//! (at most two bytes, so at most 16383 bytes) and ends it with `\n`: the
//! header `/multistream/1.0.0`, a protocol, `na`, `ls`, or a list of protocols.
//! The dialer proposes, the listener echoes the protocol it accepts or says
//! `na`. A [`Negotiation`] follows both directions of one stream and reports
//! the protocol once the listener's echo matches the dialer's proposal. It
//! looks at nothing after that, and gives up on anything that is not
//! multistream-select: the stream is then simply not attributed.
//!
//! A side stops being read after it proposed (dialer) or was proposed to
//! (listener) until the other side answers: what follows a proposal in the
//! same write is application data of a lazy dialer, not negotiation.
//!
//! Every stream goes through this, so it allocates nothing for the usual
//! messages: they fit the inline buffers.

/// The longest message kept; longer ones (a long `ls` answer) are skipped
/// without being stored, and a protocol that long is not attributed.
pub(crate) const MAX_MESSAGE_LEN: usize = 1024;

/// multistream-select's largest frame: a two-byte varint length.
const MAX_FRAME_LEN: usize = (1 << 14) - 1;

/// Messages up to this length (the header, most protocol names) stay inline.
const INLINE: usize = 64;

const HEADER: &[u8] = b"/multistream/1.0.0\n";
const NOT_AVAILABLE: &[u8] = b"na\n";
const LIST: &[u8] = b"ls\n";

/// Bytes kept inline up to [`INLINE`], on the heap beyond.
#[derive(Debug)]
struct Buf {
    inline: [u8; INLINE],
    len: usize,
    spilled: Vec<u8>,
}

impl Default for Buf {
    fn default() -> Self {
        Self {
            inline: [0; INLINE],
            len: 0,
            spilled: Vec::new(),
        }
    }
}

impl Buf {
    fn push(&mut self, bytes: &[u8]) {
        let len = self.len + bytes.len();
        if len <= INLINE && self.spilled.is_empty() {
            self.inline[self.len..len].copy_from_slice(bytes);
        } else {
            if self.spilled.is_empty() {
                self.spilled.extend_from_slice(&self.inline[..self.len]);
            }
            self.spilled.extend_from_slice(bytes);
        }
        self.len = len;
    }

    fn as_slice(&self) -> &[u8] {
        if self.spilled.is_empty() {
            &self.inline[..self.len]
        } else {
            &self.spilled
        }
    }

    fn clear(&mut self) {
        self.len = 0;
        self.spilled.clear();
    }

    fn set(&mut self, bytes: &[u8]) {
        self.clear();
        self.push(bytes);
    }
}

/// One message, classified; a protocol's name is the framer's body.
#[derive(Debug, PartialEq, Eq)]
enum Message {
    Header,
    Protocol,
    NotAvailable,
    List,
    /// Anything else that is well framed: an `ls` answer, or a protocol too
    /// long to keep.
    Other,
}

/// Splits one direction's bytes into messages, keeping at most
/// [`MAX_MESSAGE_LEN`] bytes of the message under way.
#[derive(Debug, Default)]
struct Framer {
    /// The length prefix read so far, and how many of its bytes.
    length: usize,
    length_bytes: u8,
    /// The body's length once the prefix is complete.
    body_len: Option<usize>,
    body: Buf,
    /// Bytes of an oversized body skipped so far.
    skipped: usize,
    /// The last message is complete: the next byte starts a new one.
    complete: bool,
}

#[derive(Debug, PartialEq, Eq)]
struct Malformed;

impl Framer {
    /// The next complete message from `input`, consuming what it reads. The
    /// body stays readable until the next call.
    fn next(&mut self, input: &mut &[u8]) -> Option<Result<Message, Malformed>> {
        if self.complete {
            self.reset();
        }
        // The usual case: a whole short frame at the start of the input.
        if self.length_bytes == 0 {
            if let Some((&len, rest)) = input.split_first() {
                let len = usize::from(len);
                if (1..0x80).contains(&len) && rest.len() >= len {
                    let (body, rest) = rest.split_at(len);
                    *input = rest;
                    self.body.push(body);
                    self.complete = true;
                    return Some(Ok(classify(body, len)));
                }
            }
        }
        while let Some((&byte, rest)) = input.split_first() {
            let Some(len) = self.body_len else {
                *input = rest;
                if self.length_bytes == 2 {
                    return Some(Err(Malformed));
                }
                self.length |= usize::from(byte & 0x7f) << (7 * self.length_bytes);
                self.length_bytes += 1;
                if byte & 0x80 == 0 {
                    if self.length == 0 || self.length > MAX_FRAME_LEN {
                        return Some(Err(Malformed));
                    }
                    self.body_len = Some(self.length);
                }
                continue;
            };
            let have = self.body.len + self.skipped;
            let take = (len - have).min(input.len());
            let (chunk, rest) = input.split_at(take);
            *input = rest;
            if len <= MAX_MESSAGE_LEN {
                self.body.push(chunk);
            } else {
                self.skipped += take;
            }
            if have + take == len {
                self.complete = true;
                return Some(Ok(classify(self.body.as_slice(), len)));
            }
        }
        None
    }

    /// A protocol message's name, without its `\n`.
    fn protocol(&self) -> &[u8] {
        let body = self.body.as_slice();
        &body[..body.len().saturating_sub(1)]
    }

    /// Forgets a partly read message: the side starts afresh when it resumes.
    fn reset(&mut self) {
        self.length = 0;
        self.length_bytes = 0;
        self.body_len = None;
        self.body.clear();
        self.skipped = 0;
        self.complete = false;
    }
}

fn classify(body: &[u8], len: usize) -> Message {
    if len > MAX_MESSAGE_LEN {
        return Message::Other;
    }
    match body {
        HEADER => Message::Header,
        NOT_AVAILABLE => Message::NotAvailable,
        LIST => Message::List,
        [b'/', .., b'\n'] => Message::Protocol,
        _ => Message::Other,
    }
}

/// Our role in a stream's negotiation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Role {
    /// We opened the stream and propose.
    Dialer,
    /// The remote opened it and we answer.
    Listener,
}

/// What a chunk of bytes settled.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// Still negotiating.
    Pending,
    /// Both sides agreed on the protocol [`Negotiation::agreed`] names.
    Agreed,
    /// Not multistream-select as we know it: the stream stays unattributed.
    GaveUp,
}

/// Follows one stream's negotiation; see the module docs.
#[derive(Debug)]
pub(crate) struct Negotiation {
    role: Role,
    written: Framer,
    read: Framer,
    /// The proposal awaiting an answer (ours as dialer, theirs as listener),
    /// and once agreed, the protocol.
    proposal: Buf,
    has_proposal: bool,
    /// The proposing side is not parsed until the answer came.
    awaiting_answer: bool,
}

impl Negotiation {
    pub(crate) fn new(role: Role) -> Self {
        Self {
            role,
            written: Framer::default(),
            read: Framer::default(),
            proposal: Buf::default(),
            has_proposal: false,
            awaiting_answer: false,
        }
    }

    /// Bytes we wrote (or are about to write).
    pub(crate) fn on_written(&mut self, bytes: &[u8]) -> Outcome {
        match self.role {
            Role::Dialer => self.on_proposer_bytes(bytes, Side::Written),
            Role::Listener => self.on_answerer_bytes(bytes, Side::Written),
        }
    }

    /// Bytes we read.
    pub(crate) fn on_read(&mut self, bytes: &[u8]) -> Outcome {
        match self.role {
            Role::Dialer => self.on_answerer_bytes(bytes, Side::Read),
            Role::Listener => self.on_proposer_bytes(bytes, Side::Read),
        }
    }

    /// The protocol agreed on, once [`Outcome::Agreed`] said so.
    pub(crate) fn agreed(&self) -> &[u8] {
        self.proposal.as_slice()
    }

    fn framer(&mut self, side: Side) -> &mut Framer {
        match side {
            Side::Written => &mut self.written,
            Side::Read => &mut self.read,
        }
    }

    fn on_proposer_bytes(&mut self, mut bytes: &[u8], side: Side) -> Outcome {
        while !self.awaiting_answer {
            let Some(message) = self.framer(side).next(&mut bytes) else {
                return Outcome::Pending;
            };
            match message {
                Ok(Message::Header) => {}
                Ok(Message::Protocol) => {
                    let framer = side.of(&self.written, &self.read);
                    self.proposal.set(framer.protocol());
                    self.has_proposal = true;
                    self.awaiting_answer = true;
                }
                Ok(Message::List) => self.awaiting_answer = true,
                Ok(Message::NotAvailable | Message::Other) | Err(Malformed) => {
                    return Outcome::GaveUp
                }
            }
        }
        Outcome::Pending
    }

    fn on_answerer_bytes(&mut self, mut bytes: &[u8], side: Side) -> Outcome {
        let proposer = side.other();
        loop {
            let Some(message) = self.framer(side).next(&mut bytes) else {
                return Outcome::Pending;
            };
            match message {
                Ok(Message::Header) => {}
                Ok(Message::Protocol) => {
                    let framer = side.of(&self.written, &self.read);
                    let echoed = self.has_proposal && framer.protocol() == self.proposal.as_slice();
                    return if echoed {
                        Outcome::Agreed
                    } else {
                        Outcome::GaveUp
                    };
                }
                // A refusal, or the answer to `ls`: the proposer goes on.
                Ok(Message::NotAvailable | Message::Other) => {
                    self.has_proposal = false;
                    self.awaiting_answer = false;
                    self.framer(proposer).reset();
                }
                Ok(Message::List) | Err(Malformed) => return Outcome::GaveUp,
            }
        }
    }
}

#[derive(Debug, Clone, Copy)]
enum Side {
    Written,
    Read,
}

impl Side {
    /// This side's framer; taking the fields, not `self`, leaves the
    /// negotiation's other fields free to change.
    fn of<'a>(self, written: &'a Framer, read: &'a Framer) -> &'a Framer {
        match self {
            Self::Written => written,
            Self::Read => read,
        }
    }

    fn other(self) -> Self {
        match self {
            Self::Written => Self::Read,
            Self::Read => Self::Written,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(message: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        let mut len = message.len();
        loop {
            let byte = (len & 0x7f) as u8;
            len >>= 7;
            if len == 0 {
                out.push(byte);
                break;
            }
            out.push(byte | 0x80);
        }
        out.extend_from_slice(message);
        out
    }

    fn frames(messages: &[&[u8]]) -> Vec<u8> {
        messages.iter().flat_map(|m| frame(m)).collect()
    }

    #[test]
    fn dialer_agrees_when_the_listener_echoes_its_proposal() {
        let mut n = Negotiation::new(Role::Dialer);
        assert_eq!(
            n.on_written(&frames(&[HEADER, b"/echo/1\n"])),
            Outcome::Pending
        );
        assert_eq!(n.on_read(&frame(HEADER)), Outcome::Pending);
        assert_eq!(n.on_read(&frame(b"/echo/1\n")), Outcome::Agreed);
        assert_eq!(n.agreed(), b"/echo/1");
    }

    #[test]
    fn dialer_goes_on_after_na_and_agrees_on_the_second_proposal() {
        let mut n = Negotiation::new(Role::Dialer);
        n.on_written(&frames(&[HEADER, b"/a/2\n"]));
        assert_eq!(n.on_read(&frames(&[HEADER, b"na\n"])), Outcome::Pending);
        n.on_written(&frame(b"/a/1\n"));
        assert_eq!(n.on_read(&frame(b"/a/1\n")), Outcome::Agreed);
        assert_eq!(n.agreed(), b"/a/1");
    }

    #[test]
    fn a_lazy_dialers_data_after_its_proposal_is_not_parsed() {
        let mut n = Negotiation::new(Role::Dialer);
        let mut bytes = frames(&[HEADER, b"/lazy/1\n"]);
        bytes.extend_from_slice(&[0xff; 64]);
        assert_eq!(n.on_written(&bytes), Outcome::Pending);
        assert_eq!(n.on_read(&frames(&[HEADER, b"/lazy/1\n"])), Outcome::Agreed);
        assert_eq!(n.agreed(), b"/lazy/1");
    }

    #[test]
    fn listener_agrees_when_it_echoes_and_sees_proposals_split_anywhere() {
        let proposal = frames(&[HEADER, b"/split/1\n"]);
        for cut in 0..=proposal.len() {
            let mut n = Negotiation::new(Role::Listener);
            assert_eq!(n.on_read(&proposal[..cut]), Outcome::Pending);
            assert_eq!(n.on_read(&proposal[cut..]), Outcome::Pending);
            assert_eq!(
                n.on_written(&frames(&[HEADER, b"/split/1\n"])),
                Outcome::Agreed,
                "cut at {cut}"
            );
            assert_eq!(n.agreed(), b"/split/1");
        }
    }

    #[test]
    fn listener_refuses_then_agrees() {
        let mut n = Negotiation::new(Role::Listener);
        n.on_read(&frames(&[HEADER, b"/unknown/1\n"]));
        assert_eq!(n.on_written(&frames(&[HEADER, b"na\n"])), Outcome::Pending);
        n.on_read(&frame(b"/known/1\n"));
        assert_eq!(n.on_written(&frame(b"/known/1\n")), Outcome::Agreed);
        assert_eq!(n.agreed(), b"/known/1");
    }

    #[test]
    fn an_echo_of_something_never_proposed_is_not_attributed() {
        let mut n = Negotiation::new(Role::Dialer);
        n.on_written(&frames(&[HEADER, b"/asked/1\n"]));
        assert_eq!(
            n.on_read(&frames(&[HEADER, b"/other/1\n"])),
            Outcome::GaveUp
        );
    }

    #[test]
    fn ls_is_answered_and_negotiation_goes_on() {
        let mut n = Negotiation::new(Role::Listener);
        n.on_read(&frames(&[HEADER, b"ls\n"]));
        let list = frames(&[b"/a/1\n", b"/b/1\n"]);
        let mut answer = frame(HEADER);
        answer.extend(frame(&[list, b"\n".to_vec()].concat()));
        assert_eq!(n.on_written(&answer), Outcome::Pending);
        n.on_read(&frame(b"/b/1\n"));
        assert_eq!(n.on_written(&frame(b"/b/1\n")), Outcome::Agreed);
        assert_eq!(n.agreed(), b"/b/1");
    }

    #[test]
    fn garbage_never_panics_and_gives_up_or_waits() {
        // Every byte pattern of a few lengths, both roles, both sides.
        let mut seed = 0x9e37_79b9_u32;
        for len in 0..300 {
            let bytes: Vec<u8> = (0..len)
                .map(|_| {
                    seed ^= seed << 13;
                    seed ^= seed >> 17;
                    seed ^= seed << 5;
                    seed as u8
                })
                .collect();
            for role in [Role::Dialer, Role::Listener] {
                let mut n = Negotiation::new(role);
                let _ = n.on_read(&bytes);
                let _ = n.on_written(&bytes);
                assert!(n.read.body.spilled.capacity() <= MAX_MESSAGE_LEN * 2);
            }
        }
    }

    #[test]
    fn malformed_lengths_give_up() {
        // A three-byte varint, and a zero-length frame.
        for bytes in [&[0x80u8, 0x80, 0x01][..], &[0x00][..]] {
            let mut n = Negotiation::new(Role::Listener);
            assert_eq!(n.on_read(bytes), Outcome::GaveUp);
        }
    }

    #[test]
    fn a_huge_message_is_skipped_without_being_stored() {
        let mut n = Negotiation::new(Role::Listener);
        let mut proposal = b"/".to_vec();
        proposal.extend(std::iter::repeat_n(b'x', 10_000));
        proposal.push(b'\n');
        let bytes = frames(&[HEADER, &proposal]);
        assert_eq!(n.on_read(&bytes), Outcome::GaveUp);
        assert!(n.read.body.spilled.capacity() <= MAX_MESSAGE_LEN * 2);
    }
}
