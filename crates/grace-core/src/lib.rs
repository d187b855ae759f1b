//! The method core of grace: failure-biased weighted MSE, task-weighting controllers (GABA and fixed
//! weights) behind one trait, evaluation metrics and the method-choice rules. Pure arithmetic, no tensors.

pub mod conformal;
pub mod controller;
pub mod error;
pub mod explain;
pub mod io;
pub mod lock;
pub mod methods;
pub mod metrics;
pub mod results;
pub mod rules;
pub mod rundir;
pub mod selection;
pub mod simulate;
pub mod wmse;

pub use controller::{Fixed, Gaba, GabaConfig, Gram, Needs, StepInput, StepRecord, TaskWeighting};
pub use error::CoreError;
pub use methods::{method, Method, ParamValue, ParamValues, METHODS};
pub use metrics::{accuracy, confusion_matrix, f1_per_class, macro_f1, mae, mean_std, nasa_score, rmse, EvalMetrics};
pub use rules::{recommend, CostShape, Recommendation};
pub use wmse::{mse, Slope, WeightedMse};
