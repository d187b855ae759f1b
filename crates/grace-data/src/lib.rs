//! C-MAPSS turbofan data for grace: reading NASA's files, validating them, and turning them into
//! normalised, labelled per-engine series from which training windows are gathered. No tensors here.
//!
//! # From files to training data
//!
//! ```no_run
//! use grace_data::{prepare, DataSource, PrepConfig, Subset};
//! let raw = DataSource::from_path("data/CMAPSSData.zip").load(Subset::FD001)?; // or a folder
//! let data = prepare(&raw, &PrepConfig::default())?;
//! let windows = data.train.windows();               // every stride-1 window of the training engines
//! let (mut x, mut rul, mut health) = (vec![], vec![], vec![]);
//! data.train.gather(&windows[..256], &mut x, &mut rul, &mut health); // x: 256 × 30 × 17
//! let last = data.test.last_windows();              // one per test engine; truth: data.test_truth_uncapped
//! # Ok::<(), grace_data::DataError>(())
//! ```
//!
//! Without NASA's files, `synthetic::fleet(&SyntheticConfig::default())` returns a `RawSubset`
//! named "SYNTHETIC" that goes through `prepare` the same way. A trained model should keep
//! `data.preprocessing` (serde) and call `Preprocessing::apply` on new engines.
//!
//! Modules: [`parse`] (text → [`RawEngine`]), [`source`] (folder / zip), [`prep`] (SPEC §2
//! pipeline), [`split`] (windows), [`summary`], [`synthetic`], [`fetch`] (download from NASA).

pub mod error;
pub mod fetch;
pub mod kmeans;
pub mod parse;
pub mod prep;
pub mod source;
pub mod split;
pub mod subset;
pub mod summary;
pub mod synthetic;

pub use error::DataError;
pub use parse::{parse_data, parse_rul, write_data, write_rul, RawEngine, RawSubset};
pub use prep::{prepare, FeatureSet, HealthThresholds, PrepConfig, Prepared, Preprocessing, KEPT_SENSORS};
pub use source::DataSource;
pub use split::{Engine, Split, WindowRef};
pub use subset::{Subset, CANONICAL_REGIMES};
pub use summary::{summary, Summary};
pub use synthetic::SyntheticConfig;
