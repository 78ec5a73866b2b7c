//! SSS training (native only): augmentations, DFE, losses, the weak-to-strong loop, and the
//! supervised slice network;
//! `sss` is the SSS loop, `ema` its teacher, `checkpoint` its resumable state, `sam2_loss` the
//! official SAM-2 training loss, `foundation` the built-in weights training starts from.

pub mod augment;
pub mod checkpoint;
pub mod dfe;
pub mod ema;
pub mod foundation;
pub mod losses;
pub mod pseudo_labels;
pub mod sam2_loss;
pub mod slice_net;
pub mod trainer;

/// Every float parameter of a module, flattened in visiting order (tests compare modules).
#[cfg(test)]
pub(crate) fn float_values<M: burn::module::Module>(module: &M) -> Vec<f32> {
    use burn::module::{ModuleVisitor, Param};
    use burn::tensor::Tensor;
    struct Floats(Vec<f32>);
    impl ModuleVisitor for Floats {
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
            self.0
                .extend(param.val().into_data().convert::<f32>().iter::<f32>());
        }
    }
    let mut floats = Floats(Vec::new());
    module.visit(&mut floats);
    floats.0
}
