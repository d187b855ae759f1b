//! One optimisation step of the dual-task model for any task-weighting controller: per-task
//! gradients when the controller (or the log) needs their norms, else one backward of the sum.

use crate::model::{group_of, DualTaskModel, Group};
use grace_core::controller::{StepInput, StepRecord, TaskWeighting};
use tch::{Kind, Reduction, Tensor};

/// The trainable parameters in a fixed order, with the subsets each task's loss reaches.
pub struct Params {
    pub names: Vec<String>,
    pub tensors: Vec<Tensor>,
    pub groups: Vec<Group>,
    /// Shared parameters plus the RUL head (what L_rul depends on).
    rul_reach: Vec<usize>,
    /// Shared parameters plus the health head (what L_health depends on).
    health_reach: Vec<usize>,
}

impl Params {
    pub fn new(named: Vec<(String, Tensor)>) -> Self {
        let groups: Vec<Group> = named.iter().map(|(n, _)| group_of(n)).collect();
        let reach = |g: Group| (0..groups.len()).filter(|&i| groups[i] == Group::Shared || groups[i] == g).collect();
        let rul_reach = reach(Group::RulHead);
        let health_reach = reach(Group::HealthHead);
        let (names, tensors) = named.into_iter().unzip();
        Params { names, tensors, groups, rul_reach, health_reach }
    }
}

/// A batch on the model's device: inputs (B, window, F), targets, and per-sample RUL weights.
pub struct Batch {
    pub x: Tensor,
    pub rul: Tensor,
    pub health: Tensor,
    /// w(y) of SPEC §4.1 for the weighted MSE, or `None` for plain MSE.
    pub sample_weights: Option<Tensor>,
}

/// `mean_j w_j (ŷ_j − y_j)²` (plain mean, not divided by Σw) and the health cross-entropy.
pub fn task_losses(model: &DualTaskModel, batch: &Batch, train: bool) -> (Tensor, Tensor) {
    let out = model.forward_t(&batch.x, train);
    let sq = (&out.rul - &batch.rul).square();
    let l_rul = match &batch.sample_weights {
        Some(w) => (sq * w).mean(None),
        None => sq.mean(None),
    };
    let l_health = out.logits.cross_entropy_loss::<Tensor>(&batch.health, None, Reduction::Mean, -100, 0.0);
    (l_rul, l_health)
}

/// What one step measured, for the gradient log.
#[derive(Debug, Clone)]
pub struct StepOutcome {
    pub losses: [f64; 2],
    /// ‖∇L_rul‖ and ‖∇L_health‖ over the shared parameters (NaN when not measured).
    pub norms: [f64; 2],
    /// Cosine between the two task gradients on the shared parameters (NaN when not measured).
    pub cosine: f64,
    /// Global gradient norm before clipping.
    pub grad_norm: f64,
    pub record: StepRecord,
}

/// The combined gradient `Σ_i λ_i ∇L_i` per parameter, and what was measured on the way.
///
/// With `per_task` the two task gradients come from two backward passes over one forward (the
/// graph kept for the second), their norms and cosine over the shared parameters feed the
/// controller, and the combination is formed from them — no third backward. Otherwise the
/// controller is asked first and one backward of `Σ λ_i L_i` gives the gradient.
pub fn combined_gradients(
    params: &Params,
    l_rul: &Tensor,
    l_health: &Tensor,
    controller: &mut dyn TaskWeighting,
    per_task: bool,
) -> anyhow::Result<(Vec<Tensor>, StepOutcome)> {
    gradients(params, l_rul, l_health, controller, per_task, false)
}

