//! The tensor side of grace: the dual-task CNN–BiLSTM–attention model, the training step for every
//! task-weighting method, checkpoints and evaluation, on libtorch through tch.

pub mod adamw;
pub mod bench;
pub mod checkpoint;
pub mod config;
pub mod diagnose;
pub mod evaluate;
mod fault;
pub mod flat;
pub use grace_core::io;
pub mod intervals;
pub mod logs;
pub mod memory;
pub mod model;
pub mod predict;
pub mod rescore;
pub mod setup;
pub mod start;
pub mod step;
pub mod train;
pub mod weights;

/// Proves the link to libtorch: a tiny computation with a known answer.
pub fn libtorch_smoke() -> f64 {
    let t = tch::Tensor::from_slice(&[1.0f64, 2.0, 3.0]);
    (&t * &t).sum(tch::Kind::Double).double_value(&[])
}

#[cfg(test)]
mod tests {
    #[test]
    fn libtorch_computes_sum_of_squares() {
        assert_eq!(super::libtorch_smoke(), 14.0);
    }
}
