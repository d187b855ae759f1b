//! One optimisation step of the dual-task model for any task-weighting controller: per-task
//! gradients and their Gram matrix when the controller (or the log) needs them, else one backward.

use crate::memory::GradientMemory;
use crate::model::{group_of, DualTaskModel, Group};
use anyhow::{anyhow, bail};
use grace_core::controller::{Gram, Needs, StepInput, StepRecord, TaskWeighting};
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

    /// Number of shared values (the length of a task gradient over the shared parameters).
    pub fn shared_len(&self) -> i64 {
        self.groups.iter().zip(&self.tensors).filter(|(g, _)| **g == Group::Shared).map(|(_, t)| t.numel() as i64).sum()
    }
}

/// A batch on the model's device: inputs (B, window, F), targets, and per-sample RUL weights.
pub struct Batch {
    pub x: Tensor,
    pub rul: Tensor,
    pub health: Tensor,
    /// w(y) of docs/reference.md §4.1 for the weighted MSE, or `None` for plain MSE.
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

/// Refuses a controller that declares it needs the task gradient vectors but does not say how
/// its gradient memories move.
pub fn check_supported(controller: &dyn TaskWeighting) -> anyhow::Result<()> {
    let probe = vec![1.0; controller.n_tasks()];
    if controller.needs() == Needs::GradientVectors && controller.memory_update(&probe).is_none() {
        bail!(
            "controller `{}` needs the task gradient vectors but gives no update for their memories \
             (TaskWeighting::memory_update)",
            controller.name()
        );
    }
    Ok(())
}

/// The combined gradient `Σ_i λ_i ∇L_i` per parameter, and what was measured on the way.
///
/// With `per_task` the two task gradients come from two backward passes over one forward (the
/// graph kept for the second), their Gram matrix over the shared parameters feeds the
/// controller, and the combination is formed from them — no third backward: the shared parameters
/// get `Σ λ_i ∇L_i`, each head its own task's gradient times its head weight. Otherwise the
/// controller is asked first and one backward of `Σ λ_i L_i` gives the gradient. A controller
/// that needs the gradient vectors gets its `memory` moved instead (see `memory_step`).
pub fn combined_gradients(
    params: &Params,
    l_rul: &Tensor,
    l_health: &Tensor,
    controller: &mut dyn TaskWeighting,
    per_task: bool,
    memory: Option<&mut GradientMemory>,
) -> anyhow::Result<(Vec<Tensor>, StepOutcome)> {
    gradients(params, l_rul, l_health, controller, per_task, false, memory)
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
    memory: Option<&mut GradientMemory>,
) -> anyhow::Result<(Vec<Tensor>, StepOutcome)> {
    check_supported(controller)?;
    if !per_task {
        return one_backward(params, l_rul, l_health, controller, keep_graph);
    }
    let (grad_r, grad_h) = task_gradients(params, l_rul, l_health, keep_graph);
    let m = measure(l_rul, l_health, &grad_r, &grad_h)?;
    if controller.needs() == Needs::GradientVectors {
        let memory = memory.ok_or_else(|| {
            anyhow!("controller `{}` needs the task gradient vectors but the step got no memory", controller.name())
        })?;
        return memory_step(grad_r, grad_h, m, controller, memory);
    }
    let record = controller.step(&StepInput { losses: &m.losses, gram: Some(&m.gram) })?;
    let (wr, wh) = (record.weights[0], record.weights[1]);
    let (hr, hh) = match &record.head_weights {
        Some(h) => (h[0], h[1]),
        None => (wr, wh),
    };
    // ‖combined‖² from the per-task sums; grouped as before when the heads share the weights, so
    // loss-weighting runs stay bit-identical.
    let [s_rr, s_hh, s_rh, h_r, h_h] = m.sums;
    let sq = match record.head_weights {
        None => wr * wr * (s_rr + h_r) + wh * wh * (s_hh + h_h) + 2.0 * wr * wh * s_rh,
        Some(_) => wr * wr * s_rr + wh * wh * s_hh + 2.0 * wr * wh * s_rh + hr * hr * h_r + hh * hh * h_h,
    };
    let grad_norm = sq.max(0.0).sqrt();
    let grads = grad_r
        .into_iter()
        .zip(grad_h)
        .map(|(r, h)| match (r, h) {
            (Some(mut r), Some(mut h)) => {
                let _ = r.g_mul_scalar_(wr).g_add_(&h.g_mul_scalar_(wh));
                r
            }
            (Some(r), None) => r * hr,
            (None, Some(h)) => h * hh,
            (None, None) => unreachable!("every parameter is shared or in one head"),
        })
        .collect();
    let outcome = StepOutcome { losses: m.losses, norms: m.norms, cosine: m.cosine, grad_norm, record };
    Ok((grads, outcome))
}

/// The controller first, then one backward of `Σ λ_i L_i`.
fn one_backward(
    params: &Params,
    l_rul: &Tensor,
    l_health: &Tensor,
    controller: &mut dyn TaskWeighting,
    keep_graph: bool,
) -> anyhow::Result<(Vec<Tensor>, StepOutcome)> {
    let losses = read_back(&[l_rul.detach(), l_health.detach()])?;
    let losses = [losses[0], losses[1]];
    let record = controller.step(&StepInput { losses: &losses, gram: None })?;
    if record.head_weights.as_ref().is_some_and(|h| *h != record.weights) {
        bail!(
            "controller `{}` set head weights apart from its task weights without per-task gradients",
            controller.name()
        );
    }
    let (wr, wh) = (record.weights[0], record.weights[1]);
    let total = l_rul * wr + l_health * wh;
    let grads = Tensor::run_backward(&[total], &params.tensors, keep_graph, false);
    let outcome = StepOutcome { losses, norms: [f64::NAN; 2], cosine: f64::NAN, grad_norm: f64::NAN, record };
    Ok((grads, outcome))
}

/// Each task's gradient per parameter (`None` where its loss does not reach), from two backward
/// passes over one forward.
type TaskGradients = (Vec<Option<Tensor>>, Vec<Option<Tensor>>);

fn task_gradients(params: &Params, l_rul: &Tensor, l_health: &Tensor, keep_graph: bool) -> TaskGradients {
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
    (grad_r, grad_h)
}

/// The losses and the task gradients' inner products, read back in one transfer.
struct Measured {
    losses: [f64; 2],
    /// Over the shared parameters.
    gram: Gram,
    norms: [f64; 2],
    cosine: f64,
    /// `‖g_r‖², ‖g_h‖², g_r·g_h` over the shared parameters, `‖g_r‖²` over the RUL head and
    /// `‖g_h‖²` over the health head.
    sums: [f64; 5],
}

fn measure(
    l_rul: &Tensor,
    l_health: &Tensor,
    grad_r: &[Option<Tensor>],
    grad_h: &[Option<Tensor>],
) -> anyhow::Result<Measured> {
    // Over the shared parameters ‖g_r‖², ‖g_h‖², g_r·g_h, and over each head its own task's ‖g‖²:
    // enough for the controller's norms, the cosine, and the global norm of the combined gradient
    // (‖λ_r g_r + λ_h g_h‖² expands into these), read back with the losses in one transfer.
    let (mut rr, mut hh, mut rh, mut head_r, mut head_h) = (vec![], vec![], vec![], vec![], vec![]);
    let sq = |t: &Tensor| t.square().sum(Kind::Double);
    for (r, h) in grad_r.iter().zip(grad_h) {
        match (r, h) {
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
    let (s_rr, s_hh, s_rh) = (v[2], v[3], v[4]);
    let gram = Gram::new(2, vec![s_rr, s_rh, s_rh, s_hh])?;
    let (n, cosine) = (gram.norms(), gram.cosine(0, 1));
    Ok(Measured { losses: [v[0], v[1]], norms: [n[0], n[1]], cosine, gram, sums: [s_rr, s_hh, s_rh, v[5], v[6]] })
}

/// The step of a controller that reads the task gradients as vectors (DB-MTL): the memories move
/// with this step's shared task gradients as the controller says, the controller weighs the
/// memories from their Gram matrix, the shared parameters get `Σ_i w_i m_i` and each head its own
/// task's gradient times its head weight. A skipped step leaves the memories as they were.
fn memory_step(
    grad_r: Vec<Option<Tensor>>,
    grad_h: Vec<Option<Tensor>>,
    m: Measured,
    controller: &mut dyn TaskWeighting,
    memory: &mut GradientMemory,
) -> anyhow::Result<(Vec<Tensor>, StepOutcome)> {
    let flat = |g: &[Option<Tensor>], other: &[Option<Tensor>]| {
        let shared: Vec<Tensor> =
            g.iter().zip(other).filter_map(|(a, b)| b.as_ref().and(a.as_ref()).map(|t| t.flatten(0, -1))).collect();
        Tensor::cat(&shared, 0)
    };
    let task_grads = [flat(&grad_r, &grad_h), flat(&grad_h, &grad_r)];
    let next = controller.memory_update(&m.losses).map(|u| memory.updated(&task_grads, &u));
    let gram = GradientMemory::gram(next.as_ref().unwrap_or(memory.rows()))?;
    let record = controller.step(&StepInput { losses: &m.losses, gram: Some(&gram) })?;
    if let (false, Some(n)) = (record.skipped, next) {
        memory.commit(n);
    }
    let head = record.head_weights.clone().unwrap_or_else(|| record.weights.clone());
    let combined = memory.combine(&record.weights);
    let mut offset = 0;
    let grads = grad_r
        .into_iter()
        .zip(grad_h)
        .map(|(r, h)| match (r, h) {
            (Some(r), Some(_)) => {
                let n = r.numel() as i64;
                let g = combined.narrow(0, offset, n).view_as(&r);
                offset += n;
                g
            }
            (Some(r), None) => r * head[0],
            (None, Some(h)) => h * head[1],
            (None, None) => unreachable!("every parameter is shared or in one head"),
        })
        .collect();
    // the global norm is measured by the clipping
    let outcome = StepOutcome { losses: m.losses, norms: m.norms, cosine: m.cosine, grad_norm: f64::NAN, record };
    Ok((grads, outcome))
}

/// For [`Needs::LossesAfterUpdate`] (FAMO): the batch's losses again after the optimiser step, from
/// a forward without gradients, handed to the controller; nothing for other controllers. The
/// forward is in training mode as the method's authors run it (fresh dropout masks, batch-norm
/// statistics updated once more).
pub fn after_update(model: &DualTaskModel, batch: &Batch, controller: &mut dyn TaskWeighting) -> anyhow::Result<()> {
    if controller.needs() != Needs::LossesAfterUpdate {
        return Ok(());
    }
    let (l_r, l_h) = tch::no_grad(|| task_losses(model, batch, true));
    controller.after_update(&read_back(&[l_r, l_h])?)?;
    Ok(())
}

fn read_back(scalars: &[Tensor]) -> anyhow::Result<Vec<f64>> {
    let t = Tensor::stack(scalars, 0).to_kind(Kind::Double).to_device(tch::Device::Cpu);
    Ok(Vec::try_from(&t)?)
}

/// Scales the flat gradient (see [`crate::flat`]) in place so its L2 norm is at most `max_norm`
/// (as torch.nn.utils.clip_grad_norm_); returns the norm before clipping. `known_norm` skips
/// recomputing a norm the step already has (NaN = unknown).
pub fn clip_global_norm(grad: &mut Tensor, max_norm: f64, known_norm: f64) -> f64 {
    let total = if known_norm.is_nan() { grad.square().sum(Kind::Double).double_value(&[]).sqrt() } else { known_norm };
    if max_norm > 0.0 && total.is_finite() {
        let scale = max_norm / (total + 1e-6);
        if scale < 1.0 {
            let _ = grad.g_mul_scalar_(scale);
        }
    }
    total
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{trainable, ModelConfig};
    use grace_core::controller::Fixed;
    use grace_core::methods::{method, ParamValue, ParamValues};
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
        let cp = ParamValues::default()
            .with("warmup_steps", ParamValue::Int(0))
            .and_then(|p| p.with("beta", ParamValue::Float(0.0)))
            .unwrap();
        let mut ctrl = method("grace").unwrap().controller(2, &cp).unwrap();
        // One forward (same dropout masks for both ways); the per-task path keeps the graph.
        let (l_r, l_h) = task_losses(&model, &batch, true);
        let (grads, out) = gradients(&params, &l_r, &l_h, ctrl.as_mut(), true, true, None).unwrap();
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

    /// Fixed weights whose step also sets the heads' weights (as direction-changing methods do),
    /// or declares that it needs the gradient vectors.
    struct Directional {
        inner: Fixed,
        head: Vec<f64>,
        needs: Needs,
    }

    impl TaskWeighting for Directional {
        fn name(&self) -> &str {
            "directional"
        }
        fn n_tasks(&self) -> usize {
            2
        }
        fn needs(&self) -> Needs {
            self.needs
        }
        fn step(&mut self, obs: &StepInput) -> Result<StepRecord, grace_core::CoreError> {
            assert!(obs.gram.is_some_and(|g| g.k() == 2 && g.get(0, 1) == g.get(1, 0)));
            let mut r = self.inner.step(obs)?;
            r.head_weights = Some(self.head.clone());
            Ok(r)
        }
        fn current_weights(&self) -> Vec<f64> {
            self.inner.current_weights()
        }
        fn state(&self) -> serde_json::Value {
            self.inner.state()
        }
        fn restore(&mut self, v: &serde_json::Value) -> Result<(), grace_core::CoreError> {
            self.inner.restore(v)
        }
    }

    #[test]
    fn head_weights_scale_each_head_and_the_shared_part_keeps_the_task_weights() {
        let (vs, model, batch) = setup(5);
        let params = Params::new(trainable(&vs));
        let inner = Fixed::new(vec![0.3, 0.7]).unwrap();
        let mut ctrl = Directional { inner, head: vec![1.0, 2.0], needs: Needs::Gram };
        let (l_r, l_h) = task_losses(&model, &batch, true);
        let (grads, out) = gradients(&params, &l_r, &l_h, &mut ctrl, true, true, None).unwrap();
        // shared: 0.3·∇L_rul + 0.7·∇L_health; RUL head: 1·∇L_rul; health head: 2·∇L_health
        let shared = Tensor::run_backward(&[&l_r * 0.3 + &l_h * 0.7], &params.tensors, true, false);
        let heads = Tensor::run_backward(&[&l_r * 1.0 + &l_h * 2.0], &params.tensors, false, false);
        let global: f64 = shared.iter().map(|r| r.square().sum(Kind::Double).double_value(&[])).sum::<f64>().sqrt();
        for (i, name) in params.names.iter().enumerate() {
            let want = if params.groups[i] == Group::Shared { &shared[i] } else { &heads[i] };
            let (diff, norm) = ((&grads[i] - want).norm().double_value(&[]), want.norm().double_value(&[]));
            // near-zero conv-bias gradients are held to the global scale, as in the test above
            assert!(diff <= 1e-5 * norm.max(1e-6 * global), "{name}: |Δ| {diff} vs |g| {norm}");
        }
        let direct: f64 = grads.iter().map(|g| g.square().sum(Kind::Double).double_value(&[])).sum::<f64>().sqrt();
        assert!((out.grad_norm - direct).abs() <= 1e-9 * direct, "{} vs {direct}", out.grad_norm);
        assert_eq!(out.record.weights, vec![0.3, 0.7]);
    }

    #[test]
    fn gradient_vectors_without_a_memory_rule_or_a_memory_are_refused_by_name() {
        let (vs, model, batch) = setup(5);
        let params = Params::new(trainable(&vs));
        let inner = Fixed::new(vec![0.5, 0.5]).unwrap();
        let mut ctrl = Directional { inner, head: vec![1.0, 1.0], needs: Needs::GradientVectors };
        let (l_r, l_h) = task_losses(&model, &batch, true);
        let e = gradients(&params, &l_r, &l_h, &mut ctrl, true, true, None).unwrap_err().to_string();
        assert!(e.contains("directional") && e.contains("gradient vectors"), "{e}");
        let mut dbmtl = method("dbmtl").unwrap().controller(2, &ParamValues::default()).unwrap();
        let e = gradients(&params, &l_r, &l_h, dbmtl.as_mut(), true, false, None).unwrap_err().to_string();
        assert!(e.contains("dbmtl") && e.contains("no memory"), "{e}");
    }

    #[test]
    fn clipping_scales_to_the_max_norm() {
        let mut g = Tensor::from_slice(&[3.0f32, 4.0]);
        let before = clip_global_norm(&mut g, 1.0, f64::NAN);
        assert!((before - 5.0).abs() < 1e-9);
        // 3 and 4 scaled by 1/(5 + 1e-6)
        assert!((g.double_value(&[0]) - 0.6).abs() < 1e-5);
        assert!((g.double_value(&[1]) - 0.8).abs() < 1e-5);
        // a norm the step already has is used as given, and a small gradient is left alone
        let mut g = Tensor::from_slice(&[0.3f32, 0.4]);
        assert_eq!(clip_global_norm(&mut g, 1.0, 0.5), 0.5);
        assert_eq!(Vec::<f32>::try_from(&g).unwrap(), vec![0.3, 0.4]);
    }
}
