//! A check of a DICOM file's declared element lengths against its real size, before dicom-rs
//! parses it. dicom-rs reserves and zero-fills each value's declared length before reading it,
//! so a corrupt or hostile 1 kB file that declares a 1 GB element costs 1 GB of memory first
//! (found by fuzzing: `crate/fuzz`, RELIABILITY.md); in the page, wasm memory never shrinks
//! again. The check refuses a file in which a defined value length runs past the end.
//!
//! - The file meta group is walked by hand, element header by element header (explicit VR
//!   little endian, as the standard fixes it), up to its group length.
//! - The data set is walked with dicom-rs's own token reader (`dicom_parser::DataSetReader`,
//!   what `dicom-object` reads it with) over a decoder that checks each value's length against
//!   the bytes left *before* it is read ([`BoundedDecoder`]), so the walk meets exactly the
//!   element headers the reader will meet. (A hand walk of the data set, used until
//!   2026-11-30, diverged from dicom-rs on malformed item tags and let a 700-byte file cost
//!   2 GB; found by the test command's short fuzz run.)
//!
//! A deflated data set cannot be checked before inflating it and is refused in words.

use std::cell::Cell;
use std::io::{Cursor, Seek};
use std::rc::Rc;

use dicom_core::header::{DataElementHeader, HasLength, SequenceItemHeader};
use dicom_core::value::PrimitiveValue;
use dicom_encoding::text::SpecificCharacterSet;
use dicom_encoding::transfer_syntax::TransferSyntaxIndex;
use dicom_parser::dataset::read::DataSetReaderOptions;
use dicom_parser::stateful::decode::{CharacterSetOverride, Result as DecodeResult};
use dicom_parser::{DataSetReader, DynStatefulDecoder, StatefulDecode};
use dicom_transfer_syntax_registry::TransferSyntaxRegistry;

/// The deflated transfer syntax, whose data set cannot be checked before inflating it.
const DEFLATED: &str = "1.2.840.10008.1.2.1.99";

/// Explicit VRs whose length field is 2 bytes (PS3.5 7.1.2). Every other VR, an unknown one
/// included (dicom-rs reads it as UN), has 2 reserved bytes and a 4-byte length.
const SHORT_VRS: [&[u8; 2]; 21] = [
    b"AE", b"AS", b"AT", b"CS", b"DA", b"DS", b"DT", b"FL", b"FD", b"IS", b"LO", b"LT", b"PN",
    b"SH", b"SL", b"SS", b"ST", b"TM", b"UI", b"UL", b"US",
];

const UNDEFINED: u32 = 0xFFFF_FFFF;
const ITEM_GROUP: u16 = 0xFFFE;
const SEQUENCE_DELIMITER: u32 = 0xFFFE_E0DD;
const TRANSFER_SYNTAX: u32 = 0x0002_0010;
const PIXEL_DATA: u32 = 0x7FE0_0010;

/// One element header: tag, explicit VR (if any), value length, header size.
struct Header {
    tag: u32,
    vr: Option<[u8; 2]>,
    len: u32,
    size: usize,
}

fn u16_at(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_le_bytes(b.get(at..at + 2)?.try_into().ok()?))
}

fn u32_at(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(b.get(at..at + 4)?.try_into().ok()?))
}

/// The element header at `at` in explicit VR little endian (the meta group's encoding), or
/// `None` where the bytes end.
fn header(b: &[u8], at: usize) -> Option<Header> {
    let tag = (u32::from(u16_at(b, at)?) << 16) | u32::from(u16_at(b, at + 2)?);
    if (tag >> 16) as u16 == ITEM_GROUP {
        return Some(Header {
            tag,
            vr: None,
            len: u32_at(b, at + 4)?,
            size: 8,
        });
    }
    let vr: [u8; 2] = b.get(at + 4..at + 6)?.try_into().ok()?;
    if SHORT_VRS.contains(&&vr) {
        Some(Header {
            tag,
            vr: Some(vr),
            len: u32::from(u16_at(b, at + 6)?),
            size: 8,
        })
    } else {
        Some(Header {
            tag,
            vr: Some(vr),
            len: u32_at(b, at + 8)?,
            size: 12,
        })
    }
}

