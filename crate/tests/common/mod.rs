//! Helpers the CLI tests share: a scratch directory removed when dropped, a runner of the
//! `sss` binary that fails the test with its output when the command fails, and a module's
//! float parameters for comparing weights.
#![allow(dead_code)] // each test binary uses its own part

use std::path::{Path, PathBuf};
use std::process::Command;

use burn::module::{Module, ModuleVisitor, Param};
use burn::tensor::Tensor;

/// Every float parameter of a module, flattened, in visiting order.
pub fn float_params<M: Module>(module: &M) -> Vec<Vec<f32>> {
    struct Floats(Vec<Vec<f32>>);
    impl ModuleVisitor for Floats {
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
            let values = param.val().into_data().convert::<f32>();
            self.0.push(values.try_to_vec().unwrap());
        }
    }
    let mut floats = Floats(Vec::new());
    module.visit(&mut floats);
    floats.0
}

/// The largest absolute difference between two modules' parameters (same structure).
pub fn max_abs_diff(a: &[Vec<f32>], b: &[Vec<f32>]) -> f32 {
    assert_eq!(a.len(), b.len(), "parameter counts");
    a.iter()
        .zip(b)
        .flat_map(|(x, y)| {
            assert_eq!(x.len(), y.len(), "parameter sizes");
            x.iter().zip(y).map(|(p, q)| (p - q).abs())
        })
        .fold(0.0f32, f32::max)
}

/// A fresh scratch directory `sss-<suite>-<pid>-<name>` in the temporary directory.
pub struct ScratchDir(pub PathBuf);

impl ScratchDir {
    pub fn new(suite: &str, name: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("sss-{suite}-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Self(dir)
    }
}

impl Drop for ScratchDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Runs `sss ARGS`, asserts that it succeeded and returns its stdout.
pub fn sss(args: &[&str]) -> String {
    let (ok, stdout, stderr) = run_sss(args);
    assert!(ok, "sss {args:?} failed:\n{stdout}\n{stderr}");
    stdout
}

/// Runs `sss ARGS`, asserts that it failed and returns its stderr (where the CLI says why).
pub fn sss_fails(args: &[&str]) -> String {
    let (ok, stdout, stderr) = run_sss(args);
    assert!(!ok, "sss {args:?} succeeded:\n{stdout}");
    stderr
}

/// Runs `sss ARGS`: whether it succeeded, its stdout and its stderr.
fn run_sss(args: &[&str]) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_sss"))
        .args(args)
        .output()
        .expect("the sss binary runs");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// A path as the `&str` a command line takes.
pub fn path(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// Writes `cases` cardiac phantom patients of seed 3 to `out` (ACDC layout).
pub fn cardiac_phantom(out: &Path, cases: usize) {
    let cases = cases.to_string();
    sss(&[
        "phantom",
        "--task",
        "cardiac",
        "--cases",
        &cases,
        "--seed",
        "3",
        "--out",
        path(out),
    ]);
}
