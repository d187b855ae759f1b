//! Prepared engines (normalised features + per-cycle targets) and the windows cut from them.
//! This is the contract between the data pipeline and the trainer: batches are gathered from here.

use serde::{Deserialize, Serialize};

/// One engine after preprocessing: features are normalised, targets already capped and labelled.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Engine {
    /// Unit id as in the source file.
    pub unit: u32,
    /// Row-major `n_cycles × n_features`.
    pub features: Vec<f32>,
    /// Capped RUL target per cycle.
    pub rul: Vec<f32>,
    /// Health class per cycle (0 normal, 1 degrading, 2 critical).
    pub health: Vec<u8>,
    /// Operating-condition index per cycle.
    pub condition: Vec<u8>,
}

impl Engine {
    pub fn n_cycles(&self) -> usize {
        self.rul.len()
    }
}

/// A window is identified by its engine and the index of its last cycle; targets are the last cycle's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct WindowRef {
    pub engine: u32,
    pub end: u32,
}

/// A set of engines sharing one feature layout and window length.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Split {
    pub engines: Vec<Engine>,
    pub n_features: usize,
    pub window: usize,
}

impl Split {
    /// Every full window (stride 1): an engine of n cycles yields `n − window + 1` windows.
    pub fn windows(&self) -> Vec<WindowRef> {
        let w = self.window;
        let mut out = Vec::new();
        for (e, eng) in self.engines.iter().enumerate() {
            let n = eng.n_cycles();
            if n >= w {
                out.extend((w - 1..n).map(|end| WindowRef { engine: e as u32, end: end as u32 }));
            }
        }
        out
    }

    /// One window per engine, ending at its last cycle (engines shorter than the window are
    /// front-padded by repeating their first cycle when gathered).
    pub fn last_windows(&self) -> Vec<WindowRef> {
        self.engines
            .iter()
            .enumerate()
            .filter(|(_, e)| e.n_cycles() > 0)
            .map(|(e, eng)| WindowRef { engine: e as u32, end: (eng.n_cycles() - 1) as u32 })
            .collect()
    }

    /// Copies the windows into `x` (`len × window × n_features`, row-major) and their targets.
    /// Cycles before the engine's first are replaced by the first cycle (front padding).
    pub fn gather(&self, refs: &[WindowRef], x: &mut Vec<f32>, rul: &mut Vec<f32>, health: &mut Vec<i64>) {
        let (w, f) = (self.window, self.n_features);
        x.clear();
        rul.clear();
        health.clear();
        x.reserve(refs.len() * w * f);
        for r in refs {
            let eng = &self.engines[r.engine as usize];
            let end = r.end as i64;
            for t in (end - w as i64 + 1)..=end {
                let c = t.max(0) as usize;
                x.extend_from_slice(&eng.features[c * f..(c + 1) * f]);
            }
            rul.push(eng.rul[r.end as usize]);
            health.push(eng.health[r.end as usize] as i64);
        }
    }

    pub fn n_windows(&self) -> usize {
        self.engines.iter().map(|e| e.n_cycles().saturating_sub(self.window - 1)).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn engine(unit: u32, n: usize, f: usize) -> Engine {
        Engine {
            unit,
            features: (0..n * f).map(|i| i as f32).collect(),
            rul: (0..n).map(|c| (n - 1 - c) as f32).collect(),
            health: vec![0; n],
            condition: vec![0; n],
        }
    }

    #[test]
    fn windows_count_is_cycles_minus_window_plus_one() {
        let s = Split { engines: vec![engine(1, 5, 2), engine(2, 3, 2), engine(3, 2, 2)], n_features: 2, window: 3 };
        // 5 − 2 = 3 windows, 3 − 2 = 1, the 2-cycle engine none.
        assert_eq!(s.windows().len(), 4);
        assert_eq!(s.n_windows(), 4);
        assert_eq!(s.windows()[0], WindowRef { engine: 0, end: 2 });
    }

    #[test]
    fn gather_front_pads_short_engines_with_first_cycle() {
        let s = Split { engines: vec![engine(7, 2, 2)], n_features: 2, window: 3 };
        let (mut x, mut r, mut h) = (vec![], vec![], vec![]);
        s.gather(&s.last_windows(), &mut x, &mut r, &mut h);
        // cycles: [0,1], [2,3]; window of 3 ending at cycle 1 → [c0, c0, c1].
        assert_eq!(x, vec![0., 1., 0., 1., 2., 3.]);
        assert_eq!(r, vec![0.]);
    }
}
