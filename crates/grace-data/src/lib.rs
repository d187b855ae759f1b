//! Run-to-failure engine data for grace: reading data sets through a [`Schema`], validating them,
//! and turning them into normalised, labelled per-engine series from which windows are gathered.
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
//! Code that does not care which data set it reads goes through a [`Source`]: a run config's
//! `data.source` string parses into a [`DataSpec`] (`synthetic` or a C-MAPSS path), whose
//! `open(..)` gives the source, and `load_subset(name)` a [`RawSubset`]. The synthetic fleet
//! (`synthetic::fleet`) is named "SYNTHETIC" and goes through `prepare` the same way. A trained
//! model should keep `data.preprocessing` (serde; `Preprocessing::load` reads it back checked) and
//! call `Preprocessing::apply` on new engines.
//!
//! Modules: [`schema`] (column layout, row storage), [`parse`] (text → [`RawEngine`]), [`source`]
//! (C-MAPSS folder / zip, synthetic fleet), [`prep`] (docs/reference.md §2 pipeline), [`split`]
//! (windows), [`truncate`] (test-like cuts of training engines), [`inference`] (conditions and
//! fault modes from the data), [`summary`](mod@summary), [`fetch`].

pub mod error;
pub mod fetch;
pub mod inference;
pub mod kmeans;
pub mod parse;
pub mod prep;
pub mod schema;
pub mod source;
pub mod split;
pub mod subset;
pub mod summary;
pub mod truncate;

pub use error::DataError;
pub use parse::{parse_data, parse_rows, parse_rul, write_data, write_rows, write_rul, RawEngine, RawSubset};
pub use prep::{prepare, EngineSplit, FeatureSet, HealthThresholds, PrepConfig, Prepared, Preprocessing};
pub use schema::{Column, Role, Rows, Schema};
pub use source::cmapss::KEPT_SENSORS;
pub use source::synthetic::{self, SyntheticConfig};
pub use source::{DataSource, DataSpec, Source};
pub use split::{Engine, Split, WindowRef};
pub use subset::{Subset, CANONICAL_REGIMES};
pub use summary::{summary, Summary};
