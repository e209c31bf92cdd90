//! What of the queue goes into the saved state, and when it must be written at once.
//!
//! A job that finished must be on disk as finished before anything else happens: with only a
//! periodic save, a kill right after an image was written brought the job back as waiting, and
//! it ran again (a duplicate image and history line). Finished jobs are kept only up to a
//! number from config.toml, so the file stays small however long the app is used.

use crate::engine::{JobId, Queue};

/// Drops the oldest finished jobs (done, failed, cancelled) beyond `keep`, by finishing time;
/// waiting and running jobs are never dropped.
pub fn prune_finished(queue: &mut Queue, keep: usize) {
    let mut finished: Vec<(f64, JobId)> = queue
        .jobs
        .iter()
        .filter(|j| j.status.is_finished())
        .map(|j| (j.finished.unwrap_or(j.created), j.id))
        .collect();
    if finished.len() <= keep {
        return;
    }
    finished.sort_by(|a, b| b.0.total_cmp(&a.0));
    let dropped: std::collections::HashSet<JobId> =
        finished[keep..].iter().map(|&(_, id)| id).collect();
    queue.jobs.retain(|j| !dropped.contains(&j.id));
}

/// Each job's id and status label: when this changes, the state is saved immediately.
pub fn status_fingerprint(queue: &Queue) -> Vec<(JobId, &'static str)> {
    queue
        .jobs
        .iter()
        .map(|j| (j.id, j.status.label()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::{JobSpec, JobStatus, ModelSpec};

    fn queue_with(n: usize) -> Queue {
        let mut q = Queue::default();
        for seed in 0..n as u64 {
            q.push(JobSpec {
                caption: "{}".into(),
                params: crate::sampler::Preset::Turbo12.into(),
                size: crate::sampler::ImageSize::new(64, 64),
                seed,
                model: ModelSpec::Demo,
                adapters: Vec::new(),
                start: None,
            });
        }
        q
    }

    #[test]
    fn keeps_the_newest_finished_jobs_and_every_unfinished_one() {
        let mut q = queue_with(6);
        // Jobs 0..4 finished, in the order 3, 0, 2, 1; jobs 4 and 5 still waiting.
        for (job, t) in [(3, 10.0), (0, 20.0), (2, 30.0), (1, 40.0)] {
            q.jobs[job].status = JobStatus::Cancelled;
            q.jobs[job].finished = Some(t);
        }
        let ids: Vec<JobId> = q.jobs.iter().map(|j| j.id).collect();
        prune_finished(&mut q, 2);
        let kept: Vec<JobId> = q.jobs.iter().map(|j| j.id).collect();
        assert_eq!(kept, vec![ids[1], ids[2], ids[4], ids[5]]);
        prune_finished(&mut q, 0);
        let kept: Vec<JobId> = q.jobs.iter().map(|j| j.id).collect();
        assert_eq!(kept, vec![ids[4], ids[5]]);
    }

    #[test]
    fn a_status_change_changes_the_fingerprint() {
        let mut q = queue_with(2);
        let before = status_fingerprint(&q);
        q.jobs[1].step = 3;
        assert_eq!(
            status_fingerprint(&q),
            before,
            "progress alone is not a status change"
        );
        q.jobs[1].status = JobStatus::Done {
            output: "x.png".into(),
        };
        assert_ne!(status_fingerprint(&q), before);
    }
}
