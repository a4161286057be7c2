//! The one place background work runs: [`Jobs::spawn`] starts a named job on its own thread;
//! the job reports its progress through its [`Job`] handle, and a failure is kept with the
//! job's name so a UI can show it ("Could not create the space: ..."). [`Jobs::list`] says
//! what runs now. A waker (a UI's repaint) is called whenever a job starts, moves or ends.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use crate::events::Waker;

/// What a job is doing now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobInfo {
    /// Its id (unique in this process).
    pub id: u64,
    /// Its name, in plain words ("create the space").
    pub name: String,
    /// Its last progress report, if any.
    pub progress: Option<String>,
}

/// A job that failed: its name and what went wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobFailure {
    /// The job's name.
    pub name: String,
    /// What went wrong.
    pub message: String,
}

#[derive(Default)]
struct State {
    running: Vec<JobInfo>,
    failures: Vec<JobFailure>,
}

/// The job runner. Cheap to clone; clones share the jobs.
#[derive(Clone, Default)]
pub struct Jobs {
    state: Arc<Mutex<State>>,
    waker: Arc<Mutex<Option<Waker>>>,
}

/// A running job's handle: it reports progress through it.
pub struct Job {
    id: u64,
    jobs: Jobs,
}

static NEXT_ID: AtomicU64 = AtomicU64::new(1);

impl Jobs {
    /// A runner with no jobs.
    pub fn new() -> Self {
        Self::default()
    }

    /// Calls `waker` whenever a job starts, reports progress, fails or ends.
    pub fn set_waker(&self, waker: Waker) {
        *self.waker.lock().unwrap_or_else(|e| e.into_inner()) = Some(waker);
    }

    fn wake(&self) {
        let waker = self.waker.lock().unwrap_or_else(|e| e.into_inner()).clone();
        if let Some(w) = waker {
            w();
        }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Runs `f` on a thread of its own as the job `name`; an error it returns is kept as a
    /// [`JobFailure`]. Returns false if the thread could not be started (the failure is kept).
    pub fn spawn<E: std::fmt::Display>(
        &self,
        name: impl Into<String>,
        f: impl FnOnce(&Job) -> Result<(), E> + Send + 'static,
    ) -> bool {
        let name = name.into();
        let id = NEXT_ID.fetch_add(1, Ordering::Relaxed);
        self.state().running.push(JobInfo { id, name: name.clone(), progress: None });
        let job = Job { id, jobs: self.clone() };
        let thread_name = format!("dxos-job-{id}");
        let spawned = std::thread::Builder::new().name(thread_name).spawn(move || {
            let result = f(&job);
            let jobs = job.jobs.clone();
            {
                let mut state = jobs.state();
                if let Some(at) = state.running.iter().position(|j| j.id == id) {
                    let info = state.running.remove(at);
                    if let Err(e) = result {
                        tracing::warn!("job {:?} failed: {e}", info.name);
                        state.failures.push(JobFailure { name: info.name, message: e.to_string() });
                    }
                }
            }
            jobs.wake();
        });
        match spawned {
            Ok(_) => {
                self.wake();
                true
            }
            Err(e) => {
                let mut state = self.state();
                state.running.retain(|j| j.id != id);
                state.failures.push(JobFailure { name, message: format!("cannot start a thread: {e}") });
                false
            }
        }
    }

    /// The jobs running now, oldest first.
    pub fn list(&self) -> Vec<JobInfo> {
        self.state().running.clone()
    }

    /// Takes the failures reported since the last call.
    pub fn take_failures(&self) -> Vec<JobFailure> {
        std::mem::take(&mut self.state().failures)
    }
}

impl Job {
    /// Reports where the job stands ("3 of 10 spaces").
    pub fn progress(&self, text: impl Into<String>) {
        let text = text.into();
        {
            let mut state = self.jobs.state();
            if let Some(j) = state.running.iter_mut().find(|j| j.id == self.id) {
                j.progress = Some(text);
            }
        }
        self.jobs.wake();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::mpsc;
    use std::time::Duration;

    #[test]
    fn jobs_are_listed_while_they_run_and_failures_are_kept() {
        let jobs = Jobs::new();
        let (go_tx, go_rx) = mpsc::channel::<()>();
        let (woke_tx, woke_rx) = mpsc::channel::<()>();
        jobs.set_waker(Arc::new(move || {
            let _ = woke_tx.send(());
        }));
        assert!(jobs.spawn("make the space", move |job| {
            job.progress("halfway");
            let _ = go_rx.recv();
            Err("the disk is full")
        }));
        assert!(woke_rx.recv_timeout(Duration::from_secs(5)).is_ok());
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        while jobs.list().first().and_then(|j| j.progress.clone()).is_none() && std::time::Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(5));
        }
        let list = jobs.list();
        assert_eq!(list.len(), 1);
        assert_eq!(list[0].name, "make the space");
        assert_eq!(list[0].progress.as_deref(), Some("halfway"));
        let _ = go_tx.send(());
        while !jobs.list().is_empty() && std::time::Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(5));
        }
        assert!(jobs.list().is_empty());
        let failures = jobs.take_failures();
        assert_eq!(failures, vec![JobFailure { name: "make the space".into(), message: "the disk is full".into() }]);
        assert!(jobs.take_failures().is_empty());
    }
}
