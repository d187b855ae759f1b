//! The steps of the methods that need more than losses and the Gram matrix: DB-MTL's task-gradient
//! memories and FAMO's losses after the update, against reference backward passes; and the
//! `--method` measurement of the training-step benchmark.

use grace_core::controller::dbmtl::update_memories;
use grace_core::controller::{MemoryUpdate, TaskWeighting};
use grace_core::methods::{method, ParamValues};
use grace_nn::bench::{self, BenchConfig};
use grace_nn::memory::{GradientMemory, CHECKPOINT_KEY};
use grace_nn::model::{trainable, DualTaskModel, Group, ModelConfig};
use grace_nn::step::{after_update, combined_gradients, task_losses, Batch, Params};
use tch::{nn, Device, Kind, Tensor};

// libtorch's default generator is process-wide: the tests that draw from it take turns.
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

/// A small model in double precision (so comparisons measure the method, not float32 rounding)
/// and a random batch.
fn setup(seed: i64) -> (nn::VarStore, DualTaskModel, Batch) {
    tch::manual_seed(seed);
    let mut vs = nn::VarStore::new(Device::Cpu);
    let model = DualTaskModel::new(&vs.root(), &ModelConfig::small(17));
    vs.double();
    let x = Tensor::randn([16, 30, 17], (Kind::Double, Device::Cpu));
    let rul = Tensor::rand([16], (Kind::Double, Device::Cpu)) * 125.0;
    let health = Tensor::randint(3, [16], (Kind::Int64, Device::Cpu));
    (vs, model, Batch { x, rul, health, sample_weights: None })
}

fn rows_of(t: &Tensor) -> Vec<Vec<f64>> {
    (0..t.size()[0]).map(|i| Vec::<f64>::try_from(&t.get(i).to_kind(Kind::Double)).unwrap()).collect()
}

#[test]
fn memory_update_gram_and_combination_match_the_f64_arithmetic() {
    let _turn = serial();
    tch::manual_seed(4);
    let like = Tensor::zeros([1], (Kind::Double, Device::Cpu));
    let mut mem = GradientMemory::new(3, 50, &like);
    let mut reference = vec![vec![0.0; 50]; 3];
    for (mix, scales) in [(0.9, vec![0.25, 1.0, 3.0]), (0.45, vec![2.0, 0.5, 1e8])] {
        let grads: Vec<Tensor> = (0..3).map(|_| Tensor::randn([50], (Kind::Double, Device::Cpu))).collect();
        let update = MemoryUpdate { mix, scales };
        let before = mem.rows().copy();
        let next = mem.updated(&grads, &update);
        assert!(mem.rows().equal(&before), "updated() leaves the memories alone");
        mem.commit(next);
        let flat: Vec<Vec<f64>> = grads.iter().map(|g| Vec::try_from(g).unwrap()).collect();
        update_memories(&mut reference, &flat, &update);
        for (a, b) in rows_of(mem.rows()).iter().flatten().zip(reference.iter().flatten()) {
            assert!((a - b).abs() <= 1e-12 * (1.0 + b.abs()), "{a} vs {b}");
        }
    }
    let g = GradientMemory::gram(mem.rows()).unwrap();
    let dot = |a: &[f64], b: &[f64]| a.iter().zip(b).map(|(x, y)| x * y).sum::<f64>();
    for i in 0..3 {
        for j in 0..3 {
            let want = dot(&reference[i], &reference[j]);
            assert!((g.get(i, j) - want).abs() <= 1e-9 * want.abs().max(1.0), "G[{i}][{j}]");
        }
    }
    let c = Vec::<f64>::try_from(&mem.combine(&[1.0, -2.0, 0.5])).unwrap();
    for (n, x) in c.iter().enumerate() {
        let want = reference[0][n] - 2.0 * reference[1][n] + 0.5 * reference[2][n];
        assert!((x - want).abs() <= 1e-9 * (1.0 + want.abs()));
    }
    let mut other = GradientMemory::new(2, 50, &like);
    assert!(other.restore(mem.rows()).unwrap_err().to_string().contains(CHECKPOINT_KEY));
}

/// Each parameter's gradient against `want`; near-zero conv-bias gradients (zero in exact
/// arithmetic before batch norm) are held to the global scale instead of their own.
fn assert_same(grads: &[Tensor], want: &[Tensor], names: &[String]) {
    let global: f64 = want.iter().map(|r| r.square().sum(Kind::Double).double_value(&[])).sum::<f64>().sqrt();
    for ((g, w), name) in grads.iter().zip(want).zip(names) {
        let (diff, norm) = ((g - w).norm().double_value(&[]), w.norm().double_value(&[]));
        assert!(diff <= 1e-5 * norm.max(1e-6 * global), "{name}: |Δ| {diff} vs |g| {norm}");
    }
}

/// `Σ_i w_i m_i` of (2, P) memories cut back into the shared parameters' shapes (zeros elsewhere).
fn memory_combination(rows: &Tensor, w: &[f64], params: &Params) -> Vec<Tensor> {
    let flat = &rows.get(0) * w[0] + &rows.get(1) * w[1];
    let mut offset = 0;
    let mut cut = |t: &Tensor, g: &Group| {
        if *g != Group::Shared {
            return t.zeros_like();
        }
        let n = t.numel() as i64;
        offset += n;
        flat.narrow(0, offset - n, n).view_as(t)
    };
    params.tensors.iter().zip(&params.groups).map(|(t, g)| cut(t, g)).collect()
}

fn sgd(params: &Params, grads: &[Tensor], lr: f64) {
    tch::no_grad(|| {
        for (p, g) in params.tensors.iter().zip(grads) {
            let _ = p.shallow_clone().g_sub_(&(g * lr));
        }
    });
}

