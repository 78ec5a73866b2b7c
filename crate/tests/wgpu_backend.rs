//! The slice model on burn's native wgpu backend gives the flex CPU backend's answer. Where no
//! wgpu adapter exists (no GPU and no software Vulkan), the test says so and skips.

use burn::tensor::{Device, Distribution, Tensor, TensorData};
use sss::backend::ComputeDevice;
use sss::model::slice_net::SliceNetConfig;
use sss::weights::{decode_into, encode_module};

#[test]
fn slice_net_on_wgpu_matches_flex() {
    let gpu = match ComputeDevice::wgpu() {
        Ok(device) => device,
        Err(e) => {
            println!("SKIPPED slice_net_on_wgpu_matches_flex: {e} (install mesa-vulkan-drivers)");
            return;
        }
    };
    let cpu = Device::flex();
    let config = SliceNetConfig::new().with_width(8);
    let net_cpu = config.init(&cpu);
    let bytes = encode_module(net_cpu.clone(), burn::tensor::DType::F32).unwrap();
    let net_gpu = decode_into(config.init(&gpu.device), bytes).unwrap();

    let x = Tensor::<4>::random([1, 1, 64, 48], Distribution::Uniform(0.0, 1.0), &cpu);
    let data = x.to_data();
    let y_cpu = net_cpu.forward(x).into_data().to_vec::<f32>().unwrap();
    let y_gpu = net_gpu
        .forward(Tensor::<4>::from_data(
            TensorData::new(data.to_vec::<f32>().unwrap(), [1, 1, 64, 48]),
            &gpu.device,
        ))
        .into_data()
        .to_vec::<f32>()
        .unwrap();
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
