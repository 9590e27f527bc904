//! Downloading MNIST into the cache: each file from the first mirror that
//! answers, with a progress bar, verified against its SHA-256 before it is
//! moved into place.

use std::io::{Read, Write};
use std::path::Path;
use std::time::Duration;

use sha2::{Digest, Sha256};
use weft_device::{Error, Result};

use crate::mnist::FILES;

/// Mirrors of the original files, tried in order.
pub const MIRRORS: [&str; 2] = [
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "https://storage.googleapis.com/cvdf-datasets/mnist/",
];

/// Downloads the four MNIST files into `dir` (skipping those already there and valid).
pub fn download_mnist(dir: &Path) -> Result<()> {
    std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .timeout_connect(Some(Duration::from_secs(10)))
        .timeout_global(Some(Duration::from_secs(300)))
        .build()
        .into();
    for (stem, sha) in FILES {
        let name = format!("{stem}.gz");
        let dest = dir.join(&name);
        if dest.is_file() && sha256_file(&dest)? == sha {
            continue;
        }
        let mut last_err = String::new();
        let mut done = false;
        for mirror in MIRRORS {
            match fetch(&agent, &format!("{mirror}{name}"), &dest, sha) {
                Ok(()) => {
                    done = true;
                    break;
                }
                Err(e) => last_err = e,
            }
        }
        if !done {
            return Err(Error::io(&dest, format!("download failed: {last_err}")));
        }
    }
    Ok(())
}

fn fetch(
    agent: &ureq::Agent,
    url: &str,
    dest: &Path,
    sha: &str,
) -> std::result::Result<(), String> {
    let resp = agent.get(url).call().map_err(|e| format!("{url}: {e}"))?;
    let len = resp.body().content_length();
    let bar = indicatif::ProgressBar::new(len.unwrap_or(0));
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "{msg:32} {bar:30} {bytes}/{total_bytes} {bytes_per_sec}",
        )
        .expect("valid template"),
    );
    bar.set_message(
        dest.file_name()
            .map(|n| n.to_string_lossy().to_string())
            .unwrap_or_default(),
    );
    let tmp = dest.with_extension("part");
    let mut file = std::fs::File::create(&tmp).map_err(|e| format!("{}: {e}", tmp.display()))?;
    let mut reader = resp.into_body().into_reader();
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = reader.read(&mut buf).map_err(|e| format!("{url}: {e}"))?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
        file.write_all(&buf[..n])
            .map_err(|e| format!("{}: {e}", tmp.display()))?;
        bar.inc(n as u64);
    }
    bar.finish_and_clear();
    let got = hex(&hasher.finalize());
    if got != sha {
        let _ = std::fs::remove_file(&tmp);
        return Err(format!("{url}: checksum {got} does not match {sha}"));
    }
    std::fs::rename(&tmp, dest).map_err(|e| format!("{}: {e}", dest.display()))
}

/// SHA-256 of a file, as lowercase hex.
pub fn sha256_file(path: &Path) -> Result<String> {
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    Ok(hex(&Sha256::digest(&bytes)))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
