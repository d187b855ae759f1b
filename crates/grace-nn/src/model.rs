//! The dual-task network of docs/reference.md §3: shared CNN → BiLSTM → self-attention → funnel backbone, an RUL
//! regression head and a health classification head, as plain structs over a `VarStore`.

use serde::{Deserialize, Serialize};
use tch::nn::{self, Init};
use tch::{Kind, Tensor};

/// Every width and dropout of the model; `paper()` and `small()` are the two presets.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ModelConfig {
    pub n_features: i64,
    pub window: i64,
    pub conv_channels: Vec<i64>,
    pub conv_kernel: i64,
    pub conv_dropout: f64,
    pub lstm_hidden: i64,
    pub lstm_layers: i64,
    pub lstm_dropout: f64,
    pub attn_heads: i64,
    pub attn_dropout: f64,
    pub funnel: Vec<i64>,
    pub funnel_dropout: f64,
    /// The paper also drops out the final shared vector; off by default (docs/reference.md §3, decided).
    pub dropout_on_shared: bool,
    pub rul_head: Vec<i64>,
    pub health_head: Vec<i64>,
    pub n_classes: i64,
    /// Bias of the last RUL layer: positive so the final ReLU is not dead at start (docs/reference.md §3).
    pub rul_bias_init: f64,
}

impl Default for ModelConfig {
    fn default() -> Self {
        Self::small(17)
    }
}

impl ModelConfig {
    pub fn paper(n_features: i64) -> Self {
        ModelConfig {
            n_features,
            window: 30,
            conv_channels: vec![64, 128, 64],
            conv_kernel: 3,
            conv_dropout: 0.15,
            lstm_hidden: 256,
            lstm_layers: 2,
            lstm_dropout: 0.3,
            attn_heads: 8,
            attn_dropout: 0.1,
            funnel: vec![256, 64, 32],
            // The paper has 0.3 here. Measured on FD001 (small preset, GRACE, epoch 19): the
            // dropout inside the funnel, read by ReLU layers, left evaluation-mode predictions
            // ~20 cycles too low (train-window RMSE 25.1 in eval mode vs 9.7 with that dropout kept
            // active), the same bias docs/reference.md §3 found for dropout on z. Off by default; available.
            funnel_dropout: 0.0,
            dropout_on_shared: false,
            rul_head: vec![64, 32, 16],
            health_head: vec![32, 16],
            n_classes: 3,
            rul_bias_init: 1.0,
        }
    }

    pub fn small(n_features: i64) -> Self {
        ModelConfig {
            conv_channels: vec![32, 64, 32],
            lstm_hidden: 64,
            attn_heads: 4,
            funnel: vec![64, 32],
            ..Self::paper(n_features)
        }
    }

    pub fn preset(name: &str, n_features: i64) -> Result<Self, String> {
        match name {
            "paper" => Ok(Self::paper(n_features)),
            "small" => Ok(Self::small(n_features)),
            other => Err(format!("unknown model preset '{other}': use 'paper' or 'small'")),
        }
    }

    pub fn validate(&self) -> Result<(), String> {
        let d = 2 * self.lstm_hidden;
        if self.conv_channels.is_empty() || self.funnel.is_empty() {
            return Err("conv_channels and funnel need at least one layer each".into());
        }
        if self.attn_heads <= 0 || d % self.attn_heads != 0 {
            return Err(format!(
                "attention width {d} (2 × lstm_hidden) is not divisible by attn_heads = {}",
                self.attn_heads
            ));
        }
        if self.conv_kernel % 2 == 0 {
            return Err(format!("conv_kernel must be odd to keep the window length, got {}", self.conv_kernel));
        }
        for (name, p) in [
            ("conv_dropout", self.conv_dropout),
            ("lstm_dropout", self.lstm_dropout),
            ("attn_dropout", self.attn_dropout),
            ("funnel_dropout", self.funnel_dropout),
        ] {
            if !(0.0..1.0).contains(&p) {
                return Err(format!("{name} must be in [0, 1), got {p}"));
            }
        }
        Ok(())
    }
}

/// Prefixes of the two task heads; every other trainable variable is shared.
pub const RUL_HEAD: &str = "rul_head.";
pub const HEALTH_HEAD: &str = "health_head.";

/// What a trainable variable belongs to, for per-task gradients and norms.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Group {
    Shared,
    RulHead,
    HealthHead,
}

pub fn group_of(name: &str) -> Group {
    if name.starts_with(RUL_HEAD) {
        Group::RulHead
    } else if name.starts_with(HEALTH_HEAD) {
        Group::HealthHead
    } else {
        Group::Shared
    }
}

