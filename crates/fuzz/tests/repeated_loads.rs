//! Found by fuzzing the checkpoint loader: uploads with no launch between
//! them were never submitted, so every load's staging memory stayed in the
//! process (about 40 KB per load of a tiny model; 1.2 GB after a million).
//! Loads now submit their uploads. Checked here: 8,000 loads of the tiny
//! model's checkpoint leave the resident set within 16 MB of where it was
//! after the first 1,000.

#[cfg(target_os = "linux")]
#[test]
fn repeated_checkpoint_loads_hold_no_memory() {
    fn rss_bytes() -> f64 {
        let statm = std::fs::read_to_string("/proc/self/statm").unwrap();
        let pages: f64 = statm.split_whitespace().nth(1).unwrap().parse().unwrap();
        pages * 4096.0
    }
    let seed = weft_fuzz::seeds::checkpoint().remove(0);
    for _ in 0..1000 {
        weft_fuzz::targets::checkpoint(&seed);
    }
    let before = rss_bytes();
    for _ in 0..7000 {
        weft_fuzz::targets::checkpoint(&seed);
    }
    let grown = rss_bytes() - before;
    eprintln!("resident set grew {:.1} MB over 7,000 loads", grown / 1e6);
    assert!(grown < 16e6, "grew {grown} bytes");
}
