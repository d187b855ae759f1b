//! The one error type of grace-core.
//! Every variant names the offending value so a message can be acted on without a debugger.

/// What can go wrong in the arithmetic: bad inputs, unknown names, unrestorable state.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum CoreError {
    /// Two inputs that must pair up element by element do not.
    #[error("{what}: expected {expected} value(s), got {got}")]
    Length { what: String, expected: usize, got: usize },
    /// A value outside its domain (negative, non-finite, out of range, empty).
    #[error("{what} must be {rule}, got {value}")]
    Invalid { what: String, value: String, rule: String },
    /// A method or controller name the registry does not know.
    #[error("unknown task-weighting method `{name}` (known: {known})")]
    UnknownMethod { name: String, known: String },
    /// A parameter name no registered method declares.
    #[error("unknown method parameter `{name}` (known: {known})")]
    UnknownParam { name: String, known: String },
    /// A controller that needs the task gradients' Gram matrix (or its norms) was stepped without it.
    #[error("controller `{0}` needs the per-task gradient norms (the Gram matrix) but the step gave none")]
    MissingGram(String),
    /// A serialised controller state that cannot be restored into this controller.
    #[error("cannot restore `{controller}` state: {why}")]
    Restore { controller: String, why: String },
}

impl CoreError {
    pub(crate) fn invalid(what: impl Into<String>, value: impl std::fmt::Display, rule: impl Into<String>) -> Self {
        CoreError::Invalid { what: what.into(), value: value.to_string(), rule: rule.into() }
    }

    pub(crate) fn length(what: impl Into<String>, expected: usize, got: usize) -> Self {
        CoreError::Length { what: what.into(), expected, got }
    }
}

/// Rejects NaN and ±∞, naming the element, because one NaN silently poisons every mean after it.
pub(crate) fn check_finite(what: &str, xs: &[f64]) -> Result<(), CoreError> {
    match xs.iter().position(|x| !x.is_finite()) {
        Some(i) => Err(CoreError::invalid(format!("{what}[{i}]"), xs[i], "finite")),
        None => Ok(()),
    }
}

pub(crate) fn check_same_len(what: &str, a: &[f64], b: &[f64]) -> Result<(), CoreError> {
    if a.len() != b.len() {
        return Err(CoreError::length(what, a.len(), b.len()));
    }
    if a.is_empty() {
        return Err(CoreError::invalid(what, "0 values", "non-empty"));
    }
    Ok(())
}
