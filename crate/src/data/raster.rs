//! Single PNG and JPEG images (a photographed film, an exported slice, an ultrasound frame) read
//! as one-slice volumes, for the page and `sss segment` alike. Grey levels as stored: 8- or
//! 16-bit grey taken as it is, colour converted to grey by the Rec. 601 luma weights
//! (0.299 R + 0.587 G + 0.114 B, Pillow's `convert("L")`) unless the three channels are equal
//! everywhere (a grey image saved as RGB, then taken as it is); alpha is ignored.
//!
//! An image has no patient geometry: its volume has 1 × 1 × 1 mm voxels and the affine
//! diag(−1, −1, 1) — the identity in DICOM's LPS coordinates, so a label map written with it
//! ([`crate::data::label_export::header_for_volume`]) shows in any viewer the way the picture
//! is drawn (columns to the right, rows down). The page shows images as stored, without
//! orientation labels.
//!
//! PNG is decoded by the `image` crate, JPEG by `jpeg-decoder` (why: `crate/Cargo.toml`).
//!
//! Bounded memory: the declared width and height are read from the header and an image of more
//! than [`MAX_PIXELS`] pixels, or of more than its file's bytes could hold compressed, is
//! refused before any pixel is decoded; the decoders run under a bound of their own as well
//! (the `image` crate's [`Limits`], jpeg-decoder's decoding buffer size). Every refusal is a
//! sentence.

use std::io::Cursor;

use image::{DynamicImage, ImageDecoder, ImageError, ImageFormat, ImageReader, Limits};

use crate::{Result, SssError, Volume};

/// The most pixels an image may have, e.g. 8192 × 8192: half of what the page segments
/// (`predictor::pipeline::MAX_SEGMENT_BYTES`).
pub const MAX_PIXELS: u64 = 1 << 26;

/// The longest side an image may have: a label map is saved as NIfTI-1, whose dims are 16-bit
/// (found by fuzzing: a 6 × 32,772 PNG read, and its label map could not be written).
pub const MAX_SIDE: u32 = i16::MAX as u32;

/// The most bytes the decoder may hold at once: the largest image allowed in 16-bit RGBA.
const MAX_DECODE_BYTES: u64 = MAX_PIXELS * 8;

/// The eight bytes every PNG file starts with.
const PNG_MAGIC: &[u8] = b"\x89PNG\r\n\x1a\n";
/// The start of every JPEG file (start of image, then a marker).
const JPEG_MAGIC: &[u8] = &[0xff, 0xd8, 0xff];

/// Whether a file is to be read as an image: its name ends in `.png`, `.jpg` or `.jpeg` (any
/// case), or its bytes start like a PNG or JPEG file. A file named so whose bytes are not an
/// image is then refused by [`read_raster_bytes`] in words, not taken for another format.
pub fn is_raster(name: &str, bytes: &[u8]) -> bool {
    let name = name.to_ascii_lowercase();
    [".png", ".jpg", ".jpeg"].iter().any(|e| name.ends_with(e))
        || bytes.starts_with(PNG_MAGIC)
        || bytes.starts_with(JPEG_MAGIC)
}

/// Reads a PNG or JPEG file from memory as a one-slice volume (see the module's doc).
pub fn read_raster_bytes(bytes: &[u8]) -> Result<Volume<f32>> {
    let (width, height, data) = if bytes.starts_with(PNG_MAGIC) {
        read_png(bytes)?
    } else if bytes.starts_with(JPEG_MAGIC) {
        read_jpeg(bytes)?
    } else {
        return Err(SssError::Scan(format!(
            "this file ({} bytes) is not a PNG or JPEG image: it does not start like one",
            bytes.len()
        )));
    };
    let mut volume = Volume::new(data, [width as usize, height as usize, 1], [1.0; 3])?;
    volume.affine[0][0] = -1.0;
    volume.affine[1][1] = -1.0;
    Ok(volume)
}