struct ConvBlock {
    conv: nn::Conv1D,
    bn: nn::BatchNorm,
}

pub struct DualTaskModel {
    cfg: ModelConfig,
    convs: Vec<ConvBlock>,
    lstm_weights: Vec<Tensor>,
    in_proj_w: Tensor,
    in_proj_b: Tensor,
    out_proj: nn::Linear,
    attn_norm: nn::LayerNorm,
    funnel: Vec<nn::Linear>,
    rul_head: Vec<nn::Linear>,
    health_head: Vec<nn::Linear>,
}

/// Outputs of one forward pass: RUL predictions (B) and health logits (B, classes).
pub struct Output {
    pub rul: Tensor,
    pub logits: Tensor,
}

fn mlp(p: nn::Path, input: i64, widths: &[i64]) -> Vec<nn::Linear> {
    let mut layers = Vec::new();
    let mut d = input;
    for (i, &w) in widths.iter().enumerate() {
        layers.push(nn::linear(&p / i, d, w, Default::default()));
        d = w;
    }
    layers
}

impl DualTaskModel {
    /// Builds the model's variables under the root of `vs`, initialised as PyTorch initialises them.
    pub fn new(vs: &nn::Path, cfg: &ModelConfig) -> Self {
        let cnn = vs / "cnn";
        let mut convs = Vec::new();
        let mut c_in = cfg.n_features;
        for (i, &c) in cfg.conv_channels.iter().enumerate() {
            let conv = nn::conv1d(
                &cnn / format!("conv{i}"),
                c_in,
                c,
                cfg.conv_kernel,
                nn::ConvConfig { padding: cfg.conv_kernel / 2, ..Default::default() },
            );
            let bn = nn::batch_norm1d(&cnn / format!("bn{i}"), c, Default::default());
            convs.push(ConvBlock { conv, bn });
            c_in = c;
        }

        // PyTorch's nn.LSTM initialises every weight and bias from U(−1/√hidden, 1/√hidden).
        let k = 1.0 / (cfg.lstm_hidden as f64).sqrt();
        let u = Init::Uniform { lo: -k, up: k };
        // tch's LSTM module fixes its train flag at construction; the model needs train/eval per
        // call, so it keeps the flat weights (PyTorch's names and order) and calls Tensor::lstm.
        let lp = vs / "lstm";
        let mut lstm_weights = Vec::new();
        for layer in 0..cfg.lstm_layers {
            let input = if layer == 0 { c_in } else { 2 * cfg.lstm_hidden };
            for suffix in ["", "_reverse"] {
                let g = 4 * cfg.lstm_hidden;
                lstm_weights.push(lp.var(&format!("weight_ih_l{layer}{suffix}"), &[g, input], u));
                lstm_weights.push(lp.var(&format!("weight_hh_l{layer}{suffix}"), &[g, cfg.lstm_hidden], u));
                lstm_weights.push(lp.var(&format!("bias_ih_l{layer}{suffix}"), &[g], u));
                lstm_weights.push(lp.var(&format!("bias_hh_l{layer}{suffix}"), &[g], u));
            }
        }

        let d = 2 * cfg.lstm_hidden;
        let attn = vs / "attn";
        // nn.MultiheadAttention: Xavier-uniform packed in-projection, zero in/out biases.
        let xavier = (6.0 / (d + 3 * d) as f64).sqrt();
        let in_proj_w = attn.var("in_proj_weight", &[3 * d, d], Init::Uniform { lo: -xavier, up: xavier });
        let in_proj_b = attn.zeros("in_proj_bias", &[3 * d]);
        let out_proj = nn::linear(
            &attn / "out_proj",
            d,
            d,
            nn::LinearConfig { bs_init: Some(Init::Const(0.0)), ..Default::default() },
        );
        let attn_norm = nn::layer_norm(vs / "attn_norm", vec![d], Default::default());

        let funnel = mlp(vs / "funnel", d, &cfg.funnel);
        let z = *cfg.funnel.last().expect("validated: funnel is not empty");
        let mut rul_widths = cfg.rul_head.clone();
        rul_widths.push(1);
        let rul_head = mlp(vs / "rul_head", z, &rul_widths);
        let last = rul_head.last().expect("the RUL head has its output layer");
        if let Some(b) = &last.bs {
            tch::no_grad(|| {
                let _ = b.shallow_clone().fill_(cfg.rul_bias_init);
            });
        }
        let mut health_widths = cfg.health_head.clone();
        health_widths.push(cfg.n_classes);
        let health_head = mlp(vs / "health_head", z, &health_widths);

        DualTaskModel {
            cfg: cfg.clone(),
            convs,
            lstm_weights,
            in_proj_w,
            in_proj_b,
            out_proj,
            attn_norm,
            funnel,
            rul_head,
            health_head,
        }
    }