/// `keep_graph` leaves the graph alive after the last backward (tests compare against a
/// reference backward on the same forward pass).
pub(crate) fn gradients(
    params: &Params,
    l_rul: &Tensor,
    l_health: &Tensor,
    controller: &mut dyn TaskWeighting,
    per_task: bool,
    keep_graph: bool,
) -> anyhow::Result<(Vec<Tensor>, StepOutcome)> {
    if !per_task {
        let losses = read_back(&[l_rul.detach(), l_health.detach()])?;
        let losses = [losses[0], losses[1]];
        let record = controller.step(&StepInput { grad_norms: None, losses: &losses })?;
        let (wr, wh) = (record.weights[0], record.weights[1]);
        let total = l_rul * wr + l_health * wh;
        let grads = Tensor::run_backward(&[total], &params.tensors, keep_graph, false);
        let outcome = StepOutcome { losses, norms: [f64::NAN; 2], cosine: f64::NAN, grad_norm: f64::NAN, record };
        return Ok((grads, outcome));
    }

    let pick = |idx: &[usize]| idx.iter().map(|&i| params.tensors[i].shallow_clone()).collect::<Vec<_>>();
    let g_h = Tensor::run_backward(&[l_health], &pick(&params.health_reach), true, false);
    let g_r = Tensor::run_backward(&[l_rul], &pick(&params.rul_reach), keep_graph, false);
    let mut grad_r: Vec<Option<Tensor>> = (0..params.tensors.len()).map(|_| None).collect();
    let mut grad_h: Vec<Option<Tensor>> = (0..params.tensors.len()).map(|_| None).collect();
    for (&i, g) in params.rul_reach.iter().zip(g_r) {
        grad_r[i] = Some(g);
    }
    for (&i, g) in params.health_reach.iter().zip(g_h) {
        grad_h[i] = Some(g);
    }

    // Over the shared parameters ‖g_r‖², ‖g_h‖², g_r·g_h, and over each head its own task's ‖g‖²:
    // enough for the controller's norms, the cosine, and the global norm of the combined gradient
    // (‖λ_r g_r + λ_h g_h‖² expands into these), read back with the losses in one transfer.
    let (mut rr, mut hh, mut rh, mut head_r, mut head_h) = (vec![], vec![], vec![], vec![], vec![]);
    let sq = |t: &Tensor| t.square().sum(Kind::Double);
    for i in 0..params.tensors.len() {
        match (&grad_r[i], &grad_h[i]) {
            (Some(r), Some(h)) => {
                rr.push(sq(r));
                hh.push(sq(h));
                rh.push((r * h).sum(Kind::Double));
            }
            (Some(r), None) => head_r.push(sq(r)),
            (None, Some(h)) => head_h.push(sq(h)),
            (None, None) => unreachable!("every parameter is shared or in one head"),
        }
    }
    let total = |v: Vec<Tensor>| {
        if v.is_empty() {
            Tensor::zeros([], (Kind::Double, l_rul.device()))
        } else {
            Tensor::stack(&v, 0).sum(Kind::Double)
        }
    };
    let v =
        read_back(&[l_rul.detach(), l_health.detach(), total(rr), total(hh), total(rh), total(head_r), total(head_h)])?;
    let losses = [v[0], v[1]];
    let (s_rr, s_hh, s_rh, h_r, h_h) = (v[2], v[3], v[4], v[5], v[6]);
    let norms = [s_rr.sqrt(), s_hh.sqrt()];
    let cosine = s_rh / (norms[0] * norms[1]);
    let record = controller.step(&StepInput { grad_norms: Some(&norms), losses: &losses })?;
    let (wr, wh) = (record.weights[0], record.weights[1]);
    let grad_norm = (wr * wr * (s_rr + h_r) + wh * wh * (s_hh + h_h) + 2.0 * wr * wh * s_rh).max(0.0).sqrt();
    let grads = grad_r
        .into_iter()
        .zip(grad_h)
        .map(|(r, h)| match (r, h) {
            (Some(mut r), Some(mut h)) => {
                let _ = r.g_mul_scalar_(wr).g_add_(&h.g_mul_scalar_(wh));
                r
            }
            (Some(r), None) => r * wr,
            (None, Some(h)) => h * wh,
            (None, None) => unreachable!("every parameter is shared or in one head"),
        })
        .collect();
    Ok((grads, StepOutcome { losses, norms, cosine, grad_norm, record }))
}

fn read_back(scalars: &[Tensor]) -> anyhow::Result<Vec<f64>> {
    let t = Tensor::stack(scalars, 0).to_kind(Kind::Double).to_device(tch::Device::Cpu);
    Ok(Vec::try_from(&t)?)
}