/// A PNG's width, height and grey levels, through the `image` crate under [`Limits`].
fn read_png(bytes: &[u8]) -> Result<(u32, u32, Vec<f32>)> {
    let sentence = |e: ImageError| SssError::Scan(describe("PNG", e));
    let mut limits = Limits::default();
    limits.max_alloc = Some(MAX_DECODE_BYTES);
    // Strict, checked from the header: no side may be longer than the pixels allowed.
    limits.max_image_width = Some(MAX_PIXELS as u32);
    limits.max_image_height = Some(MAX_PIXELS as u32);
    let mut reader = ImageReader::with_format(Cursor::new(bytes), ImageFormat::Png);
    reader.limits(limits);
    // The header only: dimensions and colour type, before any pixel is decoded.
    let decoder = reader.into_decoder().map_err(sentence)?;
    let (width, height) = decoder.dimensions();
    check_declared_size("PNG", width, height, bytes.len())?;
    let image = DynamicImage::from_decoder(decoder).map_err(sentence)?;
    Ok((width, height, grey_levels(&image, "PNG")?))
}

/// A JPEG's width, height and grey levels, through `jpeg-decoder` (why not `image`'s own JPEG
/// decoder: `crate/Cargo.toml`). Its 16-bit grey (lossless JPEG) and CMYK outputs are taken
/// as well; no test here makes such files (no encoder for them).
fn read_jpeg(bytes: &[u8]) -> Result<(u32, u32, Vec<f32>)> {
    use jpeg_decoder::{Decoder, PixelFormat};
    let sentence = |e: jpeg_decoder::Error| {
        SssError::Scan(match e {
            jpeg_decoder::Error::Unsupported(f) => format!(
                "this JPEG file uses something this reader does not support ({f:?}): save it \
                 as a baseline or lossless JPEG, or as PNG"
            ),
            other => format!("this JPEG file is corrupt or truncated ({other})"),
        })
    };
    let mut decoder = Decoder::new(Cursor::new(bytes));
    decoder.set_max_decoding_buffer_size(MAX_DECODE_BYTES as usize);
    // The header only: dimensions and pixel format, before any pixel is decoded.
    decoder.read_info().map_err(sentence)?;
    let info = decoder
        .info()
        .ok_or_else(|| SssError::Scan("this JPEG file has no image frame".into()))?;
    let (width, height) = (u32::from(info.width), u32::from(info.height));
    check_declared_size("JPEG", width, height, bytes.len())?;
    check_jpeg_scans(bytes, info.coding_process, info.pixel_format)?;
    let pixels = decoder.decode().map_err(sentence)?;
    // The decoder's buffer must hold exactly the frame it declared (a 16-bit colour lossless
    // frame, say, decodes to twice the bytes its pixel format names).
    let count = (width * height) as usize;
    if pixels.len() != count * info.pixel_format.pixel_bytes() {
        return Err(SssError::Scan(format!(
            "this JPEG file's {width}×{height} pixels ({:?}) decode to {} bytes instead of {}: \
             it is corrupt or uses a layout this reader does not support",
            info.pixel_format,
            pixels.len(),
            count * info.pixel_format.pixel_bytes()
        )));
    }
    let image = match info.pixel_format {
        PixelFormat::L8 => {
            image::GrayImage::from_raw(width, height, pixels).map(DynamicImage::ImageLuma8)
        }
        // Lossless JPEG of 9-16 bits, in native byte order.
        PixelFormat::L16 => {
            let levels = pixels
                .chunks_exact(2)
                .map(|b| u16::from_ne_bytes([b[0], b[1]]))
                .collect();
            image::ImageBuffer::from_raw(width, height, levels).map(DynamicImage::ImageLuma16)
        }
        PixelFormat::RGB24 => {
            image::RgbImage::from_raw(width, height, pixels).map(DynamicImage::ImageRgb8)
        }
        // Print colour (the decoder undoes Adobe's inversion): to RGB by the usual
        // R = (255 - C)(255 - K) / 255, then as any colour image.
        PixelFormat::CMYK32 => {
            let rgb = pixels
                .chunks_exact(4)
                .flat_map(|p| {
                    let k = 255 - u32::from(p[3]);
                    [p[0], p[1], p[2]].map(|c| ((255 - u32::from(c)) * k / 255) as u8)
                })
                .collect();
            image::RgbImage::from_raw(width, height, rgb).map(DynamicImage::ImageRgb8)
        }
    };
    // `None` only for a buffer shorter than the frame, which the check above rules out.
    let image = image.ok_or_else(|| {
        SssError::Scan(format!(
            "this JPEG file's {width}×{height} pixels do not decode whole"
        ))
    })?;
    Ok((width, height, grey_levels(&image, "JPEG")?))
}

