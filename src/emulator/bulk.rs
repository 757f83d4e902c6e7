//! Users-export and users-import jobs (reference §9): what they have in common. Both are
//! kept in memory only (never in the tenant file), read `pending`, then `processing`
//! with `percentage_done` and `time_left_seconds`, then `completed`, on the emulator's
//! clock and at the pace of [`super::Timings`], and are deleted 24 hours after creation
//! (reference §9.1/§9.2: "job data deleted after 24 h"), after which `GET /jobs/{id}`
//! answers 404. An import's records are applied to the tenant when the job completes:
//! every Management API request first settles the jobs that are due (and deletes the
//! expired ones).

use std::sync::Arc;
use std::time::Duration as StdDuration;

use serde_json::{Value, json};
use time::{Duration, OffsetDateTime};

use super::World;
use super::config::Timings;
use super::exports::ExportJob;
use super::imports::ImportJob;

/// How long a job and its data live.
pub const JOB_RETENTION: Duration = Duration::hours(24);

/// A bulk job.
pub struct BulkJob {
    pub id: String,
    pub created: OffsetDateTime,
    pub created_at: String,
    pub connection_id: Option<String>,
    pub connection: Option<String>,
    /// Records to process (users exported or records in the import file).
    pub work: usize,
    pub kind: BulkKind,
    /// Set when the job is to end `failed` with these `status_details` instead of
    /// completing ([`super::Emulator::set_exports_fail`]).
    pub failure: Option<String>,
}

pub enum BulkKind {
    Export(Arc<ExportJob>),
    Import(ImportJob),
}

/// Where a job is at a given moment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    Pending,
    Processing {
        percentage_done: u64,
        time_left_seconds: u64,
    },
    Completed,
}

impl BulkJob {
    fn rate(&self, timings: &Timings) -> Option<f64> {
        match self.kind {
            BulkKind::Export(_) => timings.export_users_per_second,
            BulkKind::Import(_) => timings.import_users_per_second,
        }
        .filter(|rate| *rate > 0.0)
    }

    pub fn phase(&self, now: OffsetDateTime, timings: &Timings) -> Phase {
        let elapsed = now - self.created;
        let pending = Duration::try_from(timings.job_pending).unwrap_or(Duration::MAX);
        if elapsed < pending {
            return Phase::Pending;
        }
        let Some(rate) = self.rate(timings) else {
            return Phase::Completed;
        };
        let busy = (elapsed - pending).as_seconds_f64();
        let needed = self.work as f64 / rate;
        if busy >= needed {
            return Phase::Completed;
        }
        let done = (busy * rate).floor() as usize;
        Phase::Processing {
            percentage_done: (done * 100 / self.work.max(1)) as u64,
            time_left_seconds: StdDuration::from_secs_f64(needed - busy)
                .as_secs_f64()
                .ceil() as u64,
        }
    }

    pub fn type_name(&self) -> &'static str {
        match self.kind {
            BulkKind::Export(_) => "users_export",
            BulkKind::Import(_) => "users_import",
        }
    }

    /// The job as `GET /jobs/{id}` shows it at `phase`; `location` is the export's
    /// download link once completed.
    pub fn body(&self, phase: Phase, location: Option<String>) -> Value {
        let status = match phase {
            Phase::Pending => "pending",
            Phase::Processing { .. } => "processing",
            Phase::Completed => "completed",
        };
        let failed = phase == Phase::Completed && self.failure.is_some();
        let status = if failed { "failed" } else { status };
        let mut body = json!({"type": self.type_name(), "status": status});
        if let Some(id) = &self.connection_id {
            body["connection_id"] = json!(id);
        }
        match &self.kind {
            BulkKind::Export(export) => export.describe(&mut body),
            BulkKind::Import(import) => import.describe(&mut body, phase),
        }
        if let Some(name) = &self.connection {
            body["connection"] = json!(name);
        }
        body["created_at"] = json!(self.created_at);
        body["id"] = json!(self.id);
        if let Phase::Processing {
            percentage_done,
            time_left_seconds,
        } = phase
        {
            body["percentage_done"] = json!(percentage_done);
            body["time_left_seconds"] = json!(time_left_seconds);
        }
        if let Some(details) = self.failure.as_ref().filter(|_| failed) {
            body["status_details"] = json!(details);
        } else if let Some(location) = location {
            body["location"] = json!(location);
        }
        body
    }
}

impl World {
    /// Deletes jobs past their retention and applies the imports that are due.
    pub(super) fn settle_jobs(&mut self, now: OffsetDateTime, timestamp: &str) {
        self.bulk_jobs
            .retain(|_, job| now - job.created < JOB_RETENTION);
        let due: Vec<String> = self
            .bulk_jobs
            .values()
            .filter(|job| matches!(&job.kind, BulkKind::Import(import) if !import.applied()))
            .filter(|job| job.phase(now, &self.timings) == Phase::Completed)
            .map(|job| job.id.clone())
            .collect();
        for id in due {
            self.apply_import(&id, timestamp);
        }
    }

    /// Import jobs not yet completed.
    pub(super) fn active_imports(&self, now: OffsetDateTime) -> usize {
        self.bulk_jobs
            .values()
            .filter(|job| matches!(job.kind, BulkKind::Import(_)))
            .filter(|job| job.phase(now, &self.timings) != Phase::Completed)
            .count()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    fn job(work: usize) -> BulkJob {
        BulkJob {
            failure: None,
            id: "job_AAAAAAAAAAAAAAAA".into(),
            created: datetime!(2026-01-01 00:00 UTC),
            created_at: "2026-01-01T00:00:00.000Z".into(),
            connection_id: None,
            connection: None,
            work,
            kind: BulkKind::Export(Arc::new(ExportJob::for_tests())),
        }
    }

    #[test]
    fn a_job_waits_then_processes_at_its_rate_then_completes() {
        let timings = Timings {
            job_pending: StdDuration::from_secs(2),
            export_users_per_second: Some(100.0),
            ..Timings::instant()
        };
        let job = job(1000);
        let at = |seconds: i64| job.phase(job.created + Duration::seconds(seconds), &timings);
        assert_eq!(at(0), Phase::Pending);
        assert_eq!(at(1), Phase::Pending);
        assert_eq!(
            at(4),
            Phase::Processing {
                percentage_done: 20,
                time_left_seconds: 8
            }
        );
        assert_eq!(at(12), Phase::Completed);
        assert_eq!(
            job.phase(job.created, &Timings::instant()),
            Phase::Completed
        );
    }
}
