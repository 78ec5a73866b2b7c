//! Writes the generated seeds of every fuzz target (or of those named) under
//! `OUT/<target>/`, where `scripts/fuzz.sh` starts libFuzzer's corpus.
//!
//! ```sh
//! cargo run -p sss-fuzz --bin seed-corpus -- OUT [TARGET...]
//! ```
fn main() -> std::io::Result<()> {
    let mut args = std::env::args().skip(1);
    let Some(out) = args.next() else {
        eprintln!("usage: seed-corpus OUT [TARGET...]");
        std::process::exit(2);
    };
    let wanted: Vec<String> = args.collect();
    for (name, _) in sss_fuzz::TARGETS {
        if !wanted.is_empty() && !wanted.iter().any(|w| w == name) {
            continue;
        }
        let dir = std::path::Path::new(&out).join(name);
        std::fs::create_dir_all(&dir)?;
        for (file, bytes) in sss_fuzz::seeds(name) {
            std::fs::write(dir.join(file), bytes)?;
        }
    }
    Ok(())
}
