//! The queue: the ordered list of jobs the engine runs top to bottom. Plain data: the engine
//! thread and the UI share it behind a mutex, and it is saved between runs.

use serde::{Deserialize, Serialize};

use super::job::{now, Job, JobId, JobSpec, JobStatus};

/// What happened to a cancel request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CancelOutcome {
    /// A waiting job, now cancelled.
    Cancelled,
    /// The running job; it stops at the next step boundary.
    Requested,
    /// Finished already, or no such job.
    Nothing,
}

/// The ordered list of jobs: waiting ones run top to bottom; finished ones stay listed until
/// removed so their outputs and errors remain visible.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Queue {
    pub jobs: Vec<Job>,
    pub next_id: JobId,
    /// While paused, no new job starts (the running one finishes).
    pub paused: bool,
}

impl Queue {
    pub fn push(&mut self, spec: JobSpec) -> JobId {
        self.next_id = self
            .next_id
            .max(self.jobs.iter().map(|j| j.id).max().unwrap_or(0))
            + 1;
        let id = self.next_id;
        self.jobs.push(Job {
            id,
            spec,
            status: JobStatus::Waiting,
            created: now(),
            started: None,
            finished: None,
            step: 0,
            total_steps: 0,
        });
        id
    }

    pub fn get(&self, id: JobId) -> Option<&Job> {
        self.jobs.iter().find(|j| j.id == id)
    }

    pub fn get_mut(&mut self, id: JobId) -> Option<&mut Job> {
        self.jobs.iter_mut().find(|j| j.id == id)
    }

    fn index(&self, id: JobId) -> Option<usize> {
        self.jobs.iter().position(|j| j.id == id)
    }

    /// Moves a job one place up (`delta < 0`) or down. Returns whether it moved.
    pub fn move_by(&mut self, id: JobId, delta: isize) -> bool {
        let Some(i) = self.index(id) else {
            return false;
        };
        let Some(j) = i.checked_add_signed(delta).filter(|j| *j < self.jobs.len()) else {
            return false;
        };
        self.jobs.swap(i, j);
        true
    }

    /// The first waiting job, in list order.
    pub fn next_waiting(&self) -> Option<JobId> {
        self.jobs
            .iter()
            .find(|j| j.status == JobStatus::Waiting)
            .map(|j| j.id)
    }

    pub fn running(&self) -> Option<JobId> {
        self.jobs
            .iter()
            .find(|j| j.status == JobStatus::Running)
            .map(|j| j.id)
    }

    /// Cancels a waiting job at once; a running one is only marked by the caller's flag.
    pub fn cancel(&mut self, id: JobId) -> CancelOutcome {
        let Some(job) = self.get_mut(id) else {
            return CancelOutcome::Nothing;
        };
        match job.status {
            JobStatus::Waiting => {
                job.status = JobStatus::Cancelled;
                job.finished = Some(now());
                CancelOutcome::Cancelled
            }
            JobStatus::Running => CancelOutcome::Requested,
            _ => CancelOutcome::Nothing,
        }
    }

    /// Puts a failed, cancelled or finished job back to waiting, with its settings unchanged.
    pub fn retry(&mut self, id: JobId) -> bool {
        let Some(job) = self.get_mut(id) else {
            return false;
        };
        if !job.status.is_finished() {
            return false;
        }
        job.status = JobStatus::Waiting;
        job.started = None;
        job.finished = None;
        job.step = 0;
        job.total_steps = 0;
        true
    }

    /// Removes a job that is not running.
    pub fn remove(&mut self, id: JobId) -> bool {
        match self.index(id) {
            Some(i) if self.jobs[i].status != JobStatus::Running => {
                self.jobs.remove(i);
                true
            }
            _ => false,
        }
    }

    /// After a restart nothing is running: a job that was interrupted waits again.
    pub fn recover_after_restart(&mut self) -> usize {
        let mut n = 0;
        for job in &mut self.jobs {
            if job.status == JobStatus::Running {
                job.status = JobStatus::Waiting;
                job.started = None;
                job.step = 0;
            }
            if job.status == JobStatus::Waiting {
                n += 1;
            }
        }
        n
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::ModelSpec;
    use crate::sampler::{ImageSize, Preset};

    fn spec(seed: u64) -> JobSpec {
        JobSpec {
            caption: "{}".into(),
            params: Preset::Turbo12.into(),
            size: ImageSize::new(64, 64),
            seed,
            model: ModelSpec::Demo,
            adapters: Vec::new(),
            start: None,
        }
    }

    #[test]
    fn order_cancel_retry_remove() {
        let mut q = Queue::default();
        let a = q.push(spec(1));
        let b = q.push(spec(2));
        let c = q.push(spec(3));
        assert_eq!(q.next_waiting(), Some(a));
        assert!(q.move_by(c, -1));
        assert!(q.move_by(c, -1));
        assert!(!q.move_by(c, -1), "already first");
        assert_eq!(q.next_waiting(), Some(c));
        assert_eq!(q.cancel(c), CancelOutcome::Cancelled);
        assert_eq!(q.next_waiting(), Some(a));
        q.get_mut(a).unwrap().status = JobStatus::Running;
        assert_eq!(q.cancel(a), CancelOutcome::Requested);
        assert!(!q.remove(a), "running jobs stay");
        assert!(q.retry(c));
        assert_eq!(q.next_waiting(), Some(c));
        assert!(q.remove(b));
        assert_eq!(q.jobs.iter().map(|j| j.id).collect::<Vec<_>>(), vec![c, a]);
        assert_eq!(q.recover_after_restart(), 2);
        let d = q.push(spec(4));
        assert_eq!(d, 4, "ids never repeat");
    }
}
