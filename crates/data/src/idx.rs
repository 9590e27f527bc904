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

/// Decompresses `bytes` if they are gzipped.
pub fn maybe_gunzip(path: &Path, bytes: Vec<u8>) -> Result<Vec<u8>> {
    if bytes.starts_with(&[0x1f, 0x8b]) {
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(&bytes[..])
            .read_to_end(&mut out)
            .map_err(|e| Error::format(path, format!("corrupt gzip data: {e}")))?;
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
    let expected: usize = dims.iter().product();
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
}
