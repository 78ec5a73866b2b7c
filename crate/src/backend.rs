//! Compute devices: burn's flex CPU backend everywhere, wgpu natively, WebGPU in the page.
//!
//! One place decides which device runs the model and names it, so the CLI and the page
//! report the same thing.

use burn::module::{Module, ModuleVisitor, Param};
use burn::tensor::{Bool, Device, Int, Tensor};
use serde::Serialize;

/// Keeps freed memory in the process instead of handing it back to the OS.
///
/// SAM-2 on the CPU allocates and frees tensors of tens to hundreds of MB at every layer. glibc
/// serves blocks above 32 MB with `mmap` and unmaps them on free, so the next layer's output
/// lands on fresh pages and pays a page fault per 4 KB: the Hiera-tiny encoder took 2059 ms
/// with glibc's defaults and takes 1813 ms with this, for 2 % more peak memory (BENCHMARKS.md).
/// This makes glibc serve every block from its heap and keep up to 2 GB of freed memory for
/// reuse, like the caching allocators of other frameworks. Set `SSS_MALLOC_DEFAULTS=1` to keep
/// glibc's defaults. Native Linux (glibc) only; elsewhere it does nothing.
pub fn keep_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    if std::env::var_os("SSS_MALLOC_DEFAULTS").is_none() {
        // SAFETY: mallopt only changes allocator parameters; called before any thread starts.
        unsafe {
            libc::mallopt(libc::M_MMAP_MAX, 0);
            libc::mallopt(libc::M_TRIM_THRESHOLD, i32::MAX);
        }
    }
}

/// Runs `f` with burn's random generator seeded with `seed`, holding a process-wide lock.
///
/// burn's generator is one per process (not per device or thread): when two threads seed it
/// and then draw (tests under the parallel runner, a bench beside a training), each gets the
/// other's numbers. Every seeded section (model initialisation in training, the seeded
/// tests) goes through here, so it draws its whole stream alone. Draws made outside a section
/// are not ordered by the lock; nothing that must be reproducible does that.
pub fn seeded<R>(device: &Device, seed: u64, f: impl FnOnce() -> R) -> R {
    static LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _guard = LOCK.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    device.seed(seed);
    f()
}

/// `module` with every parameter drawn now.
///
/// burn initialises parameters lazily: a new module's random values are drawn when a parameter
/// is first read, not when the module is built. A module built inside [`seeded`] but first run
/// after it would draw outside the lock, and under the parallel test runner another test's
/// seeding or draws land in between (a seeded test fixture then saw different weights from run
/// to run). Call this on a new module inside the seeded section; the draws then happen there,
/// in the module's field order.
pub fn materialised<M: Module>(module: M) -> M {
    struct Draw;
    impl ModuleVisitor for Draw {
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
            let _ = param.val();
        }
        fn visit_int<const D: usize>(&mut self, param: &Param<Tensor<D, Int>>) {
            let _ = param.val();
        }
        fn visit_bool<const D: usize>(&mut self, param: &Param<Tensor<D, Bool>>) {
            let _ = param.val();
        }
    }
    module.visit(&mut Draw);
    module
}

/// Which burn backend a device runs on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum BackendKind {
    /// burn-flex: pure-Rust CPU (SIMD, rayon natively; single-threaded in wasm).
    Flex,
    /// burn-wgpu on a native adapter (Vulkan, Metal, DX12; lavapipe in CI).
    Wgpu,
    /// burn-wgpu on the browser's WebGPU.
    WebGpu,
}

impl BackendKind {
    /// The name shown to users and reported by the page.
    pub fn name(self) -> &'static str {
        match self {
            BackendKind::Flex => "flex (CPU)",
            BackendKind::Wgpu => "wgpu",
            BackendKind::WebGpu => "WebGPU",
        }
    }
}

/// A burn device with the backend it runs on.
#[derive(Clone, Debug)]
pub struct ComputeDevice {
    pub device: Device,
    pub kind: BackendKind,
}

impl ComputeDevice {
    /// The flex CPU device: always available, on every target.
    pub fn flex() -> Self {
        Self {
            device: Device::flex(),
            kind: BackendKind::Flex,
        }
    }

    /// A native wgpu device on the default adapter (a software one where no GPU exists).
    /// The runtime is set up once per process (a second set-up fails with "Service already
    /// initialized"); later calls get the same device, or the same error.
    #[cfg(all(feature = "native", not(target_family = "wasm")))]
    pub fn wgpu() -> crate::Result<Self> {
        static WGPU: std::sync::OnceLock<std::result::Result<Device, String>> =
            std::sync::OnceLock::new();
        let device = WGPU
            .get_or_init(|| Device::wgpu_options().init().map_err(|e| e.to_string()))
            .clone()
            .map_err(|e| crate::SssError::Device(format!("no usable wgpu adapter: {e}")))?;
        Ok(Self {
            device,
            kind: BackendKind::Wgpu,
        })
    }

    /// The browser's WebGPU device. Must run before any tensor is created on it.
    #[cfg(all(feature = "web", target_family = "wasm"))]
    pub async fn webgpu() -> crate::Result<Self> {
        let (device, setup) = Device::wgpu_options()
            .init_with_setup_async()
            .await
            .map_err(|e| {
                crate::SssError::Device(format!("WebGPU could not be initialised: {e}"))
            })?;
        // burn's runtime keeps the device and queue but not the wgpu `Instance`; once the
        // instance is dropped the browser destroys the device ("A valid external Instance
        // reference no longer exists", then "Device was destroyed" on the next readback).
        // The runtime lives as long as the page, so the setup does too.
        std::mem::forget(setup);
        Ok(Self {
            device,
            kind: BackendKind::WebGpu,
        })
    }
}