/// Refuses, before any pixel is decoded, an image whose declared size is too large, larger
/// than its file could hold, too long a side for a label map, or empty.
/// Progressive JPEG refines its coefficients over several scans (encoders write 6 for grey, 10
/// for colour); more than this many a component is refused.
const MAX_PROGRESSIVE_SCANS_PER_COMPONENT: usize = 32;

/// Refuses a JPEG with more scans than its coding process allows: jpeg-decoder decodes every
/// scan over the whole frame, so a small file that repeats its scan header decodes the image
/// again and again (found by fuzzing: 15 KB, 76 scans of a 20,579 × 53 grey frame, 1.2 s).
/// A sequential or lossless frame codes each component in exactly one scan (ITU T.81,
/// B.2.3), a progressive one in [`MAX_PROGRESSIVE_SCANS_PER_COMPONENT`] at most here.
fn check_jpeg_scans(
    bytes: &[u8],
    process: jpeg_decoder::CodingProcess,
    format: jpeg_decoder::PixelFormat,
) -> Result<()> {
    use jpeg_decoder::{CodingProcess, PixelFormat};
    let components = match format {
        PixelFormat::L8 | PixelFormat::L16 => 1,
        PixelFormat::RGB24 => 3,
        PixelFormat::CMYK32 => 4,
    };
    let (allowed, kind) = match process {
        CodingProcess::DctProgressive => (
            components * MAX_PROGRESSIVE_SCANS_PER_COMPONENT,
            "progressive",
        ),
        CodingProcess::DctSequential => (components, "sequential"),
        CodingProcess::Lossless => (components, "lossless"),
    };
    let scans = count_jpeg_scans(bytes);
    if scans > allowed {
        return Err(SssError::Scan(format!(
            "this JPEG file has {scans} scans for a {kind} image of {components}              component{}, more than the {allowed} it may have: it is corrupt (re-save it as a              baseline JPEG or as PNG)",
            if components == 1 { "" } else { "s" }
        )));
    }
    Ok(())
}

/// How many start-of-scan markers a JPEG file's marker stream holds. Marker segments are
/// skipped by their length (an EXIF thumbnail inside APP1 is not counted); anything else,
/// such as the entropy-coded data after a scan header, is walked byte by byte, where `FF 00`
/// is a stuffed byte, `FF FF` fill and `FF D0`–`FF D7` restart markers. Stops at the end of
/// the image or of the bytes.
fn count_jpeg_scans(bytes: &[u8]) -> usize {
    const SOS: u8 = 0xda;
    const EOI: u8 = 0xd9;
    let mut scans = 0;
    let mut i = 2; // after start of image
    while i + 1 < bytes.len() {
        if bytes[i] != 0xff {
            i += 1;
            continue;
        }
        let marker = bytes[i + 1];
        // Fill bytes, stuffed zeros, restart and standalone markers: no segment follows.
        if marker == 0xff {
            i += 1;
            continue;
        }
        if marker == 0x00 || marker == 0x01 || (0xd0..=0xd8).contains(&marker) {
            i += 2;
            continue;
        }
        if marker == EOI {
            break;
        }
        let Some(length) = bytes.get(i + 2..i + 4) else {
            break;
        };
        let length = usize::from(u16::from_be_bytes([length[0], length[1]]));
        if marker == SOS {
            scans += 1;
        }
        // Past the segment; after a scan header, its entropy-coded data follows.
        i += 2 + length.max(2);
    }
    scans
}

fn check_declared_size(name: &str, width: u32, height: u32, file_bytes: usize) -> Result<()> {
    let refuse = |m: String| Err(SssError::Scan(m));
    let pixels = u64::from(width) * u64::from(height);
    if pixels > MAX_PIXELS {
        return refuse(format!(
            "this {name} image is {width}×{height} pixels, more than the {MAX_PIXELS} this \
             reader takes (8192×8192): scale it down first"
        ));
    }
    // At most 8 pixels a byte before compression (1-bit grey), deflate's best ratio 1032:1,
    // and JPEG needs a bit or more per 8 × 8 block: a file that declares more pixels than it
    // can hold is truncated, and is refused before the pixels are allocated.
    if pixels > (file_bytes as u64) * 8 * 1032 {
        return refuse(format!(
            "this {name} file declares {width}×{height} pixels but holds only {file_bytes} \
             bytes: it is truncated or corrupt"
        ));
    }
    if width > MAX_SIDE || height > MAX_SIDE {
        return refuse(format!(
            "this {name} image is {width}×{height} pixels: a side longer than {MAX_SIDE} pixels \
             cannot be saved as a label map (NIfTI-1): crop or scale it down first"
        ));
    }
    if pixels == 0 {
        return refuse(format!(
            "this {name} image is {width}×{height} pixels: it holds no pixel"
        ));
    }
    Ok(())
}

