//! The column layout of a run-to-failure data set: engine and cycle columns, named operating
//! settings, named sensors and an optional per-row RUL, plus the flat row storage sized by it.

use crate::error::DataError;
use serde::{Deserialize, Serialize};
use std::ops::Index;

/// What a column holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Engine id: rows of one engine are contiguous and ids ascend.
    Unit,
    /// Time in cycles, 1, 2, 3, … within each engine.
    Cycle,
    /// Operating setting: clustered into operating conditions, optionally a model input.
    Setting,
    /// Sensor: normalised per condition; the schema's `model_sensors` are model inputs.
    Sensor,
    /// Remaining useful life after this row, when the data set records it per row.
    Rul,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Column {
    pub name: String,
    pub role: Role,
    /// Physical unit where the number is not self-explanatory (e.g. "kft"); shown in summaries.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unit: Option<String>,
}

impl Column {
    pub fn new(name: &str, role: Role) -> Self {
        Column { name: name.to_string(), role, unit: None }
    }

    pub fn with_unit(mut self, unit: &str) -> Self {
        self.unit = Some(unit.to_string());
        self
    }

    /// `name_unit` (e.g. `altitude_kft`), or the bare name when there is no unit.
    pub fn key(&self) -> String {
        match &self.unit {
            Some(u) => format!("{}_{u}", self.name),
            None => self.name.clone(),
        }
    }
}

/// The columns of a data set in file order, and which sensors the model reads. Settings and
/// sensors keep their file order; a row's features are addressed in `[settings, sensors]` order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Schema {
    /// Data-set family, e.g. "C-MAPSS".
    pub name: String,
    pub columns: Vec<Column>,
    /// Sensors fed to the model, by name, in feature order; the others are read and checked only.
    pub model_sensors: Vec<String>,
}

impl Schema {
    /// A checked schema: one unit and one cycle column, at most one RUL column, unique names,
    /// and model sensors that are sensors of this schema.
    pub fn new(name: &str, columns: Vec<Column>, model_sensors: Vec<String>) -> Result<Self, DataError> {
        let s = Schema { name: name.to_string(), columns, model_sensors };
        s.check()?;
        Ok(s)
    }

    pub(crate) fn check(&self) -> Result<(), DataError> {
        let bad = |m: String| Err(DataError::Config(format!("schema {}: {m}", self.name)));
        let count = |r: Role| self.columns.iter().filter(|c| c.role == r).count();
        if count(Role::Unit) != 1 || count(Role::Cycle) != 1 {
            return bad("needs exactly one unit and one cycle column".into());
        }
        if count(Role::Rul) > 1 {
            return bad("has more than one RUL column".into());
        }
        for (i, c) in self.columns.iter().enumerate() {
            if self.columns[..i].iter().any(|d| d.name == c.name) {
                return bad(format!("column `{}` appears twice", c.name));
            }
        }
        for (i, m) in self.model_sensors.iter().enumerate() {
            if self.sensor_index(m).is_none() {
                return bad(format!("model sensor `{m}` is not a sensor column"));
            }
            if self.model_sensors[..i].contains(m) {
                return bad(format!("model sensor `{m}` is listed twice"));
            }
        }
        Ok(())
    }

    pub fn n_columns(&self) -> usize {
        self.columns.len()
    }

    fn with_role(&self, role: Role) -> impl Iterator<Item = &Column> {
        self.columns.iter().filter(move |c| c.role == role)
    }

    /// Setting columns in file order.
    pub fn settings(&self) -> impl Iterator<Item = &Column> {
        self.with_role(Role::Setting)
    }

    /// Sensor columns in file order.
    pub fn sensors(&self) -> impl Iterator<Item = &Column> {
        self.with_role(Role::Sensor)
    }

    pub fn n_settings(&self) -> usize {
        self.settings().count()
    }

    pub fn n_sensors(&self) -> usize {
        self.sensors().count()
    }

