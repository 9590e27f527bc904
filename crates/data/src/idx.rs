//! The IDX file format of MNIST: a big-endian header (magic, dimensions)
//! followed by unsigned bytes. Files may be gzipped (detected by their magic).

use std::io::Read;
use std::path::Path;

use weft_device::{Error, Result};

/// An IDX array of unsigned bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdxArray {
    /// Dimensions: `[count]` for labels, `[count, rows, cols]` for images.
    pub dims: Vec<usize>,
    pub data: Vec<u8>,
}

/// Magic number of image files (u8 data, 3 dimensions).
pub const IMAGES_MAGIC: u32 = 0x0000_0803;
/// Magic number of label files (u8 data, 1 dimension).
pub const LABELS_MAGIC: u32 = 0x0000_0801;

/// The most bytes a gzipped IDX file may decompress to (MNIST's largest is
/// 47 MB): a corrupt or hostile file is refused before it can fill memory.
pub const MAX_DECOMPRESSED: u64 = 1 << 30;

/// Decompresses `bytes` if they are gzipped (at most [`MAX_DECOMPRESSED`]).
pub fn maybe_gunzip(path: &Path, bytes: Vec<u8>) -> Result<Vec<u8>> {
    maybe_gunzip_within(path, bytes, MAX_DECOMPRESSED)
}

fn maybe_gunzip_within(path: &Path, bytes: Vec<u8>, limit: u64) -> Result<Vec<u8>> {
    if bytes.starts_with(&[0x1f, 0x8b]) {
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(&bytes[..])
            .take(limit + 1)
            .read_to_end(&mut out)
            .map_err(|e| Error::format(path, format!("corrupt gzip data: {e}")))?;
        if out.len() as u64 > limit {
            return Err(Error::format(
                path,
                format!("decompresses to more than {limit} bytes; not an IDX file"),
            ));
        }
        Ok(out)
    } else {
        Ok(bytes)
    }
}

/// Parses an IDX file's bytes (already decompressed), expecting `magic`.
/// `path` only names the file in errors.
pub fn parse(path: &Path, bytes: &[u8], magic: u32) -> Result<IdxArray> {
    let header = |i: usize| -> Result<u32> {
        bytes
            .get(4 * i..4 * i + 4)
            .map(|b| u32::from_be_bytes(b.try_into().expect("4 bytes")))
            .ok_or_else(|| Error::format(path, format!("truncated header ({} bytes)", bytes.len())))
    };
    let found = header(0)?;
    if found != magic {
        let what = match magic {
            IMAGES_MAGIC => "an IDX image file",
            LABELS_MAGIC => "an IDX label file",
            _ => "an IDX file",
        };
        return Err(Error::format(
            path,
            format!("not {what}: magic number {found:#010x}, expected {magic:#010x}"),
        ));
    }
    let ndim = (magic & 0xff) as usize;
    let dims: Vec<usize> = (1..=ndim)
        .map(|i| header(i).map(|d| d as usize))
        .collect::<Result<_>>()?;
    let start = 4 * (ndim + 1);
    // Checked: a header of huge dimensions must not wrap around to the
    // file's length.
    let expected = dims
        .iter()
        .try_fold(1usize, |acc, &d| acc.checked_mul(d))
        .ok_or_else(|| {
            Error::format(
                path,
                format!("header {dims:?} describes more bytes than can be addressed"),
            )
        })?;
    let have = bytes.len() - start;
    if have != expected {
        return Err(Error::format(
            path,
            format!(
                "{} data: header {dims:?} needs {expected} bytes, file has {have}",
                if have < expected {
                    "truncated"
                } else {
                    "trailing"
                }
            ),
        ));
    }
    Ok(IdxArray {
        dims,
        data: bytes[start..].to_vec(),
    })
}

/// Reads and parses an IDX file (gzipped or raw).
pub fn read(path: &Path, magic: u32) -> Result<IdxArray> {
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    let bytes = maybe_gunzip(path, bytes)?;
    parse(path, &bytes, magic)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(n: u32, data: &[u8]) -> Vec<u8> {
        let mut v = LABELS_MAGIC.to_be_bytes().to_vec();
        v.extend(n.to_be_bytes());
        v.extend(data);
        v
    }

    #[test]
    fn parses_and_rejects() {
        let p = Path::new("t.idx");
        let a = parse(p, &labels(3, &[1, 2, 3]), LABELS_MAGIC).unwrap();
        assert_eq!((a.dims, a.data), (vec![3], vec![1, 2, 3]));
        let e = parse(p, &labels(4, &[1, 2, 3]), LABELS_MAGIC).unwrap_err();
        assert!(
            e.to_string().contains("t.idx") && e.to_string().contains("truncated"),
            "{e}"
        );
        let e = parse(p, &labels(3, &[1, 2, 3]), IMAGES_MAGIC).unwrap_err();
        assert!(e.to_string().contains("magic"), "{e}");
        let e = parse(p, &[0, 0, 8], LABELS_MAGIC).unwrap_err();
        assert!(e.to_string().contains("truncated header"), "{e}");
    }

    #[test]
    fn huge_headers_and_gzip_bombs_are_refused() {
        let p = Path::new("t.idx");
        // 2^32-1 cubed overflows usize: refused, never wrapped.
        let mut v = IMAGES_MAGIC.to_be_bytes().to_vec();
        for _ in 0..3 {
            v.extend(u32::MAX.to_be_bytes());
        }
        let e = parse(p, &v, IMAGES_MAGIC).unwrap_err();
        assert!(e.to_string().contains("more bytes than"), "{e}");
        // A small gzip stream of a large run of zeros, under a small limit.
        use std::io::Write;
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        gz.write_all(&vec![0u8; 1 << 20]).unwrap();
        let bomb = gz.finish().unwrap();
        assert!(bomb.len() < 4096);
        let e = maybe_gunzip_within(p, bomb.clone(), 1000).unwrap_err();
        assert!(e.to_string().contains("more than 1000 bytes"), "{e}");
        assert_eq!(
            maybe_gunzip_within(p, bomb, 1 << 20).unwrap().len(),
            1 << 20,
            "exactly at the limit is fine"
        );
    }
}