/// Reads a PNG or JPEG file from disk ([`read_raster_bytes`]).
pub fn read_raster(path: impl AsRef<std::path::Path>) -> Result<Volume<f32>> {
    let path = path.as_ref();
    let bytes =
        std::fs::read(path).map_err(|e| SssError::io(format!("reading {}", path.display()), e))?;
    read_raster_bytes(&bytes)
}

/// A decoding error as a sentence about the file.
fn describe(name: &str, e: ImageError) -> String {
    match e {
        ImageError::Decoding(e) => {
            format!("this {name} file is corrupt or truncated ({e})")
        }
        ImageError::IoError(e) => format!("this {name} file ends early or is corrupt ({e})"),
        ImageError::Limits(e) => {
            format!("this {name} image is too large to read here ({e}): scale it down first")
        }
        ImageError::Unsupported(e) => {
            format!("this {name} file uses something this reader does not support ({e})")
        }
        other => format!("this {name} file cannot be read ({other})"),
    }
}

/// The image's grey levels, row by row (x fastest): grey as stored, colour by its luma unless
/// its channels are equal everywhere; alpha ignored.
fn grey_levels(image: &DynamicImage, name: &str) -> Result<Vec<f32>> {
    fn grey<const N: usize, T: Copy + Into<f32>>(pixels: &[T]) -> Vec<f32> {
        pixels.chunks_exact(N).map(|p| p[0].into()).collect()
    }
    fn colour<const N: usize, T: Copy + Into<f32> + PartialEq>(pixels: &[T]) -> Vec<f32> {
        let equal = pixels.chunks_exact(N).all(|p| p[0] == p[1] && p[1] == p[2]);
        pixels
            .chunks_exact(N)
            .map(|p| {
                if equal {
                    p[0].into()
                } else {
                    0.299 * p[0].into() + 0.587 * p[1].into() + 0.114 * p[2].into()
                }
            })
            .collect()
    }
    Ok(match image {
        DynamicImage::ImageLuma8(b) => grey::<1, u8>(b.as_raw()),
        DynamicImage::ImageLumaA8(b) => grey::<2, u8>(b.as_raw()),
        DynamicImage::ImageLuma16(b) => grey::<1, u16>(b.as_raw()),
        DynamicImage::ImageLumaA16(b) => grey::<2, u16>(b.as_raw()),
        DynamicImage::ImageRgb8(b) => colour::<3, u8>(b.as_raw()),
        DynamicImage::ImageRgba8(b) => colour::<4, u8>(b.as_raw()),
        DynamicImage::ImageRgb16(b) => colour::<3, u16>(b.as_raw()),
        DynamicImage::ImageRgba16(b) => colour::<4, u16>(b.as_raw()),
        other => {
            return Err(SssError::Scan(format!(
                "this {name} image's colour type ({:?}) is not read here: save it as 8- or \
                 16-bit grey or RGB",
                other.color()
            )));
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::codecs::jpeg::JpegEncoder;
    use image::codecs::png::PngEncoder;
    use image::{ExtendedColorType, ImageEncoder};

    fn png(pixels: &[u8], width: u32, height: u32, colour: ExtendedColorType) -> Vec<u8> {
        let mut out = Vec::new();
        PngEncoder::new(&mut out)
            .write_image(pixels, width, height, colour)
            .unwrap();
        out
    }

    /// 8-bit grey reads as stored, row by row, with the image geometry.
    #[test]
    fn an_8_bit_grey_png_reads_as_one_slice() {
        let pixels: Vec<u8> = (0..12).map(|i| i * 20).collect();
        let v = read_raster_bytes(&png(&pixels, 4, 3, ExtendedColorType::L8)).unwrap();
        assert_eq!(v.dims, [4, 3, 1]);
        assert_eq!(v.spacing, [1.0; 3]);
        let expected: Vec<f32> = pixels.iter().map(|&p| f32::from(p)).collect();
        assert_eq!(v.data, expected);
        assert_eq!(v.get(1, 2, 0), 180.0, "x along a row, y down the rows");
        assert_eq!(v.affine[0][0], -1.0);
        assert_eq!(v.affine[1][1], -1.0);
        assert_eq!(v.affine[2][2], 1.0);
    }

    /// A side longer than NIfTI-1's dims can hold is refused in words (its label map could not
    /// be saved); the longest allowed side reads.
    #[test]
    fn a_side_past_nifti_1_is_refused() {
        let tall = png(&vec![7u8; 32_768], 1, 32_768, ExtendedColorType::L8);
        let err = read_raster_bytes(&tall).unwrap_err().to_string();
        assert!(err.contains("1×32768") && err.contains("NIfTI-1"), "{err}");
        let v = read_raster_bytes(&png(&vec![7u8; 32_767], 1, 32_767, ExtendedColorType::L8));
        assert_eq!(v.unwrap().dims, [1, 32_767, 1]);
    }

    /// 16-bit grey keeps its full range (PNG stores it big-endian).
    #[test]
    fn a_16_bit_grey_png_keeps_its_range() {
        let values: [u16; 4] = [0, 1000, 40_000, 65_535];
        let bytes: Vec<u8> = values.iter().flat_map(|v| v.to_ne_bytes()).collect();
        let v = read_raster_bytes(&png(&bytes, 2, 2, ExtendedColorType::L16)).unwrap();
        assert_eq!(v.data, vec![0.0, 1000.0, 40_000.0, 65_535.0]);
    }

    /// RGB with equal channels is grey as it is; other colours go by their luma; alpha ignored.
    #[test]
    fn colour_becomes_grey() {
        let grey_rgb = [10, 10, 10, 200, 200, 200];
        let v = read_raster_bytes(&png(&grey_rgb, 2, 1, ExtendedColorType::Rgb8)).unwrap();
        assert_eq!(v.data, vec![10.0, 200.0]);
        let rgba = [255, 0, 0, 7, 0, 255, 0, 255, 0, 0, 255, 0];
        let v = read_raster_bytes(&png(&rgba, 3, 1, ExtendedColorType::Rgba8)).unwrap();
        let expected = [0.299 * 255.0, 0.587 * 255.0, 0.114 * 255.0];
        for (got, want) in v.data.iter().zip(expected) {
            assert!((got - want).abs() < 1e-3, "{got} vs {want}");
        }
        let la = [9, 0, 99, 255];
        let v = read_raster_bytes(&png(&la, 2, 1, ExtendedColorType::La8)).unwrap();
        assert_eq!(v.data, vec![9.0, 99.0]);
    }

    /// A JPEG made here reads back close to what was encoded (JPEG is lossy).
    #[test]
    fn a_jpeg_reads_back() {
        let (w, h) = (16u32, 8u32);
        let pixels: Vec<u8> = (0..w * h).map(|i| ((i % w) * 12 + 20) as u8).collect();
        let mut out = Vec::new();
        JpegEncoder::new_with_quality(&mut out, 95)
            .write_image(&pixels, w, h, ExtendedColorType::L8)
            .unwrap();
        assert!(is_raster("scan.bin", &out));
        let v = read_raster_bytes(&out).unwrap();
        assert_eq!(v.dims, [16, 8, 1]);
        let worst = v
            .data
            .iter()
            .zip(&pixels)
            .map(|(a, &b)| (a - f32::from(b)).abs())
            .fold(0.0, f32::max);
        assert!(worst < 8.0, "worst difference {worst}");
        // A colour JPEG of one grey level stays that level.
        let rgb: Vec<u8> = std::iter::repeat_n([90u8, 90, 90], 64).flatten().collect();
        let mut out = Vec::new();
        JpegEncoder::new_with_quality(&mut out, 95)
            .write_image(&rgb, 8, 8, ExtendedColorType::Rgb8)
            .unwrap();
        let v = read_raster_bytes(&out).unwrap();
        assert!(
            v.data.iter().all(|&g| (g - 90.0).abs() < 3.0),
            "{:?}",
            v.data
        );
    }

    /// A baseline JPEG codes its one grey component in one scan: the scan counter finds one,
    /// skips a whole JPEG hidden in an APP1 segment (an EXIF thumbnail), and a file that repeats
    /// its scan (header and data) is refused in words before it is decoded twice.
    #[test]
    fn a_jpeg_with_more_scans_than_components_is_refused() {
        let pixels: Vec<u8> = (0..64u32).map(|i| (i * 3) as u8).collect();
        let mut jpeg = Vec::new();
        JpegEncoder::new_with_quality(&mut jpeg, 90)
            .write_image(&pixels, 8, 8, ExtendedColorType::L8)
            .unwrap();
        assert_eq!(count_jpeg_scans(&jpeg), 1);
        // SOI, APP1 holding the whole file, then the rest of the file.
        let mut with_thumbnail = jpeg[..2].to_vec();
        with_thumbnail.extend_from_slice(&[0xff, 0xe1]);
        with_thumbnail.extend_from_slice(&(jpeg.len() as u16 + 2).to_be_bytes());
        with_thumbnail.extend_from_slice(&jpeg);
        with_thumbnail.extend_from_slice(&jpeg[2..]);
        assert_eq!(count_jpeg_scans(&with_thumbnail), 1);
        assert_eq!(read_raster_bytes(&with_thumbnail).unwrap().dims, [8, 8, 1]);
        // The scan (from its SOS marker to the end of image) written twice.
        let sos = jpeg.windows(2).position(|w| w == [0xff, 0xda]).unwrap();
        let scan = &jpeg[sos..jpeg.len() - 2];
        let mut twice = jpeg[..jpeg.len() - 2].to_vec();
        twice.extend_from_slice(scan);
        twice.extend_from_slice(&[0xff, 0xd9]);
        assert_eq!(count_jpeg_scans(&twice), 2);
        let message = read_raster_bytes(&twice).unwrap_err().to_string();
        assert!(
            message.contains("2 scans") && message.contains("more than the 1"),
            "{message}"
        );
        // The fuzz finding: refused from its markers, not after decoding the frame 76 times.
        let found = include_bytes!(
            "../../fuzz/regressions/raster/jpeg-decoder-76-scans-truncated-20579x53.jpg"
        );
        let message = read_raster_bytes(found).unwrap_err().to_string();
        assert!(message.contains("76 scans"), "{message}");
    }

    /// Every refusal is a sentence; a huge declared size is refused from the header alone.
    #[test]
    fn refusals_say_why() {
        let err = read_raster_bytes(b"not an image at all")
            .unwrap_err()
            .to_string();
        assert!(err.contains("not a PNG or JPEG image"), "{err}");
        let good = png(&[1, 2, 3, 4], 2, 2, ExtendedColorType::L8);
        let err = read_raster_bytes(&good[..good.len() - 20])
            .unwrap_err()
            .to_string();
        assert!(err.contains("PNG file"), "{err}");
        let err = read_raster_bytes(&good[..20]).unwrap_err().to_string();
        assert!(err.contains("PNG file"), "{err}");
        // The small PNG declaring another size in its IHDR (its CRC fixed up): refused from the
        // header, before the pixels are allocated.
        let resized = |w: u32, h: u32| {
            let mut file = good.clone();
            file[16..20].copy_from_slice(&w.to_be_bytes());
            file[20..24].copy_from_slice(&h.to_be_bytes());
            let crc = crc32(&file[12..29]);
            file[29..33].copy_from_slice(&crc.to_be_bytes());
            file
        };
        let err = read_raster_bytes(&resized(100_000, 100_000))
            .unwrap_err()
            .to_string();
        assert!(err.contains("100000×100000 pixels, more than"), "{err}");
        let err = read_raster_bytes(&resized(2000, 2000))
            .unwrap_err()
            .to_string();
        let holds = format!(
            "declares 2000×2000 pixels but holds only {} bytes",
            good.len()
        );
        assert!(err.contains(&holds), "{err}");
        let err = read_raster_bytes(&[0xff, 0xd8, 0xff, 0xe0, 0, 1])
            .unwrap_err()
            .to_string();
        assert!(err.contains("JPEG file"), "{err}");
        assert!(is_raster("Photo.JPEG", b"whatever"));
        assert!(!is_raster("scan.nii.gz", &[0x1f, 0x8b]));
    }

    /// PNG's chunk checksum (CRC-32, ISO 3309).
    fn crc32(bytes: &[u8]) -> u32 {
        let mut crc = 0xffff_ffffu32;
        for &b in bytes {
            crc ^= u32::from(b);
            for _ in 0..8 {
                crc = if crc & 1 == 1 {
                    (crc >> 1) ^ 0xedb8_8320
                } else {
                    crc >> 1
                };
            }
        }
        !crc
    }
}
