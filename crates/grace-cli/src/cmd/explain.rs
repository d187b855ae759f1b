//! `grace explain`: the GRACE loss of one mini-batch worked through like a paper's example,
//! from per-sample weights to the composed loss and what it converges to.

use anyhow::Context;
use grace_core::controller::gaba;
use grace_core::explain::{explain, plain_number as num, ExplainInput, Explanation};
use grace_core::{GabaConfig, Slope, WeightedMse};

#[derive(clap::Args)]
pub struct Args {
    /// True RUL of each sample (≥ 0), comma-separated.
    #[arg(long, value_delimiter = ',', required = true, allow_hyphen_values = true)]
    y_true: Vec<f64>,
    /// Predicted RUL of each sample (any finite number), comma-separated, same length as --y-true.
    #[arg(long, value_delimiter = ',', required = true, allow_hyphen_values = true)]
    y_pred: Vec<f64>,
    /// Gradient norm of the RUL loss on the shared parameters.
    #[arg(long, allow_negative_numbers = true)]
    g_rul: f64,
    /// Gradient norm of the health loss on the shared parameters.
    #[arg(long, allow_negative_numbers = true)]
    g_health: f64,
    /// Health cross-entropy of the batch.
    #[arg(long, allow_negative_numbers = true)]
    l_health: f64,
    /// EMA factor β.
    #[arg(long, default_value_t = gaba::BETA.default.float())]
    beta: f64,
    /// Floor ε on each task weight (below 1/K = 0.5 for the two tasks).
    #[arg(long, default_value_t = gaba::FLOOR.default.float())]
    floor: f64,
    /// RUL cap R_max of the sample weights.
    #[arg(long, default_value_t = 125.0)]
    max_rul: f64,
    /// Weighted-MSE slope s: a number or mild (0.5), moderate (1), steep (2).
    #[arg(long, default_value = "1", value_parser = parse_slope)]
    slope: f64,
    /// EMA of (rul, health) before the first step.
    #[arg(long, value_delimiter = ',', default_value = "0.5,0.5", allow_hyphen_values = true)]
    prev: Vec<f64>,
    /// Number of identical controller steps to take from --prev.
    #[arg(long, default_value_t = 1)]
    steps: u64,
    /// Machine-readable output.
    #[arg(long)]
    json: bool,
}

fn parse_slope(s: &str) -> Result<f64, String> {
    match Slope::from_name(s) {
        Ok(named) => Ok(named.value()),
        Err(_) => s.parse::<f64>().map_err(|_| format!("`{s}` is neither a number nor one of mild, moderate, steep")),
    }
}

pub fn run(a: Args) -> anyhow::Result<()> {
    anyhow::ensure!(a.prev.len() == 2, "--prev needs 2 values (rul, health), got {}", a.prev.len());
    let wmse = WeightedMse::new(a.slope, a.max_rul).context("invalid --slope or --max-rul")?;
    let gaba = GabaConfig { beta: a.beta, floor: a.floor, warmup: 0 };
    gaba.validate().context("invalid --beta or --floor")?;
    let input = ExplainInput {
        y_true: a.y_true,
        y_pred: a.y_pred,
        grad_norms: [a.g_rul, a.g_health],
        l_health: a.l_health,
        wmse,
        gaba,
        prev: [a.prev[0], a.prev[1]],
        steps: a.steps,
    };
    let e = explain(&input)?;
    if a.json {
        let mut v = serde_json::to_value(&e)?;
        v["params"] = serde_json::json!({
            "slope": wmse.slope, "max_rul": wmse.r_max, "beta": gaba.beta, "floor": gaba.floor,
            "prev": input.prev, "steps": input.steps,
        });
        println!("{}", serde_json::to_string_pretty(&v)?);
    } else {
        print!("{}", render(&input, &e));
    }
    Ok(())
}

fn pair(v: &[f64]) -> String {
    format!("(rul {:.6}, health {:.6})", v[0], v[1])
}