/// Scales the gradients in place so their global L2 norm is at most `max_norm`
/// (as torch.nn.utils.clip_grad_norm_); returns the norm before clipping. `known_norm` skips
/// recomputing a norm the step already has (NaN = unknown).
pub fn clip_global_norm(grads: &mut [Tensor], max_norm: f64, known_norm: f64) -> f64 {
    let total = if known_norm.is_nan() {
        let sq: Vec<Tensor> = grads.iter().map(|g| g.square().sum(Kind::Double)).collect();
        Tensor::stack(&sq, 0).sum(Kind::Double).double_value(&[]).sqrt()
    } else {
        known_norm
    };
    if max_norm > 0.0 && total.is_finite() {
        let scale = max_norm / (total + 1e-6);
        if scale < 1.0 {
            for g in grads.iter_mut() {
                let _ = g.g_mul_scalar_(scale);
            }
        }
    }
    total
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{trainable, ModelConfig};
    use grace_core::controller::{controller_for, ControllerParams};
    use tch::{nn, Device};

    fn setup(seed: i64) -> (nn::VarStore, DualTaskModel, Batch) {
        tch::manual_seed(seed);
        // Double precision, so the comparison measures the method, not float32 summation order.
        let mut vs = nn::VarStore::new(Device::Cpu);
        let model = DualTaskModel::new(&vs.root(), &ModelConfig::small(17));
        vs.double();
        let x = Tensor::randn([16, 30, 17], (Kind::Double, Device::Cpu));
        let rul = Tensor::rand([16], (Kind::Double, Device::Cpu)) * 125.0;
        let health = Tensor::randint(3, [16], (Kind::Int64, Device::Cpu));
        let w = ((&rul / -125.0) + 1.0).clamp(0.0, 1.0) + 1.0;
        (vs, model, Batch { x, rul, health, sample_weights: Some(w) })
    }

    #[test]
    fn combined_gradient_equals_one_backward_of_the_weighted_loss() {
        let (vs, model, batch) = setup(3);
        let params = Params::new(trainable(&vs));
        // Past warm-up so the weights are far from 0.5/0.5 and the test can tell them apart.
        let cp = ControllerParams { warmup: 0, beta: 0.0, ..Default::default() };
        let mut ctrl = controller_for("grace", 2, &cp).unwrap();
        // One forward (same dropout masks for both ways); the per-task path keeps the graph.
        let (l_r, l_h) = task_losses(&model, &batch, true);
        let (grads, out) = gradients(&params, &l_r, &l_h, ctrl.as_mut(), true, true).unwrap();
        let (wr, wh) = (out.record.weights[0], out.record.weights[1]);
        assert!((wr - 0.5).abs() > 0.1, "weights {wr} {wh} should be far from uniform");
        let reference = Tensor::run_backward(&[&l_r * wr + &l_h * wh], &params.tensors, false, false);
        let global: f64 = reference.iter().map(|r| r.square().sum(Kind::Double).double_value(&[])).sum::<f64>().sqrt();
        for ((g, r), name) in grads.iter().zip(&reference).zip(&params.names) {
            let (diff, norm) = ((g - r).norm().double_value(&[]), r.norm().double_value(&[]));
            // Biases of convolutions followed by batch norm have (near) zero gradient in exact
            // arithmetic, so they are held to the global scale instead of their own.
            assert!(diff <= 1e-5 * norm.max(1e-6 * global), "{name}: |Δ| {diff} vs |g| {norm}");
        }
        assert!(out.norms[0] > out.norms[1], "RUL gradient should dominate: {:?}", out.norms);
        assert!(out.cosine.abs() <= 1.0);
        // The global norm derived from the per-task sums is the norm of the combined gradient.
        let direct: f64 = grads.iter().map(|g| g.square().sum(Kind::Double).double_value(&[])).sum::<f64>().sqrt();
        assert!((out.grad_norm - direct).abs() <= 1e-9 * direct, "{} vs {direct}", out.grad_norm);
    }

    #[test]
    fn clipping_scales_to_the_max_norm() {
        let mut g = vec![Tensor::from_slice(&[3.0f32]), Tensor::from_slice(&[4.0f32])];
        let before = clip_global_norm(&mut g, 1.0, f64::NAN);
        assert!((before - 5.0).abs() < 1e-9);
        // 3 and 4 scaled by 1/(5 + 1e-6)
        assert!((g[0].double_value(&[0]) - 0.6).abs() < 1e-5);
        assert!((g[1].double_value(&[0]) - 0.8).abs() < 1e-5);
    }
}
