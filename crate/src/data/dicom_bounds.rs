//! A check of a DICOM file's declared element lengths against its real size, before dicom-rs
//! parses it. dicom-rs reserves and zero-fills each value's declared length before reading it,
//! so a corrupt or hostile 1 kB file that declares a 1 GB element costs 1 GB of memory first
//! (found by fuzzing: `crate/fuzz`, RELIABILITY.md); in the page, wasm memory never shrinks
//! again. This walk reads only element headers (tag, VR, length) and refuses a file in which
//! a defined length runs past the end. It never refuses a file dicom-rs would read: where it
//! does not follow the encoding (big endian, deflate) it stops checking and lets the parser
//! decide.

/// Transfer syntaxes the walk tells apart (any other is explicit VR little endian, as every
/// compressed one is).
const IMPLICIT_VR_LE: &str = "1.2.840.10008.1.2";
const BIG_ENDIAN: &str = "1.2.840.10008.1.2.2";
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

/// How the data set is encoded.
#[derive(Clone, Copy)]
struct Encoding {
    explicit: bool,
    big_endian: bool,
}

impl Encoding {
    fn u16_at(self, b: &[u8], at: usize) -> Option<u16> {
        let raw: [u8; 2] = b.get(at..at + 2)?.try_into().ok()?;
        Some(if self.big_endian {
            u16::from_be_bytes(raw)
        } else {
            u16::from_le_bytes(raw)
        })
    }

    fn u32_at(self, b: &[u8], at: usize) -> Option<u32> {
        let raw: [u8; 4] = b.get(at..at + 4)?.try_into().ok()?;
        Some(if self.big_endian {
            u32::from_be_bytes(raw)
        } else {
            u32::from_le_bytes(raw)
        })
    }
}

/// The element header at `at`, or `None` where the bytes end.
fn header(b: &[u8], at: usize, encoding: Encoding) -> Option<Header> {
    let (u16_at, u32_at) = (|at| encoding.u16_at(b, at), |at| encoding.u32_at(b, at));
    let explicit = encoding.explicit;
    let tag = (u32::from(u16_at(at)?) << 16) | u32::from(u16_at(at + 2)?);
    if (tag >> 16) as u16 == ITEM_GROUP {
        return Some(Header {
            tag,
            vr: None,
            len: u32_at(at + 4)?,
            size: 8,
        });
    }
    if !explicit {
        // Implicit VR: the VR the standard dictionary gives the tag, as dicom-rs takes it.
        return Some(Header {
            tag,
            vr: dictionary_vr(tag),
            len: u32_at(at + 4)?,
            size: 8,
        });
    }
    let vr: [u8; 2] = b.get(at + 4..at + 6)?.try_into().ok()?;
    if SHORT_VRS.contains(&&vr) {
        Some(Header {
            tag,
            vr: Some(vr),
            len: u32::from(u16_at(at + 6)?),
            size: 8,
        })
    } else {
        Some(Header {
            tag,
            vr: Some(vr),
            len: u32_at(at + 8)?,
            size: 12,
        })
    }
}

/// The VR the standard data dictionary gives `tag` (context-dependent ones relaxed as dicom-rs
/// relaxes them), as two characters.
fn dictionary_vr(tag: u32) -> Option<[u8; 2]> {
    use dicom_core::dictionary::{DataDictionary, DataDictionaryEntry};
    let tag = dicom_core::Tag((tag >> 16) as u16, tag as u16);
    let entry = dicom_dictionary_std::StandardDataDictionary.by_tag(tag)?;
    entry.vr().relaxed().to_string().as_bytes().try_into().ok()
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
fn first_overrun(b: &[u8], mut at: usize, encoding: Encoding, stop: Stop) -> Walk {
    let mut fragments = false;
    let mut syntax = None;
    while let Some(h) = header(b, at, encoding) {
        let ended = match stop {
            Stop::AtOffset(end) => at >= end,
            Stop::OutsideGroup(g) => (h.tag >> 16) as u16 != g,
            Stop::AtEnd => false,
        };
        if ended {
            return Walk::Ended { at, syntax };
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
    Walk::Ended { at, syntax }
}

/// Where a walk ends (besides the end of the bytes).
#[derive(Clone, Copy)]
enum Stop {
    /// At this offset: the file meta group, as long as its group length says (dicom-rs reads
    /// every element up to there as part of it, whatever its tag).
    AtOffset(usize),
    /// At the first element outside this group (a meta group without a group length).
    OutsideGroup(u16),
    AtEnd,
}

enum Walk {
    Ended { at: usize, syntax: Option<String> },
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
    let meta = Encoding {
        explicit: true,
        big_endian: false,
    };
    let first = magic + 4;
    let stop = match header(bytes, first, meta) {
        Some(h) if h.tag == 0x0002_0000 && h.len == 4 => {
            let body = first + h.size;
            meta.u32_at(bytes, body)
                .map_or(Stop::OutsideGroup(0x0002), |len| {
                    Stop::AtOffset(body + 4 + len as usize)
                })
        }
        _ => Stop::OutsideGroup(0x0002),
    };
    let (data_start, syntax) = match first_overrun(bytes, first, meta, stop) {
        Walk::Overrun { tag, len, left } => return say(tag, len, left),
        Walk::Ended { at, syntax } => (at, syntax.unwrap_or_default()),
    };
    if syntax == DEFLATED {
        // Its data set is compressed: nothing inside can be checked before inflating it.
        return Some(format!(
            "its data set is deflated (transfer syntax {DEFLATED}), which is not read: export \
             the series uncompressed (for example `gdcmconv --raw`) and open it again"
        ));
    }
    let data = Encoding {
        explicit: syntax != IMPLICIT_VR_LE,
        big_endian: syntax == BIG_ENDIAN,
    };
    match first_overrun(bytes, data_start, data, Stop::AtEnd) {
        Walk::Overrun { tag, len, left } => say(tag, len, left),
        Walk::Ended { .. } => None,
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