/// How many bytes of a value dicom-rs reads: binary VRs are read in whole units of their size
/// (`len / unit` of them) and the rest is left in the stream, so the next element starts there.
fn bytes_read(vr: Option<[u8; 2]>, len: u32) -> usize {
    let unit = match vr.as_ref().map(|v| &v[..]) {
        Some(b"US" | b"OW" | b"SS") => 2,
        Some(b"AT" | b"FL" | b"OF" | b"SL" | b"UL" | b"OL") => 4,
        Some(b"FD" | b"OD" | b"SV" | b"OV" | b"UV") => 8,
        _ => 1,
    };
    (len as usize / unit) * unit
}

/// Walks elements from `at` and returns the first one whose defined length runs past the end
/// of `b`, as `(tag, declared length, bytes left)`; also the transfer syntax met on the way
/// (the file meta group names it). Sequences and items are stepped into (their elements
/// follow in order); an undefined-length non-sequence element (encapsulated pixel data) holds
/// fragments, whose contents are skipped.
fn first_overrun(b: &[u8], mut at: usize, stop: Stop) -> Walk {
    let mut fragments = false;
    let mut syntax = None;
    while let Some(h) = header(b, at) {
        let ended = match stop {
            Stop::AtOffset(end) => at >= end,
            Stop::OutsideGroup(g) => (h.tag >> 16) as u16 != g,
        };
        if ended {
            return Walk::Ended { syntax };
        }
        let body = at + h.size;
        let left = b.len().saturating_sub(body);
        let is_item_tag = (h.tag >> 16) as u16 == ITEM_GROUP;
        if h.tag == SEQUENCE_DELIMITER {
            fragments = false;
            at = body;
            continue;
        }
        if h.len == UNDEFINED {
            // A sequence or an item of undefined length: step in. Anything else of undefined
            // length is encapsulated (compressed) pixel data: fragments follow.
            if !is_item_tag && h.vr.is_none_or(|vr| &vr != b"SQ") {
                fragments = true;
            }
            at = body;
            continue;
        }
        if h.len as usize > left {
            return Walk::Overrun {
                tag: h.tag,
                len: h.len,
                left,
            };
        }
        let step_in = !fragments && (is_item_tag || h.vr.is_some_and(|vr| &vr == b"SQ"));
        if h.tag == TRANSFER_SYNTAX {
            syntax = Some(
                String::from_utf8_lossy(&b[body..body + h.len as usize])
                    .trim_end_matches(['\0', ' '])
                    .to_string(),
            );
        }
        at = if step_in {
            body
        } else if fragments {
            body + h.len as usize
        } else {
            body + bytes_read(h.vr, h.len)
        };
    }
    Walk::Ended { syntax }
}

/// Where a walk ends (besides the end of the bytes).
#[derive(Clone, Copy)]
enum Stop {
    /// At this offset: the file meta group, as long as its group length says (dicom-rs reads
    /// every element up to there as part of it, whatever its tag).
    AtOffset(usize),
    /// At the first element outside this group (a meta group without a group length).
    OutsideGroup(u16),
}

enum Walk {
    Ended { syntax: Option<String> },
    Overrun { tag: u32, len: u32, left: usize },
}