#[test]
fn dbmtl_moves_its_memories_and_combines_them() {
    let _turn = serial();
    let (vs, model, batch) = setup(7);
    let params = Params::new(trainable(&vs));
    let mut ctrl = method("dbmtl").unwrap().controller(2, &ParamValues::default()).unwrap();
    let mut memory = GradientMemory::for_controller(ctrl.as_ref(), params.shared_len(), &params.tensors[0]).unwrap();
    assert!(GradientMemory::for_controller(
        method("gaba").unwrap().controller(2, &ParamValues::default()).unwrap().as_ref(),
        params.shared_len(),
        &params.tensors[0]
    )
    .is_none());
    for step in 0..2 {
        // evaluation mode: the reference forward below repeats this one exactly
        let (l_r, l_h) = task_losses(&model, &batch, false);
        let before = memory.rows().copy();
        let (grads, out) = combined_gradients(&params, &l_r, &l_h, ctrl.as_mut(), true, Some(&mut memory)).unwrap();
        // m_i ← 0.9·m_i + 0.1·s_i·∇L_i with s_i = 1/(L_i + 1e-8), so
        // Σ α_i m_i = 0.9·Σ α_i m_i(before) + ∇(Σ_i 0.1·α_i·s_i·L_i) on the shared parameters,
        // and each head gets ∇(s_i·L_i)
        let s: Vec<f64> = out.losses.iter().map(|l| 1.0 / (l + 1e-8)).collect();
        let a = out.record.weights.clone();
        assert_eq!(out.record.head_weights.as_deref(), Some(&s[..]));
        let (l_r, l_h) = task_losses(&model, &batch, false);
        let fresh = Tensor::run_backward(
            &[&l_r * (0.1 * a[0] * s[0]) + &l_h * (0.1 * a[1] * s[1])],
            &params.tensors,
            true,
            false,
        );
        let heads = Tensor::run_backward(&[&l_r * s[0] + &l_h * s[1]], &params.tensors, false, false);
        let old = memory_combination(&before, &a, &params);
        let want: Vec<Tensor> = (0..params.tensors.len())
            .map(|i| match params.groups[i] {
                Group::Shared => &fresh[i] + &old[i] * 0.9,
                _ => heads[i].shallow_clone(),
            })
            .collect();
        assert_same(&grads, &want, &params.names);
        // α_i = max‖m‖/(‖m_i‖ + 1e-8) from the committed memories
        let n = GradientMemory::gram(memory.rows()).unwrap().norms();
        let max = n[0].max(n[1]);
        for i in 0..2 {
            assert!((a[i] - max / (n[i] + 1e-8)).abs() <= 1e-12 * a[i], "step {step}: α {a:?}, norms {n:?}");
        }
        sgd(&params, &grads, 1e-3);
    }
}

#[test]
fn famo_reads_the_losses_after_the_update() {
    let _turn = serial();
    let (vs, model, batch) = setup(9);
    let params = Params::new(trainable(&vs));
    let mut ctrl = method("famo").unwrap().controller(2, &ParamValues::default()).unwrap();
    let logits = |c: &dyn TaskWeighting| c.state()["logits"].clone();
    let (l_r, l_h) = task_losses(&model, &batch, true);
    let (grads, out) = combined_gradients(&params, &l_r, &l_h, ctrl.as_mut(), false, None).unwrap();
    assert_eq!(logits(ctrl.as_ref()), serde_json::json!([0.0, 0.0]), "the step alone does not move ξ");
    // (z_i/L_i)/Σ(z_j/L_j) with z = ½ each: w_rul = L_health/(L_rul + L_health)
    let [lr, lh] = out.losses;
    assert!((out.record.weights[0] - lh / (lr + lh)).abs() < 1e-9, "{:?}", out.record.weights);
    sgd(&params, &grads, 1e-2);
    after_update(&model, &batch, ctrl.as_mut()).unwrap();
    let moved = logits(ctrl.as_ref());
    let xi: Vec<f64> = serde_json::from_value(moved).unwrap();
    // one Adam step of size ≈ lr = 0.025 on logits whose gradient sums to 0 (K = 2: opposite)
    assert!((xi[0].abs() - 0.025).abs() < 1e-3 && (xi[0] + xi[1]).abs() < 1e-12, "{xi:?}");
    // other controllers are not asked
    let mut gaba = method("gaba").unwrap().controller(2, &ParamValues::default()).unwrap();
    let before = gaba.state();
    after_update(&model, &batch, gaba.as_mut()).unwrap();
    assert_eq!(gaba.state(), before);
}

#[test]
fn bench_measures_a_method_next_to_gaba() {
    let _turn = serial();
    let mut c = BenchConfig {
        preset: "small".into(),
        features: 5,
        batch: 8,
        infer_batch: 8,
        threads: 1,
        warmup_steps: 1,
        min_seconds: 0.0,
        device: Device::Cpu,
        method: Some("dbmtl".into()),
    };
    let r = bench::run(&c).unwrap();
    let m = r.samples_per_s.method.unwrap();
    assert_eq!(m.name, "dbmtl");
    assert!(m.samples_per_s > 0.0 && (m.vs_gaba - m.samples_per_s / r.samples_per_s.gaba).abs() < 1e-12);
    c.method = Some("famo".into());
    assert!(bench::run(&c).unwrap().samples_per_s.method.is_some());
    c.method = Some("bogus".into());
    assert!(bench::run(&c).unwrap_err().to_string().contains("bogus"));
    c.method = None;
    assert!(bench::run(&c).unwrap().samples_per_s.method.is_none());
}
