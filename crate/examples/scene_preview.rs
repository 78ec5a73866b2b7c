//! Writes a few slices of procedural pretraining scenes (`data::phantom::scenes`) as raw
//! bytes for a look: `OUT/sceneI_zZ.{img,lab}` (u8, 128×128), image scaled to 0–255.
//!
//! ```sh
//! cargo run --release -p sss --example scene_preview -- OUT COUNT
//! ```
use sss::data::phantom::{SceneSize, scene};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let out = std::path::PathBuf::from(&args[1]);
    let count: usize = args[2].parse().unwrap();
    let t = std::time::Instant::now();
    for i in 0..count {
        let (image, labels) = scene(i, 0, SceneSize::default());
        let [nx, ny, nz] = image.dims;
        for z in [0, nz / 2, nz - 1] {
            let img: Vec<u8> = image
                .slice(z)
                .iter()
                .map(|v| (v.clamp(0.0, 1.0) * 255.0) as u8)
                .collect();
            let lab: Vec<u8> = labels.slice(z).to_vec();
            assert_eq!(img.len(), nx * ny);
            std::fs::write(out.join(format!("scene{i}_z{z}.img")), img).unwrap();
            std::fs::write(out.join(format!("scene{i}_z{z}.lab")), lab).unwrap();
        }
    }
    eprintln!("{count} scenes in {:.2} s", t.elapsed().as_secs_f64());
}