/// `None` when no element of `bytes` (a DICOM Part 10 file: preamble or not, "DICM", meta
/// group, data set) declares more bytes than the file holds; else why, in words.
pub fn declared_lengths_overrun(bytes: &[u8]) -> Option<String> {
    // "DICM" after the 128-byte preamble, or at the start (a file without one, which the
    // reader also takes); anything else is not Part 10 and the parser refuses it on its own.
    let magic = if bytes.get(128..132) == Some(b"DICM") {
        128
    } else if bytes.get(..4) == Some(b"DICM") {
        0
    } else {
        return None;
    };
    let say = |tag: u32, len: u32, left: usize| {
        let what = if tag == PIXEL_DATA {
            "its pixel data".to_string()
        } else {
            format!("element ({:04X},{:04X})", tag >> 16, tag & 0xFFFF)
        };
        Some(format!(
            "{what} declares {len} bytes but only {left} follow: the file is truncated or corrupt"
        ))
    };
    let first = magic + 4;
    let stop = match header(bytes, first) {
        Some(h) if h.tag == 0x0002_0000 && h.len == 4 => {
            let body = first + h.size;
            u32_at(bytes, body).map_or(Stop::OutsideGroup(0x0002), |len| {
                Stop::AtOffset(body + 4 + len as usize)
            })
        }
        _ => Stop::OutsideGroup(0x0002),
    };
    let syntax = match first_overrun(bytes, first, stop) {
        Walk::Overrun { tag, len, left } => return say(tag, len, left),
        Walk::Ended { syntax } => syntax.unwrap_or_default(),
    };
    if syntax == DEFLATED {
        // Its data set is compressed: nothing inside can be checked before inflating it.
        return Some(format!(
            "its data set is deflated (transfer syntax {DEFLATED}), which is not read: export \
             the series uncompressed (for example `gdcmconv --raw`) and open it again"
        ));
    }
    data_set_overrun(&bytes[magic..]).and_then(|(tag, len, left)| say(tag, len, left))
}

/// An element whose value runs past the end: `(tag, declared length, bytes left)`.
type Overrun = (u32, u32, usize);

/// Walks the data set of `file` (starting at "DICM") with dicom-rs's token reader over a
/// [`BoundedDecoder`] and returns the first value that runs past the end. `None` also where
/// the meta group or the transfer syntax does not parse: the reader refuses those itself
/// before reading any value.
fn data_set_overrun(file: &[u8]) -> Option<Overrun> {
    let mut cursor = Cursor::new(file);
    let meta = dicom_object::FileMetaTable::from_reader(&mut cursor).ok()?;
    let ts = TransferSyntaxRegistry.get(meta.transfer_syntax())?;
    let start = usize::try_from(cursor.position()).ok()?;
    let data = &file[start.min(file.len())..];
    let decoder = DynStatefulDecoder::new_with_override(
        data,
        ts,
        SpecificCharacterSet::default(),
        CharacterSetOverride::default(),
        0,
    )
    .ok()?;
    let found = Rc::new(Cell::new(None));
    let bounded = BoundedDecoder {
        inner: decoder,
        len: data.len() as u64,
        found: Rc::clone(&found),
    };
    for token in DataSetReader::new(bounded, DataSetReaderOptions::default()) {
        if found.get().is_some() || token.is_err() {
            break;
        }
    }
    found.get()
}

/// A stateful decoder that refuses to read a value longer than what is left of the bytes:
/// it records the element ([`Overrun`]) and reads nothing, and the walk stops there.
struct BoundedDecoder<D> {
    inner: D,
    /// Bytes in the data set.
    len: u64,
    found: Rc<Cell<Option<Overrun>>>,
}

impl<D: StatefulDecode> BoundedDecoder<D> {
    /// Whether `len` bytes fit in what is left; if not, records the overrun.
    fn fits(&self, tag: u32, len: u32) -> bool {
        let left = self.len.saturating_sub(self.inner.position());
        if u64::from(len) <= left {
            return true;
        }
        if self.found.get().is_none() {
            self.found.set(Some((
                tag,
                len,
                usize::try_from(left).unwrap_or(usize::MAX),
            )));
        }
        false
    }

    fn header_fits(&self, header: &DataElementHeader) -> bool {
        let tag = (u32::from(header.tag.0) << 16) | u32::from(header.tag.1);
        header.length().get().is_none_or(|len| self.fits(tag, len))
    }
}

impl<D: StatefulDecode> StatefulDecode for BoundedDecoder<D> {
    type Reader = D::Reader;

