//! Writes every target's generated seeds into `fuzz/corpus/<target>/`
//! (`cargo run -p weft-fuzz --example write-seeds [-- DIR]`).

fn main() {
    let root = std::env::args()
        .nth(1)
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| {
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/corpus")
        });
    for (target, _) in weft_fuzz::targets::ALL {
        let dir = root.join(target);
        std::fs::create_dir_all(&dir).expect("corpus folder");
        for (i, seed) in weft_fuzz::seeds::generated(target).iter().enumerate() {
            let path = dir.join(format!("seed-{i}"));
            std::fs::write(&path, seed).expect("writing a seed");
            println!("{}", path.display());
        }
    }
}