    pub fn has_rul(&self) -> bool {
        self.with_role(Role::Rul).next().is_some()
    }

    pub fn column(&self, name: &str) -> Option<&Column> {
        self.columns.iter().find(|c| c.name == name)
    }

    /// Position of a setting among the settings.
    pub fn setting_index(&self, name: &str) -> Option<usize> {
        self.settings().position(|c| c.name == name)
    }

    /// Position of a sensor among the sensors (sensor k of C-MAPSS is index k − 1).
    pub fn sensor_index(&self, name: &str) -> Option<usize> {
        self.sensors().position(|c| c.name == name)
    }

    /// Feature name of position `i` of a `[settings, sensors]` row: a setting's own name, or
    /// `s{k}_{name}` for sensor k (1-based), so sensors read the same across data sets.
    pub fn feature_name(&self, i: usize) -> String {
        let ns = self.n_settings();
        if i < ns {
            self.settings().nth(i).map(|c| c.name.clone()).unwrap_or_default()
        } else {
            let k = i - ns;
            self.sensors().nth(k).map(|c| format!("s{}_{}", k + 1, c.name)).unwrap_or_default()
        }
    }

    /// Positions in a `[settings, sensors]` row of the named features (see [`Schema::feature_name`]).
    pub fn feature_columns(&self, names: &[String]) -> Result<Vec<usize>, DataError> {
        let all: Vec<String> = (0..self.n_settings() + self.n_sensors()).map(|i| self.feature_name(i)).collect();
        names
            .iter()
            .map(|n| {
                all.iter().position(|a| a == n).ok_or_else(|| {
                    DataError::Config(format!("feature `{n}` is not a setting or sensor of the {} schema", self.name))
                })
            })
            .collect()
    }
}

/// Rows of equal width stored flat, row-major: one engine's settings or sensors.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(try_from = "RowsData", into = "RowsData")]
pub struct Rows {
    width: usize,
    len: usize,
    values: Vec<f64>,
}

impl Rows {
    pub fn new(width: usize) -> Self {
        Rows { width, len: 0, values: Vec::new() }
    }

    pub fn with_capacity(width: usize, rows: usize) -> Self {
        Rows { width, len: 0, values: Vec::with_capacity(width * rows) }
    }

    /// Appends one row; it must be `width` long.
    pub fn push(&mut self, row: &[f64]) {
        assert_eq!(row.len(), self.width, "row of {} values pushed into rows of width {}", row.len(), self.width);
        self.values.extend_from_slice(row);
        self.len += 1;
    }

    pub fn width(&self) -> usize {
        self.width
    }

    /// Number of rows.
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    pub fn row(&self, i: usize) -> &[f64] {
        assert!(i < self.len, "row {i} of {}", self.len);
        &self.values[i * self.width..(i + 1) * self.width]
    }

    pub fn iter(&self) -> impl Iterator<Item = &[f64]> + '_ {
        let w = self.width;
        (0..self.len).map(move |i| &self.values[i * w..(i + 1) * w])
    }

    /// All values, row after row.
    pub fn values(&self) -> &[f64] {
        &self.values
    }

    /// Keeps the first `rows` rows (all of them when there are fewer).
    pub fn truncate(&mut self, rows: usize) {
        self.len = self.len.min(rows);
        self.values.truncate(self.len * self.width);
    }

    pub fn shrink_to_fit(&mut self) {
        self.values.shrink_to_fit();
    }
}

impl Index<usize> for Rows {
    type Output = [f64];

    fn index(&self, i: usize) -> &[f64] {
        self.row(i)
    }
}

impl<const N: usize> From<Vec<[f64; N]>> for Rows {
    fn from(rows: Vec<[f64; N]>) -> Self {
        let len = rows.len();
        Rows { width: N, len, values: rows.into_iter().flatten().collect() }
    }
}

/// The serialised form of [`Rows`], checked on the way in so a file cannot break the invariant.
#[derive(Serialize, Deserialize)]
struct RowsData {
    width: usize,
    len: usize,
    values: Vec<f64>,
}