    pub fn config(&self) -> &ModelConfig {
        &self.cfg
    }

    /// The shared 32-d vector z for a batch `x` of shape (B, window, features).
    pub fn backbone(&self, x: &Tensor, train: bool) -> Tensor {
        let cfg = &self.cfg;
        let mut h = x.transpose(1, 2);
        for block in &self.convs {
            h = h.apply(&block.conv).apply_t(&block.bn, train).relu().dropout(cfg.conv_dropout, train);
        }
        let h = h.transpose(1, 2).contiguous();
        let (b, l) = (h.size()[0], h.size()[1]);
        let layers = 2 * cfg.lstm_layers;
        let h0 = Tensor::zeros([layers, b, cfg.lstm_hidden], (h.kind(), h.device()));
        let (seq, _, _) = h.lstm(
            &[&h0, &h0],
            &self.lstm_weights.iter().collect::<Vec<_>>(),
            true,
            cfg.lstm_layers,
            cfg.lstm_dropout,
            train,
            true,
            true,
        );

        // Only the last time step leaves the attention block (the funnel reads it alone), and a
        // post-norm block is position-wise after attention, so the query is the last step only:
        // the same numbers as full self-attention at a thirtieth of the query work.
        let d = 2 * cfg.lstm_hidden;
        let heads = cfg.attn_heads;
        let hd = d / heads;
        let w = self.in_proj_w.chunk(3, 0);
        let bias = self.in_proj_b.chunk(3, 0);
        let last = seq.narrow(1, l - 1, 1);
        let q = last.linear(&w[0], Some(&bias[0])).view([b, 1, heads, hd]).transpose(1, 2);
        let k = seq.linear(&w[1], Some(&bias[1])).view([b, l, heads, hd]).transpose(1, 2);
        let v = seq.linear(&w[2], Some(&bias[2])).view([b, l, heads, hd]).transpose(1, 2);
        let p = if train { cfg.attn_dropout } else { 0.0 };
        let a = Tensor::scaled_dot_product_attention::<Tensor>(&q, &k, &v, None, p, false, None, false);
        let a = a.transpose(1, 2).reshape([b, d]).apply(&self.out_proj);
        let mut z = (last.squeeze_dim(1) + a).apply(&self.attn_norm);

        let n = self.funnel.len();
        for (i, layer) in self.funnel.iter().enumerate() {
            z = z.apply(layer).relu();
            if i + 1 < n || cfg.dropout_on_shared {
                z = z.dropout(cfg.funnel_dropout, train);
            }
        }
        z
    }

    pub fn heads(&self, z: &Tensor) -> Output {
        let mut r = z.shallow_clone();
        for layer in &self.rul_head {
            r = r.apply(layer).relu();
        }
        let mut h = z.shallow_clone();
        let n = self.health_head.len();
        for (i, layer) in self.health_head.iter().enumerate() {
            h = h.apply(layer);
            if i + 1 < n {
                h = h.relu();
            }
        }
        Output { rul: r.squeeze_dim(1), logits: h }
    }

    pub fn forward_t(&self, x: &Tensor, train: bool) -> Output {
        self.heads(&self.backbone(x, train))
    }
}

/// Parameter counts, for `grace model` and the tests of docs/reference.md §3.
#[derive(Debug, Clone, Serialize)]
pub struct ParamCounts {
    pub total: i64,
    pub shared: i64,
    pub rul_head: i64,
    pub health_head: i64,
    pub blocks: Vec<(String, i64)>,
}

pub fn param_counts(vs: &nn::VarStore) -> ParamCounts {
    let mut c = ParamCounts { total: 0, shared: 0, rul_head: 0, health_head: 0, blocks: Vec::new() };
    for (name, t) in trainable(vs) {
        let n = t.numel() as i64;
        c.total += n;
        match group_of(&name) {
            Group::Shared => c.shared += n,
            Group::RulHead => c.rul_head += n,
            Group::HealthHead => c.health_head += n,
        }
        let block = match name.split('.').next().unwrap_or("") {
            "attn" | "attn_norm" => "attention",
            b => b,
        };
        match c.blocks.iter_mut().find(|(b, _)| b == block) {
            Some((_, m)) => *m += n,
            None => c.blocks.push((block.to_string(), n)),
        }
    }
    let order = ["cnn", "lstm", "attention", "funnel", "rul_head", "health_head"];
    c.blocks.sort_by_key(|(b, _)| order.iter().position(|o| o == b).unwrap_or(order.len()));
    c
}

