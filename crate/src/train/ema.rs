//! The EMA teacher of UniMatch-V2 (`unimatch_v2.py`): after every optimiser step,
//! `teacher ← m·teacher + (1 − m)·student` with `m = min(1 − 1/(t + 1), 0.996)`, `t` the
//! number of completed steps (`iters`). Parameters are paired by their order in the module
//! tree, which is the same for two modules of one type and configuration.

use burn::module::{Module, ModuleMapper, ModuleVisitor, Param};
use burn::tensor::Tensor;

/// UniMatch-V2's EMA momentum after `step` completed steps (0 at the first step, so the
/// teacher starts as a copy of the student).
pub fn ema_momentum(step: usize, max_momentum: f64) -> f64 {
    (1.0 - 1.0 / (step as f64 + 1.0)).min(max_momentum)
}

/// Every float parameter of a module without autodiff (so that the teacher never joins the
/// student's graph, nor grows one of its own), in visiting order, flattened.
struct CollectFloats(Vec<Tensor<1>>);

impl ModuleVisitor for CollectFloats {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        self.0
            .push(param.val().without_autodiff().flatten::<1>(0, D - 1));
    }
}

/// Blends each parameter with the student's.
struct Blend {
    student: std::vec::IntoIter<Tensor<1>>,
    momentum: f64,
}

impl ModuleMapper for Blend {
    fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
        let student = self
            .student
            .next()
            .expect("teacher and student have the same parameters");
        let m = self.momentum;
        param.map(|t| {
            let s: Tensor<D> = student.reshape(t.shape());
            t * m + s * (1.0 - m)
        })
    }
}

/// `teacher ← m·teacher + (1 − m)·student`; `teacher` stays on its (plain) device. Both
/// modules must be the same type built from the same configuration.
pub fn ema_update<M: Module>(teacher: M, student: &M, momentum: f64) -> M {
    let mut collect = CollectFloats(Vec::new());
    student.visit(&mut collect);
    let mut blend = Blend {
        student: collect.0.into_iter(),
        momentum,
    };
    teacher.map(&mut blend)
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::nn::{Linear, LinearConfig};
    use burn::tensor::Device;

    fn values(linear: &Linear) -> Vec<f32> {
        linear.weight.val().into_data().try_to_vec::<f32>().unwrap()
    }

    #[test]
    fn momentum_follows_unimatch_v2() {
        assert_eq!(ema_momentum(0, 0.996), 0.0);
        assert_eq!(ema_momentum(1, 0.996), 0.5);
        assert!((ema_momentum(9, 0.996) - 0.9).abs() < 1e-12);
        assert_eq!(ema_momentum(100_000, 0.996), 0.996);
    }

    #[test]
    fn update_blends_every_parameter_and_leaves_the_student_alone() {
        // Draws from burn's generator: inside the seeded section (see crate::backend::seeded).
        crate::backend::seeded(&Device::flex(), 135, || {
            let device = Device::flex();
            let teacher = LinearConfig::new(3, 2).init(&device);
            let student = LinearConfig::new(3, 2).init(&device);
            let (t0, s0) = (values(&teacher), values(&student));
            let tb0 = teacher
                .bias
                .as_ref()
                .unwrap()
                .val()
                .into_data()
                .try_to_vec::<f32>()
                .unwrap();
            let sb0 = student
                .bias
                .as_ref()
                .unwrap()
                .val()
                .into_data()
                .try_to_vec::<f32>()
                .unwrap();
            let updated = ema_update(teacher, &student, 0.75);
            for ((u, t), s) in values(&updated).iter().zip(&t0).zip(&s0) {
                assert!((u - (0.75 * t + 0.25 * s)).abs() < 1e-6);
            }
            let ub = updated
                .bias
                .as_ref()
                .unwrap()
                .val()
                .into_data()
                .try_to_vec::<f32>()
                .unwrap();
            for ((u, t), s) in ub.iter().zip(&tb0).zip(&sb0) {
                assert!((u - (0.75 * t + 0.25 * s)).abs() < 1e-6);
            }
            assert_eq!(values(&student), s0);
            // Momentum 0 copies the student.
            let copy = ema_update(updated, &student, 0.0);
            assert_eq!(values(&copy), s0);
        })
    }

    #[test]
    fn teacher_on_a_plain_device_follows_an_autodiff_student() {
        // Draws from burn's generator: inside the seeded section (see crate::backend::seeded).
        crate::backend::seeded(&Device::flex(), 136, || {
            let device = Device::flex();
            let student = LinearConfig::new(2, 2).init(&device.clone().autodiff());
            let teacher = student.valid();
            let mut updated = teacher;
            for _ in 0..3 {
                updated = ema_update(updated, &student, 0.5);
            }
            assert_eq!(values(&updated), values(&student));
            assert!(
                !updated.weight.val().is_autodiff(),
                "the teacher stays plain"
            );
        })
    }
}
