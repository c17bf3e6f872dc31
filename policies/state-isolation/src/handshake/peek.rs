//! Which protocol a remote proposes on a stream it opened, read from the
//! first bytes without answering: the multistream-select header and the
//! first proposal, which a dialer sends in one go.

/// What the first bytes of an inbound stream say.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Peeked<'a> {
    /// Not enough bytes yet.
    Incomplete,
    /// The header and this first proposal (without its newline).
    Proposal(&'a [u8]),
    /// Not a negotiation this reader knows; left to the swarm's.
    Other,
}

const HEADER: &[u8] = b"/multistream/1.0.0\n";

/// The longest frame read. multistream-select's own limit for a protocol
/// name is 140 bytes; anything longer is left for the swarm to refuse.
const MAX_FRAME: usize = 1024;

/// The most bytes [`proposal`] ever needs: two length prefixes, the header,
/// and one frame at its limit.
pub(crate) const MAX_PEEK: usize = 2 * 2 + HEADER.len() + MAX_FRAME;

/// Reads the header and the first proposal from the start of `bytes`.
pub(crate) fn proposal(bytes: &[u8]) -> Peeked<'_> {
    let (header, rest) = match frame(bytes) {
        Frame::Complete(header, rest) => (header, rest),
        Frame::Incomplete => return Peeked::Incomplete,
        Frame::Invalid => return Peeked::Other,
    };
    if header != HEADER {
        return Peeked::Other;
    }
    match frame(rest) {
        Frame::Complete(proposal, _) => match proposal.strip_suffix(b"\n") {
            Some(name) => Peeked::Proposal(name),
            None => Peeked::Other,
        },
        Frame::Incomplete => Peeked::Incomplete,
        Frame::Invalid => Peeked::Other,
    }
}

enum Frame<'a> {
    Complete(&'a [u8], &'a [u8]),
    Incomplete,
    Invalid,
}

/// One frame: an unsigned varint length of at most two bytes, then the bytes.
fn frame(bytes: &[u8]) -> Frame<'_> {
    let mut len = 0usize;
    for (i, byte) in bytes.iter().enumerate().take(2) {
        len |= usize::from(byte & 0x7f) << (7 * i);
        if byte & 0x80 == 0 {
            let start = i + 1;
            if len > MAX_FRAME {
                return Frame::Invalid;
            }
            return match bytes.get(start..start + len) {
                Some(frame) => Frame::Complete(frame, &bytes[start + len..]),
                None => Frame::Incomplete,
            };
        }
    }
    if bytes.len() >= 2 {
        Frame::Invalid
    } else {
        Frame::Incomplete
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn framed(parts: &[&[u8]]) -> Vec<u8> {
        let mut out = Vec::new();
        for part in parts {
            assert!(part.len() < 128);
            out.push(part.len() as u8);
            out.extend_from_slice(part);
        }
        out
    }

    #[test]
    fn a_dialers_first_bytes_name_its_proposal_at_every_split() {
        let mut bytes = framed(&[HEADER, b"/state-isolation/incarnation/1.0.0\n"]);
        bytes.extend_from_slice(b"early data");
        for cut in 0..bytes.len() {
            let expected = if cut < bytes.len() - b"early data".len() {
                Peeked::Incomplete
            } else {
                Peeked::Proposal(b"/state-isolation/incarnation/1.0.0")
            };
            assert_eq!(proposal(&bytes[..cut]), expected, "cut at {cut}");
        }
    }

    #[test]
    fn anything_else_is_left_to_the_swarm() {
        assert_eq!(proposal(&framed(&[b"/multistream/2.0.0\n"])), Peeked::Other);
        assert_eq!(proposal(&framed(&[HEADER, b"no newline"])), Peeked::Other);
        // A length past the limit, and a third length byte.
        assert_eq!(proposal(&[0x81, 0x7f]), Peeked::Other);
        assert_eq!(proposal(&[0x80, 0x80, 0x01]), Peeked::Other);
        let mut long = framed(&[HEADER]);
        long.extend_from_slice(&[0x80 | 0x01, 0x08]);
        assert_eq!(proposal(&long), Peeked::Other, "a 1025-byte frame");
    }

    #[test]
    fn two_byte_lengths_are_read() {
        let name = [b'a'; 200];
        let mut bytes = framed(&[HEADER]);
        bytes.extend_from_slice(&[0x80 | (201 & 0x7f) as u8, (201 >> 7) as u8]);
        bytes.extend_from_slice(&name);
        bytes.push(b'\n');
        assert_eq!(proposal(&bytes), Peeked::Proposal(&name[..]));
    }
}