/// Named trainable variables sorted by name: the fixed order used by gradients, optimizer and EMA.
pub fn trainable(vs: &nn::VarStore) -> Vec<(String, Tensor)> {
    let mut v: Vec<_> = vs.variables().into_iter().filter(|(_, t)| t.requires_grad()).collect();
    v.sort_by(|a, b| a.0.cmp(&b.0));
    v
}

/// Fraction of positive RUL outputs (docs/reference.md §3: a dead final ReLU never recovers), in eval mode.
pub fn positive_rul_fraction(model: &DualTaskModel, x: &Tensor) -> f64 {
    tch::no_grad(|| model.forward_t(x, false).rul.gt(0.0).to_kind(Kind::Double).mean(Kind::Double).double_value(&[]))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn counts(cfg: ModelConfig) -> ParamCounts {
        let vs = nn::VarStore::new(tch::Device::Cpu);
        let _m = DualTaskModel::new(&vs.root(), &cfg);
        param_counts(&vs)
    }

    #[test]
    fn paper_preset_has_the_reference_parameter_counts() {
        let c = counts(ModelConfig::paper(17));
        assert_eq!(c.total, 3_497_476);
        assert_eq!(c.shared, 3_491_104);
        assert_eq!(c.rul_head, 4_737);
        assert_eq!(c.health_head, 1_635);
        let b: std::collections::HashMap<_, _> = c.blocks.into_iter().collect();
        assert_eq!(b["cnn"], 53_184);
        assert_eq!(b["lstm"], 2_236_416);
        assert_eq!(b["attention"], 1_051_648);
        assert_eq!(b["funnel"], 149_856);
    }

    #[test]
    fn small_preset_has_the_reference_parameter_count() {
        assert_eq!(counts(ModelConfig::small(17)).total, 246_820);
    }

    #[test]
    fn output_shapes_and_live_rul_output() {
        tch::manual_seed(0);
        let vs = nn::VarStore::new(tch::Device::Cpu);
        let m = DualTaskModel::new(&vs.root(), &ModelConfig::small(17));
        let x = Tensor::randn([8, 30, 17], (Kind::Float, tch::Device::Cpu));
        let o = m.forward_t(&x, true);
        assert_eq!(o.rul.size(), vec![8]);
        assert_eq!(o.logits.size(), vec![8, 3]);
        // Bias 1.0 on the last RUL layer keeps the final ReLU alive at initialisation.
        let frac = positive_rul_fraction(&m, &x);
        let bias = vs.variables()["rul_head.3.bias"].double_value(&[0]);
        assert_eq!(bias, 1.0);
        assert!(frac > 0.5, "positive fraction {frac}, rul {:?}", o.rul);
    }

    #[test]
    fn last_query_attention_equals_full_self_attention_at_the_last_step() {
        tch::manual_seed(1);
        let (b, l, d, h) = (3i64, 7i64, 16i64, 4i64);
        let x = Tensor::randn([b, l, d], (Kind::Double, tch::Device::Cpu));
        let w = Tensor::randn([3 * d, d], (Kind::Double, tch::Device::Cpu));
        let ws = w.chunk(3, 0);
        let split = |t: Tensor, n: i64| t.view([b, n, h, d / h]).transpose(1, 2);
        let full = Tensor::scaled_dot_product_attention::<Tensor>(
            &split(x.linear::<Tensor>(&ws[0], None), l),
            &split(x.linear::<Tensor>(&ws[1], None), l),
            &split(x.linear::<Tensor>(&ws[2], None), l),
            None,
            0.0,
            false,
            None,
            false,
        )
        .transpose(1, 2)
        .reshape([b, l, d])
        .select(1, l - 1);
        let last = x.narrow(1, l - 1, 1);
        let one = Tensor::scaled_dot_product_attention::<Tensor>(
            &split(last.linear::<Tensor>(&ws[0], None), 1),
            &split(x.linear::<Tensor>(&ws[1], None), l),
            &split(x.linear::<Tensor>(&ws[2], None), l),
            None,
            0.0,
            false,
            None,
            false,
        )
        .transpose(1, 2)
        .reshape([b, d]);
        let diff = (full - one).abs().max().double_value(&[]);
        assert!(diff < 1e-12, "max difference {diff}");
    }
}