fn render(inp: &ExplainInput, e: &Explanation) -> String {
    use std::fmt::Write;
    let mut o = String::new();
    let n = e.samples.len();
    let (s, rmax) = (num(inp.wmse.slope), num(inp.wmse.r_max));
    let (beta, eps) = (num(inp.gaba.beta), num(inp.gaba.floor));
    let _ = writeln!(o, "GRACE loss for one mini-batch of {n} sample(s)\n");
    let _ = writeln!(o, "1. Sample weights  w(y) = 1 + s·clip(1 − y/R_max, 0, 1)   with s = {s}, R_max = {rmax}\n");
    let _ = writeln!(
        o,
        "   {:>3} {:>10} {:>10} {:>10} {:>12} {:>8} {:>12}",
        "j", "y", "ŷ", "r = ŷ − y", "r²", "w(y)", "w·r²"
    );
    for (j, t) in e.samples.iter().enumerate() {
        let _ = writeln!(
            o,
            "   {:>3} {:>10.3} {:>10.3} {:>10.3} {:>12.3} {:>8.4} {:>12.4}",
            j + 1,
            t.y,
            t.y_hat,
            t.residual,
            t.residual_sq,
            t.weight,
            t.weighted
        );
    }
    let sum_w: f64 = e.samples.iter().map(|t| t.weighted).sum();
    let sum_r: f64 = e.samples.iter().map(|t| t.residual_sq).sum();
    let _ = writeln!(o, "\n2. RUL loss (a plain mean over the batch, not divided by Σw)");
    let _ = writeln!(o, "   weighted MSE  L_rul = Σ w·r² / n = {sum_w:.4} / {n} = {:.6}", e.wmse);
    // A perfect batch has no error to weight: 0/0 would print NaN.
    let factor = if e.mse > 0.0 { format!("   (weighting ×{:.4})", e.wmse / e.mse) } else { String::new() };
    let _ = writeln!(o, "   plain MSE           = Σ r² / n   = {sum_r:.4} / {n} = {:.6}{factor}", e.mse);
    let (gr, gh) = (num(e.grad_norms[0]), num(e.grad_norms[1]));
    let sum_g = num(e.grad_norms[0] + e.grad_norms[1]);
    let _ = writeln!(
        o,
        "\n3. Task weights (GABA past its warm-up)   g_rul = {gr}, g_health = {gh}, ratio g_max/g_min = {:.4}",
        e.ratio
    );
    let _ = writeln!(
        o,
        "   raw      raw_i = (S − g_i)/((K − 1)·S), S = {sum_g}:  raw_rul = g_health/S, raw_health = g_rul/S"
    );
    let _ = writeln!(o, "            raw     = {}", pair(&e.lambda.raw));
    let _ = writeln!(
        o,
        "   EMA      ema ← β·ema + (1 − β)·raw, β = {beta}, {} step(s) from prev = ({}, {})",
        inp.steps,
        num(inp.prev[0]),
        num(inp.prev[1])
    );
    let _ = writeln!(o, "            ema     = {}", pair(&e.lambda.ema));
    let _ = writeln!(o, "   floor    f_i = max(ema_i, ε), ε = {eps}");
    let _ = writeln!(o, "            floored = {}", pair(&e.lambda.floored));
    let _ = writeln!(o, "   final    λ*_i = f_i / Σ_k f_k, Σf = {:.6}", e.lambda.floored.iter().sum::<f64>());
    let _ = writeln!(o, "            λ*      = {}", pair(&e.lambda.final_));
    let l = &e.lambda.final_;
    let _ = writeln!(o, "\n4. Composed loss  L = λ*_rul·L_rul + λ*_health·L_health");
    let _ = writeln!(
        o,
        "   L = {:.6}·{:.6} + {:.6}·{} = {:.6} + {:.6} = {:.6}",
        l[0],
        e.wmse,
        l[1],
        num(e.l_health),
        l[0] * e.wmse,
        l[1] * e.l_health,
        e.loss
    );
    let c = &e.converged.lambda;
    let _ = writeln!(o, "\n5. Converged controller (ema → raw as n → ∞, then floor and renormalise)");
    let _ = writeln!(o, "   λ*∞ = {}", pair(c));
    let _ =
        writeln!(o, "   L∞  = {:.6}·{:.6} + {:.6}·{} = {:.6}", c[0], e.wmse, c[1], num(e.l_health), e.converged.loss);
    o
}