    fn decode_header(&mut self) -> DecodeResult<DataElementHeader> {
        self.inner.decode_header()
    }

    fn decode_item_header(&mut self) -> DecodeResult<SequenceItemHeader> {
        self.inner.decode_item_header()
    }

    fn read_value(&mut self, header: &DataElementHeader) -> DecodeResult<PrimitiveValue> {
        if !self.header_fits(header) {
            return Ok(PrimitiveValue::Empty);
        }
        self.inner.read_value(header)
    }

    fn read_value_preserved(&mut self, header: &DataElementHeader) -> DecodeResult<PrimitiveValue> {
        if !self.header_fits(header) {
            return Ok(PrimitiveValue::Empty);
        }
        self.inner.read_value_preserved(header)
    }

    fn read_value_bytes(&mut self, header: &DataElementHeader) -> DecodeResult<PrimitiveValue> {
        if !self.header_fits(header) {
            return Ok(PrimitiveValue::Empty);
        }
        self.inner.read_value_bytes(header)
    }

    fn read_to_vec(&mut self, length: u32, vec: &mut Vec<u8>) -> DecodeResult<()> {
        if !self.fits(PIXEL_DATA, length) {
            return Ok(());
        }
        self.inner.read_to_vec(length, vec)
    }

    fn read_u32_to_vec(&mut self, length: u32, vec: &mut Vec<u32>) -> DecodeResult<()> {
        if !self.fits(PIXEL_DATA, length) {
            return Ok(());
        }
        self.inner.read_u32_to_vec(length, vec)
    }

    fn read_to<W>(&mut self, length: u32, out: W) -> DecodeResult<()>
    where
        Self: Sized,
        W: std::io::Write,
    {
        if !self.fits(PIXEL_DATA, length) {
            return Ok(());
        }
        self.inner.read_to(length, out)
    }

    fn skip_bytes(&mut self, length: u32) -> DecodeResult<()> {
        self.inner.skip_bytes(length)
    }

    fn seek(&mut self, position: u64) -> DecodeResult<()>
    where
        Self::Reader: Seek,
    {
        self.inner.seek(position)
    }

    fn position(&self) -> u64 {
        self.inner.position()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Volume;
    use crate::data::dicom_writer::write_dicom_series;

    fn a_file() -> Vec<u8> {
        let v = Volume::new(vec![1.0f32; 6 * 5 * 2], [6, 5, 2], [1.0, 1.0, 2.0]).unwrap();
        write_dicom_series(&v, "CT").unwrap().remove(0)
    }

    /// Where the pixel data's 4-byte length sits in `file` (explicit VR: tag, "OW", 2 reserved).
    fn pixel_length_at(file: &[u8]) -> usize {
        let tag = [0xE0, 0x7F, 0x10, 0x00];
        let at = file.windows(4).rposition(|w| w == tag).expect("pixel data");
        at + 8
    }

    #[test]
    fn a_whole_file_passes_and_an_inflated_length_is_named() {
        let file = a_file();
        assert_eq!(declared_lengths_overrun(&file), None);
        let mut inflated = file.clone();
        let at = pixel_length_at(&inflated);
        inflated[at..at + 4].copy_from_slice(&1_000_000_000u32.to_le_bytes());
        let why = declared_lengths_overrun(&inflated).expect("refused");
        assert!(
            why.contains("pixel data declares 1000000000 bytes but only 60 follow"),
            "{why}"
        );
        // Cut short: the last element no longer fits.
        let why = declared_lengths_overrun(&file[..file.len() - 10]).expect("refused");
        assert!(why.contains("truncated"), "{why}");
    }

    #[test]
    fn what_it_cannot_follow_is_left_to_the_parser() {
        assert_eq!(declared_lengths_overrun(b"not dicom"), None);
        let mut file = a_file();
        // A header cut mid-way declares nothing; the parser reports the truncation.
        file.truncate(136);
        assert_eq!(declared_lengths_overrun(&file), None);
    }
}
