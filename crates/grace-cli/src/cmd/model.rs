//! `grace model`: the layer table and parameter counts of a preset (total, shared, per head).

use grace_nn::model::{param_counts, DualTaskModel, ModelConfig};

#[derive(clap::Args)]
pub struct Args {
    /// `paper` or `small`.
    #[arg(long, default_value = "paper")]
    preset: String,
    /// Input features: 17 or 14.
    #[arg(long, default_value_t = 17, value_parser = clap::value_parser!(i64).range(1..))]
    features: i64,
    #[arg(long)]
    json: bool,
}

pub fn run(a: Args) -> anyhow::Result<()> {
    let cfg = ModelConfig::preset(&a.preset, a.features).map_err(anyhow::Error::msg)?;
    let vs = tch::nn::VarStore::new(tch::Device::Cpu);
    let _model = DualTaskModel::new(&vs.root(), &cfg);
    let c = param_counts(&vs);
    if a.json {
        println!(
            "{}",
            serde_json::json!({
                "preset": a.preset, "features": a.features, "config": cfg,
                "parameters": {"total": c.total, "shared": c.shared, "rul_head": c.rul_head, "health_head": c.health_head,
                               "blocks": c.blocks.iter().map(|(b, n)| serde_json::json!({"block": b, "parameters": n})).collect::<Vec<_>>()}
            })
        );
        return Ok(());
    }
    let d = 2 * cfg.lstm_hidden;
    let convs = cfg.conv_channels.iter().map(|c| c.to_string()).collect::<Vec<_>>().join(" → ");
    let funnel = cfg.funnel.iter().map(|c| c.to_string()).collect::<Vec<_>>().join(" → ");
    let rows: Vec<(&str, String)> = vec![
        (
            "cnn",
            format!(
                "{} × [Conv1d k{} → BatchNorm → ReLU → Dropout {}]: {} → {convs}",
                cfg.conv_channels.len(),
                cfg.conv_kernel,
                cfg.conv_dropout,
                a.features
            ),
        ),
        (
            "lstm",
            format!(
                "BiLSTM {} layers, hidden {} per direction, dropout {} → ({}, {d})",
                cfg.lstm_layers, cfg.lstm_hidden, cfg.lstm_dropout, cfg.window
            ),
        ),
        (
            "attention",
            format!(
                "{}-head self-attention over {d}, residual + LayerNorm, dropout {}",
                cfg.attn_heads, cfg.attn_dropout
            ),
        ),
        (
            "funnel",
            format!(
                "last step {d} → {funnel} (ReLU, dropout {}{})",
                cfg.funnel_dropout,
                if cfg.dropout_on_shared { ", also on z" } else { ", none on z" }
            ),
        ),
        (
            "rul_head",
            format!(
                "{} → {} → 1, ReLU after every layer (last bias {})",
                cfg.funnel.last().unwrap_or(&0),
                cfg.rul_head.iter().map(|c| c.to_string()).collect::<Vec<_>>().join(" → "),
                cfg.rul_bias_init
            ),
        ),
        (
            "health_head",
            format!(
                "{} → {} → {} logits",
                cfg.funnel.last().unwrap_or(&0),
                cfg.health_head.iter().map(|c| c.to_string()).collect::<Vec<_>>().join(" → "),
                cfg.n_classes
            ),
        ),
    ];
    println!("model preset '{}' with {} input features, window {}", a.preset, a.features, cfg.window);
    println!("{:<12} {:>11}  layers", "block", "parameters");
    for (block, text) in rows {
        let n = c.blocks.iter().find(|(b, _)| b == block).map(|(_, n)| *n).unwrap_or(0);
        println!("{block:<12} {n:>11}  {text}");
    }
    println!("{:<12} {:>11}", "total", c.total);
    println!("{:<12} {:>11}  (everything outside the two heads)", "shared", c.shared);
    Ok(())
}
