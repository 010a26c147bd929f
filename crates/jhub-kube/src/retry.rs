//! Create and delete calls with KubeSpawner's retry rule: each attempt
//! bounded by `k8s_api_request_timeout`, transient failures (5xx, 429,
//! transport errors, attempt timeouts) retried with a delay starting at
//! 0.2 s and doubling up to 5 s, until the overall budget ends. Other
//! answers (404, 409, 403, 422...) go straight back to the caller, who
//! knows what they mean for its step.

use std::future::Future;
use std::time::Duration;
use tokio::time::Instant;

/// One API call's failure, in terms the spawner decides on.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum CallError {
    /// The API server answered with a Status.
    Status { code: u16, reason: String, message: String },
    /// No answer: connection, TLS or decoding trouble.
    Transport(String),
    /// The attempt took longer than the per-request timeout.
    TimedOut(Duration),
}

impl CallError {
    pub(crate) fn code(&self) -> Option<u16> {
        match self {
            CallError::Status { code, .. } => Some(*code),
            _ => None,
        }
    }

    fn transient(&self) -> bool {
        match self {
            CallError::Status { code, .. } => *code >= 500 || *code == 429,
            CallError::Transport(_) | CallError::TimedOut(_) => true,
        }
    }
}

impl std::fmt::Display for CallError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CallError::Status { code, reason, message } => write!(f, "HTTP {code} {reason}: {message}"),
            CallError::Transport(message) => write!(f, "no answer from the API server: {message}"),
            CallError::TimedOut(limit) => write!(f, "no answer within {} s", limit.as_secs_f64()),
        }
    }
}

impl From<kube::Error> for CallError {
    fn from(err: kube::Error) -> Self {
        match err {
            kube::Error::Api(status) => {
                CallError::Status { code: status.code, reason: status.reason.clone(), message: status.message.clone() }
            }
            other => CallError::Transport(other.to_string()),
        }
    }
}

/// A call that gave up: the last error and how many attempts were made.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Failed {
    pub(crate) error: CallError,
    pub(crate) attempts: u32,
}

impl std::fmt::Display for Failed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.attempts > 1 {
            write!(f, "{} (gave up after {} attempts)", self.error, self.attempts)
        } else {
            self.error.fmt(f)
        }
    }
}

/// Retry budget of one call.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Budget {
    /// No attempt starts after this.
    pub(crate) until: Instant,
    /// Bound on one attempt.
    pub(crate) per_attempt: Duration,
}

const FIRST_DELAY: Duration = Duration::from_millis(200);
const MAX_DELAY: Duration = Duration::from_secs(5);

pub(crate) async fn call<T, F, Fut>(budget: Budget, mut attempt: F) -> Result<T, Failed>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = kube::Result<T>>,
{
    let mut delay = FIRST_DELAY;
    let mut attempts = 0;
    loop {
        attempts += 1;
        let error = match tokio::time::timeout(budget.per_attempt, attempt()).await {
            Ok(Ok(value)) => return Ok(value),
            Ok(Err(err)) => CallError::from(err),
            Err(_) => CallError::TimedOut(budget.per_attempt),
        };
        if !error.transient() || Instant::now() + delay >= budget.until {
            return Err(Failed { error, attempts });
        }
        tracing::debug!(%error, attempts, "transient API failure; retrying");
        tokio::time::sleep(delay).await;
        delay = (delay * 2).min(MAX_DELAY);
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use std::sync::atomic::{AtomicU32, Ordering};

    fn status(code: u16) -> kube::Error {
        kube::Error::Api(Box::new(kube::core::Status::failure("boom", "InternalError").with_code(code)))
    }

    #[tokio::test(start_paused = true)]
    async fn transient_errors_are_retried_with_backoff_until_the_budget_ends() {
        let tries = AtomicU32::new(0);
        let budget = Budget { until: Instant::now() + Duration::from_secs(3), per_attempt: Duration::from_secs(1) };
        let started = Instant::now();
        let result: Result<(), Failed> = call(budget, || {
            tries.fetch_add(1, Ordering::Relaxed);
            async { Err(status(500)) }
        })
        .await;
        let failed = result.unwrap_err();
        // 0.2 + 0.4 + 0.8 + 1.6 = 3.0: the fifth delay would pass the budget.
        assert_eq!(failed.attempts, 4);
        assert_eq!(tries.load(Ordering::Relaxed), 4);
        assert!(started.elapsed() < Duration::from_secs(3));
        assert_eq!(failed.error.code(), Some(500));
        assert!(failed.to_string().contains("gave up after 4 attempts"), "{failed}");
    }

    #[tokio::test(start_paused = true)]
    async fn conflicts_are_not_retried_and_success_after_a_failure_returns() {
        let budget = Budget { until: Instant::now() + Duration::from_secs(30), per_attempt: Duration::from_secs(1) };
        let result: Result<(), Failed> = call(budget, || async { Err(status(409)) }).await;
        assert_eq!(result.unwrap_err().attempts, 1);
        let tries = AtomicU32::new(0);
        let value = call(budget, || {
            let n = tries.fetch_add(1, Ordering::Relaxed);
            async move { if n < 2 { Err(status(503)) } else { Ok(n) } }
        })
        .await
        .unwrap();
        assert_eq!(value, 2);
    }
}