impl From<Rows> for RowsData {
    fn from(r: Rows) -> Self {
        RowsData { width: r.width, len: r.len, values: r.values }
    }
}

impl TryFrom<RowsData> for Rows {
    type Error = String;

    fn try_from(d: RowsData) -> Result<Self, String> {
        if d.width.checked_mul(d.len) != Some(d.values.len()) {
            return Err(format!("{} values do not fill {} rows of width {}", d.values.len(), d.len, d.width));
        }
        Ok(Rows { width: d.width, len: d.len, values: d.values })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tiny() -> Schema {
        let cols = vec![
            Column::new("engine", Role::Unit),
            Column::new("t", Role::Cycle),
            Column::new("load", Role::Setting).with_unit("kN"),
            Column::new("a", Role::Sensor),
            Column::new("speed", Role::Setting),
            Column::new("b", Role::Sensor),
        ];
        Schema::new("tiny", cols, vec!["b".into()]).unwrap()
    }

    #[test]
    fn columns_are_found_by_name_in_file_order_within_their_role() {
        let s = tiny();
        assert_eq!((s.n_columns(), s.n_settings(), s.n_sensors(), s.has_rul()), (6, 2, 2, false));
        assert_eq!((s.setting_index("speed"), s.sensor_index("b"), s.sensor_index("load")), (Some(1), Some(1), None));
        assert_eq!(s.column("load").unwrap().key(), "load_kN");
        assert_eq!(s.column("speed").unwrap().key(), "speed");
        // Row positions: [load, speed, a, b].
        assert_eq!((0..4).map(|i| s.feature_name(i)).collect::<Vec<_>>(), ["load", "speed", "s1_a", "s2_b"]);
        assert_eq!(s.feature_columns(&["s2_b".into(), "load".into()]).unwrap(), [3, 0]);
        let e = s.feature_columns(&["s3_c".into()]).unwrap_err().to_string();
        assert!(e.contains("feature `s3_c`") && e.contains("tiny"), "{e}");
    }

    #[test]
    fn malformed_schemas_are_refused_with_the_reason() {
        let unit = Column::new("u", Role::Unit);
        let cycle = Column::new("c", Role::Cycle);
        let err = |cols: Vec<Column>, model: &[&str]| {
            Schema::new("x", cols, model.iter().map(|m| m.to_string()).collect()).unwrap_err().to_string()
        };
        assert!(err(vec![unit.clone()], &[]).contains("exactly one unit and one cycle"));
        let twice = vec![unit.clone(), cycle.clone(), Column::new("u", Role::Sensor)];
        assert!(err(twice, &[]).contains("`u` appears twice"));
        let s = Column::new("s", Role::Sensor);
        assert!(err(vec![unit.clone(), cycle.clone(), s.clone()], &["t"]).contains("`t` is not a sensor"));
        assert!(err(vec![unit, cycle, s], &["s", "s"]).contains("listed twice"));
    }

    #[test]
    fn rows_index_like_arrays_and_check_their_serialised_shape() {
        let r: Rows = vec![[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]].into();
        assert_eq!((r.len(), r.width()), (3, 2));
        assert_eq!(r[1], [3.0, 4.0]);
        assert_eq!(r.iter().map(|x| x[0]).sum::<f64>(), 9.0);
        let mut t = r.clone();
        t.truncate(2);
        assert_eq!((t.len(), t.values()), (2, &[1.0, 2.0, 3.0, 4.0][..]));
        t.truncate(5);
        assert_eq!(t.len(), 2);
        let json = serde_json::to_string(&r).unwrap();
        assert_eq!(serde_json::from_str::<Rows>(&json).unwrap(), r);
        let bad = r#"{"width":2,"len":3,"values":[1.0]}"#;
        assert!(serde_json::from_str::<Rows>(bad).unwrap_err().to_string().contains("do not fill 3 rows"));
    }
}
