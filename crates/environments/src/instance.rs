//! The plumbing every backend's instance shares, written once: stop at most
//! once and on drop ([`StopGuard`]), stop at the whole run's deadline
//! ([`StopGuard::read`]), and refuse a launch before prepare ([`prepared`]).
//! The deadline-aware line reader is [`crate::lines::Deadline`].

use std::ops::{Deref, DerefMut};

use crate::{EnvError, EnvKind, ExitInfo};

/// What ends a running instance and removes what it created.
pub trait Teardown: Send {
    /// Ends the instance (killing it if it still runs) and removes every
    /// resource it created. Called by [`StopGuard`] until it succeeds once;
    /// must tolerate being called again after a failure.
    fn teardown(&mut self) -> Result<ExitInfo, EnvError>;

    /// Names the instance in the warning of a teardown that failed on drop.
    fn describe(&self) -> String;
}

/// Owns an instance's state: [`StopGuard::stop`] tears it down once (later
/// calls return the same [`ExitInfo`]), and dropping a guard that was not
/// stopped tears it down then. Derefs to the state.
pub struct StopGuard<T: Teardown> {
    inner: T,
    result: Option<ExitInfo>,
}

impl<T: Teardown> StopGuard<T> {
    /// Guards `inner`, which is running.
    pub fn new(inner: T) -> Self {
        StopGuard {
            inner,
            result: None,
        }
    }

    /// Tears the instance down unless that already succeeded; idempotent.
    pub fn stop(&mut self) -> Result<ExitInfo, EnvError> {
        if let Some(result) = &self.result {
            return Ok(result.clone());
        }
        let result = self.inner.teardown()?;
        self.result = Some(result.clone());
        Ok(result)
    }

    /// How the instance ended, once stopped.
    pub fn stopped(&self) -> Option<&ExitInfo> {
        self.result.as_ref()
    }

    /// Runs a read of the instance's output; when it ran into the whole
    /// run's deadline ([`EnvError::RunDeadline`]) the instance is stopped at
    /// once, before the error is returned.
    pub fn read<R>(
        &mut self,
        read: impl FnOnce(&mut T) -> Result<R, EnvError>,
    ) -> Result<R, EnvError> {
        let result = read(&mut self.inner);
        if let Err(EnvError::RunDeadline { .. }) = &result {
            if let Err(e) = self.stop() {
                tracing::warn!(
                    "stopping {} at the run's deadline: {e}",
                    self.inner.describe()
                );
            }
        }
        result
    }
}

impl<T: Teardown> Deref for StopGuard<T> {
    type Target = T;

    fn deref(&self) -> &T {
        &self.inner
    }
}

impl<T: Teardown> DerefMut for StopGuard<T> {
    fn deref_mut(&mut self) -> &mut T {
        &mut self.inner
    }
}

impl<T: Teardown> Drop for StopGuard<T> {
    fn drop(&mut self) {
        if self.result.is_none() {
            if let Err(e) = self.stop() {
                tracing::warn!("cleaning up {}: {e}", self.inner.describe());
            }
        }
    }
}

/// What [`crate::Environment::prepare`] left for launching, or
/// [`EnvError::NotPrepared`] when it has not run (successfully) yet.
pub fn prepared<T>(state: Option<T>, env: EnvKind) -> Result<T, EnvError> {
    state.ok_or_else(|| EnvError::not_prepared(env))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;

    struct Counted {
        calls: Arc<AtomicUsize>,
        fail_first: bool,
    }

    impl Teardown for Counted {
        fn teardown(&mut self) -> Result<ExitInfo, EnvError> {
            let n = self.calls.fetch_add(1, Ordering::SeqCst);
            if self.fail_first && n == 0 {
                return Err(EnvError::io("removing", std::io::ErrorKind::Other.into()));
            }
            Ok(ExitInfo {
                code: Some(n as i64),
                killed: false,
                final_cpu_seconds: None,
                final_peak_memory_bytes: None,
            })
        }

        fn describe(&self) -> String {
            "counted".into()
        }
    }

    #[test]
    fn stops_once_retries_failures_and_stops_on_drop() {
        let calls = Arc::new(AtomicUsize::new(0));
        let mut guard = StopGuard::new(Counted {
            calls: calls.clone(),
            fail_first: true,
        });
        assert!(guard.stop().is_err());
        let exit = guard.stop().unwrap();
        assert_eq!(guard.stop().unwrap(), exit);
        drop(guard);
        assert_eq!(calls.load(Ordering::SeqCst), 2);

        let calls = Arc::new(AtomicUsize::new(0));
        drop(StopGuard::new(Counted {
            calls: calls.clone(),
            fail_first: false,
        }));
        assert_eq!(calls.load(Ordering::SeqCst), 1, "dropped: stopped once");
    }

    #[test]
    fn the_run_deadline_stops_the_instance() {
        let calls = Arc::new(AtomicUsize::new(0));
        let mut guard = StopGuard::new(Counted {
            calls: calls.clone(),
            fail_first: false,
        });
        let quiet: Result<(), _> = guard.read(|_| {
            Err(EnvError::Timeout {
                env: "x".into(),
                seconds: 1.0,
            })
        });
        assert!(quiet.is_err() && guard.stopped().is_none());
        let late: Result<(), _> = guard.read(|_| {
            Err(EnvError::RunDeadline {
                env: "x".into(),
                seconds: 1.0,
            })
        });
        assert!(late.is_err() && guard.stopped().is_some());
        drop(guard);
        assert_eq!(calls.load(Ordering::SeqCst), 1);
    }

    #[test]
    fn launch_before_prepare_is_one_error() {
        let err = prepared(None::<()>, EnvKind::OciRunc).unwrap_err();
        assert!(matches!(err, EnvError::NotPrepared { .. }));
        assert!(err.to_string().contains("before prepare"), "{err}");
        assert!(err.to_string().contains("oci-runc"), "{err}");
    }
}
