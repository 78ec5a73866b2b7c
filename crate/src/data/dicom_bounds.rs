//! A check of a DICOM file's declared element lengths against its real size, before dicom-rs
//! parses it. dicom-rs reserves and zero-fills each value's declared length before reading it,
//! so a corrupt or hostile 1 kB file that declares a 1 GB element costs 1 GB of memory first
//! (found by fuzzing: `crate/fuzz`, RELIABILITY.md); in the page, wasm memory never shrinks
//! again. The check refuses a file in which a defined value length runs past the end.
//!
//! - The file meta group is walked by hand, element header by element header (explicit VR
//!   little endian, as the standard fixes it), up to its group length, each value its exact
//!   declared length: as `dicom_object::FileMetaTable` reads it ([`meta_group`]).
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
const GROUP_LENGTH: u32 = 0x0002_0000;
const TRANSFER_SYNTAX: u32 = 0x0002_0010;
const PIXEL_DATA: u32 = 0x7FE0_0010;

/// One element header: tag, value length, header size.
struct Header {
    tag: u32,
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
            len: u32_at(b, at + 4)?,
            size: 8,
        });
    }
    let vr: [u8; 2] = b.get(at + 4..at + 6)?.try_into().ok()?;
    if SHORT_VRS.contains(&&vr) {
        Some(Header {
            tag,
            len: u32::from(u16_at(b, at + 6)?),
            size: 8,
        })
    } else {
        Some(Header {
            tag,
            len: u32_at(b, at + 8)?,
            size: 12,
        })
    }
}

/// Walks the file meta group from `first` (just past "DICM") as dicom-object's
/// `FileMetaTable::read_from` reads it, and returns the first value that runs past the end of
/// `b`, or the transfer syntax met on the way. That reader takes the first element as the
/// group length (it must be 4 bytes long) and then reads element after element until that many
/// bytes are consumed, each value exactly its declared length whatever its VR (unlike the data
/// set's reader, which reads binary values in whole units), reserving the length of the UID
/// values before reading them; a missing group length or an undefined length makes it refuse
/// the file by itself, so the walk stops there with nothing found. (Walking the meta group
/// with the data set's whole-unit rule let a 193-byte file whose (0002,0001) is an OD of 2
/// bytes hide a 4 GB UID length from the check; found by CI's short fuzz run, 2026-12-01.)
fn meta_group(b: &[u8], first: usize) -> Walk {
    let ended = Walk::Ended { syntax: None };
    let Some(group) = header(b, first) else {
        return ended;
    };
    if group.tag != GROUP_LENGTH || group.len != 4 {
        return ended;
    }
    let Some(group_len) = u32_at(b, first + group.size) else {
        return ended;
    };
    let mut at = first + group.size + 4;
    let mut consumed: u32 = 0;
    let mut syntax = None;
    while consumed < group_len {
        let Some(h) = header(b, at) else { break };
        if h.len == UNDEFINED {
            break;
        }
        let body = at + h.size;
        let left = b.len().saturating_sub(body);
        if h.len as usize > left {
            return Walk::Overrun {
                tag: h.tag,
                len: h.len,
                left,
            };
        }
        if h.tag == TRANSFER_SYNTAX {
            syntax = Some(
                String::from_utf8_lossy(&b[body..body + h.len as usize])
                    .trim_end_matches(['\0', ' '])
                    .to_string(),
            );
        }
        at = body + h.len as usize;
        consumed = consumed.saturating_add(h.size as u32).saturating_add(h.len);
    }
    Walk::Ended { syntax }
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
    let syntax = match meta_group(bytes, magic + 4) {
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

    #[test]
    fn meta_values_are_read_whole_whatever_their_vr() {
        // "DICM", the group length (24: the two elements below), (0002,0001) as an OD of 2
        // bytes (the meta reader reads 2 bytes; the data set's reader would read none), then
        // (0002,0002) with an unknown VR (a 4-byte length) declaring 4 GB.
        let mut file = b"DICM".to_vec();
        file.extend([0x02, 0, 0, 0, b'U', b'L', 4, 0, 24, 0, 0, 0]);
        file.extend([0x02, 0, 0x01, 0, b'O', b'D', 0, 0, 2, 0, 0, 0, 0, 1]);
        file.extend([0x02, 0, 0x02, 0, 3, 0, 0, 0, 0, 0, 0xF0, 0xFF]);
        let why = declared_lengths_overrun(&file).expect("refused");
        assert!(
            why.contains("element (0002,0002) declares 4293918720 bytes but only 0 follow"),
            "{why}"
        );
    }
}
