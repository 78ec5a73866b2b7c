//! The slice model and SAM-2's image predictor on burn's native wgpu backend give the flex CPU
//! backend's answer. Where no wgpu adapter exists (no GPU and no software Vulkan), a test says
//! so and passes without comparing, unless `SSS_REQUIRE_WGPU=1` (set by `scripts/test.sh`,
//! which installs lavapipe): then a missing adapter fails the test.

use burn::tensor::{Device, Distribution, Tensor, TensorData};
use sss::backend::ComputeDevice;
use sss::model::slice_net::SliceNetConfig;
use sss::weights::{decode_into, encode_module};

/// The wgpu device, or `None` (said on stdout) where none exists and none is required.
fn wgpu_or_skip(test: &str) -> Option<ComputeDevice> {
    match ComputeDevice::wgpu() {
        Ok(device) => Some(device),
        Err(e) if std::env::var_os("SSS_REQUIRE_WGPU").is_some_and(|v| v == "1") => {
            panic!("{test}: SSS_REQUIRE_WGPU=1 but {e} (install mesa-vulkan-drivers)")
        }
        Err(e) => {
            println!("SKIPPED {test}: {e} (install mesa-vulkan-drivers)");
            None
        }
    }
}

#[test]
fn slice_net_on_wgpu_matches_flex() {
    let Some(gpu) = wgpu_or_skip("slice_net_on_wgpu_matches_flex") else {
        return;
    };
    let cpu = Device::flex();
    let config = SliceNetConfig {
        width: 8,
        ..Default::default()
    };
    let net_cpu = config.init(&cpu);
    let bytes = encode_module(net_cpu.clone(), burn::tensor::DType::F32).unwrap();
    let net_gpu = decode_into(config.init(&gpu.device), bytes).unwrap();

    let x = Tensor::<4>::random([1, 1, 64, 48], Distribution::Uniform(0.0, 1.0), &cpu);
    let data = x.to_data();
    let y_cpu = net_cpu.forward(x).into_data().try_to_vec::<f32>().unwrap();
    let y_gpu = net_gpu
        .forward(Tensor::<4>::from_data(
            TensorData::new(data.try_to_vec::<f32>().unwrap(), [1, 1, 64, 48]),
            &gpu.device,
        ))
        .into_data()
        .try_to_vec::<f32>()
        .unwrap();
    assert_eq!(y_cpu.len(), y_gpu.len(), "wgpu and flex output sizes");
    let max_err = y_cpu
        .iter()
        .zip(&y_gpu)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0f32, f32::max);
    let scale = y_cpu.iter().fold(0.0f32, |m, v| m.max(v.abs())).max(1.0);
    println!("wgpu vs flex: max abs error {max_err:.2e} (largest magnitude {scale:.3})");
    assert!(
        max_err <= 1e-4 * scale,
        "wgpu differs from flex by {max_err}"
    );
}

/// SAM-2's image predictor (micro config, the parity fixture's official-format weights) gives
/// the same masks, IoU and object scores on wgpu as on flex.
#[test]
fn sam2_image_predictor_on_wgpu_matches_flex() {
    use sss::model::Sam2Config;
    use sss::model::import::load_sam2_checkpoint;
    use sss::predictor::{ImagePredictor, ImagePrompt};

    let Some(gpu) = wgpu_or_skip("sam2_image_predictor_on_wgpu_matches_flex") else {
        return;
    };
    let checkpoint = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../tests/parity/fixtures/micro/weights.pt");
    let config = Sam2Config::micro();
    let (h, w) = (96, 128);
    let rgb: Vec<u8> = (0..h * w * 3)
        .map(|i| {
            let (p, c) = (i / 3, i % 3);
            let (y, x) = ((p / w) as f32, (p % w) as f32);
            let inside = ((x - 70.0).powi(2) + (y - 40.0).powi(2)).sqrt() < 25.0;
            (if inside {
                200.0
            } else {
                40.0 + 10.0 * c as f32
            } + (x + y) % 7.0) as u8
        })
        .collect();
    let prompt = ImagePrompt {
        points: vec![[70.0, 40.0]],
        labels: vec![1],
        box_xyxy: Some([40.0, 12.0, 100.0, 70.0]),
        mask_input: None,
    };
    let run = |device: &Device| {
        let model = load_sam2_checkpoint(&checkpoint, &config, device).unwrap();
        let mut predictor = ImagePredictor::new(model);
        predictor.set_image_rgb(&rgb, [h, w]).unwrap();
        let out = predictor.predict(&prompt, false).unwrap();
        let read = |t: Tensor<4>| t.into_data().try_to_vec::<f32>().unwrap();
        (
            read(out.low_res_logits),
            out.iou.into_data().try_to_vec::<f32>().unwrap(),
            out.object_score_logits
                .into_data()
                .try_to_vec::<f32>()
                .unwrap(),
        )
    };
    let (masks_cpu, iou_cpu, obj_cpu) = run(&Device::flex());
    let (masks_gpu, iou_gpu, obj_gpu) = run(&gpu.device);
    let max_err = |a: &[f32], b: &[f32]| {
        assert_eq!(a.len(), b.len(), "wgpu and flex output sizes");
        a.iter()
            .zip(b)
            .map(|(x, y)| (x - y).abs())
            .fold(0.0f32, f32::max)
    };
    let scale = masks_cpu.iter().fold(1.0f32, |m, v| m.max(v.abs()));
    let (e_mask, e_iou, e_obj) = (
        max_err(&masks_cpu, &masks_gpu),
        max_err(&iou_cpu, &iou_gpu),
        max_err(&obj_cpu, &obj_gpu),
    );
    println!(
        "SAM-2 image predictor, wgpu vs flex: masks {e_mask:.2e} (scale {scale:.2}), \
         IoU {e_iou:.2e}, object score {e_obj:.2e}"
    );
    assert!(e_mask <= 1e-3 * scale, "mask logits differ by {e_mask}");
    assert!(
        e_iou <= 1e-4 && e_obj <= 1e-3,
        "IoU {e_iou}, object score {e_obj}"
    );
}
