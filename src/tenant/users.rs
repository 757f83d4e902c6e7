//! Reading the users of a connection, whatever its size (reference §2.2, §9.2-9.3).
//!
//! The rule: one user-search page (`per_page=100`, `include_totals`) comes first. A
//! connection of at most [`UserReads::search_up_to`] users (500 by default) is read
//! through the rest of user search, at most five requests; a larger one through a
//! users-export job: one request to start it, a few to poll it, and a download of gzipped
//! NDJSON from storage, which is not a Management API request. Either way a connection costs
//! a handful of requests and none is refused for its size (search stops at 1000 results, so
//! the threshold is never above 999).
//!
//! Export jobs are polled with backoff that follows the job's own `time_left_seconds`, and
//! the wait is bounded ([`ExportPolling::timeout`]). The download link (valid 60 s) points at
//! another host, pre-signed storage: the Management API token is never sent there, plain
//! http is refused except for loopback, and a refused or broken download is retried with a
//! fresh link from the job. The file is decompressed and parsed as it arrives; only the
//! users are kept, never the file. Both paths yield the same fields: exactly the
//! [`USER_FIELDS`] the plan reads.

use std::io::Write;
use std::time::Duration;

use flate2::write::GzDecoder;
use tokio::time::Instant;
use url::Url;

use super::client::{ManagementClient, is_loopback, lucene_escape};
use super::error::ApiError;
use super::types::{Connection, ExportField, Job, User, UsersExportRequest, UsersPage};

/// The user fields a plan reads, requested from export jobs (search returns them all).
pub const USER_FIELDS: [&str; 13] = [
    "user_id",
    "email",
    "email_verified",
    "identities",
    "name",
    "given_name",
    "family_name",
    "user_metadata",
    "app_metadata",
    "logins_count",
    "last_login",
    "created_at",
    "blocked",
];

/// Largest `per_page` the Management API accepts.
const PAGE_SIZE: u64 = 100;
/// User search returns at most this many results per query (reference §2.2).
pub const USER_SEARCH_LIMIT: u64 = 1000;
/// A download is attempted this many times, each with a fresh link after the first.
const DOWNLOAD_ATTEMPTS: u32 = 3;

/// How the users of a connection are read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UserReads {
    /// Connections with at most this many users are read through user search (capped at
    /// 999: search cannot page past 1000 results); larger ones through an export job.
    pub search_up_to: u64,
    pub polling: ExportPolling,
}

impl Default for UserReads {
    fn default() -> Self {
        UserReads {
            search_up_to: 500,
            polling: ExportPolling::default(),
        }
    }
}

/// How an export job is waited for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExportPolling {
    /// The first wait; later ones double, or follow the job's `time_left_seconds`.
    pub first: Duration,
    /// The longest single wait.
    pub max: Duration,
    /// Give up after waiting this long in all (Auth0 times jobs out after 2 hours).
    pub timeout: Duration,
}

impl Default for ExportPolling {
    fn default() -> Self {
        ExportPolling {
            first: Duration::from_secs(1),
            max: Duration::from_secs(300),
            timeout: Duration::from_secs(2 * 3600),
        }
    }
}

/// What a long read reports while it waits, for progress on stderr.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExportProgress {
    pub connection: String,
    pub job_id: String,
    pub status: String,
    pub percentage_done: Option<u64>,
    pub time_left_seconds: Option<u64>,
    pub waited: Duration,
}

/// Receives [`ExportProgress`] (the client itself never prints).
pub type ProgressHook = std::sync::Arc<dyn Fn(&ExportProgress) + Send + Sync>;

impl ManagementClient {
    /// Every user with an identity in `connection`: through user search for small
    /// connections, through a users-export job for larger ones (see the module doc).
    pub async fn users_of_connection(
        &self,
        connection: &Connection,
    ) -> Result<Vec<User>, ApiError> {
        self.read_users(connection, None).await
    }

    /// [`Self::users_of_connection`], keeping only the users `keep` accepts as they are read
    /// (the others are never held, however many there are).
    pub async fn users_of_connection_where(
        &self,
        connection: &Connection,
        keep: &(dyn Fn(&User) -> bool + Sync),
    ) -> Result<Vec<User>, ApiError> {
        self.read_users(connection, Some(keep)).await
    }

    async fn read_users(
        &self,
        connection: &Connection,
        keep: Option<&(dyn Fn(&User) -> bool + Sync)>,
    ) -> Result<Vec<User>, ApiError> {
        let reads = self.user_reads();
        let first = self.search_page(&connection.name, 0).await?;
        if first.total <= reads.search_up_to.min(USER_SEARCH_LIMIT - 1) {
            let mut users = self.search_rest(&connection.name, first).await?;
            if let Some(keep) = keep {
                users.retain(|user| keep(user));
            }
            return Ok(users);
        }
        tracing::debug!(
            connection = connection.name,
            total = first.total,
            "reading the connection through a users-export job"
        );
        // Without a filter every user is kept: make room for them all at once.
        let expected = if keep.is_some() { 0 } else { first.total };
        self.users_by_export(connection, expected, keep).await
    }

    /// One page of `identities.connection:"NAME"`, oldest first, with the total.
    async fn search_page(&self, connection: &str, page: u64) -> Result<UsersPage, ApiError> {
        let query = format!("identities.connection:\"{}\"", lucene_escape(connection));
        let page_text = page.to_string();
        let per_page = PAGE_SIZE.to_string();
        let params = [
            ("q", query.as_str()),
            ("search_engine", "v3"),
            ("page", page_text.as_str()),
            ("per_page", per_page.as_str()),
            ("include_totals", "true"),
            ("sort", "created_at:1"),
        ];
        self.get_json("GET /api/v2/users", &["api", "v2", "users"], &params)
            .await
    }

    /// The users of `first` and of the pages after it (page index paging).
    async fn search_rest(&self, connection: &str, first: UsersPage) -> Result<Vec<User>, ApiError> {
        let mut users: Vec<User> = Vec::new();
        let mut seen = std::collections::HashSet::new();
        let mut page = 0u64;
        let mut result = first;
        loop {
            let received = result.users.len() as u64;
            for user in result.users {
                // Users created while paging shift pages; never count one twice.
                if seen.insert(user.user_id.clone()) {
                    users.push(user);
                }
            }
            page += 1;
            if received < PAGE_SIZE || page * PAGE_SIZE >= result.total.min(USER_SEARCH_LIMIT) {
                return Ok(users);
            }
            result = self.search_page(connection, page).await?;
        }
    }

    /// Starts a users-export job for `connection`, waits for it and downloads its file.
    /// `expected`: how many users search counted, to size the list once.
    async fn users_by_export(
        &self,
        connection: &Connection,
        expected: u64,
        keep: Option<&(dyn Fn(&User) -> bool + Sync)>,
    ) -> Result<Vec<User>, ApiError> {
        let request = UsersExportRequest {
            connection_id: connection.id.clone(),
            format: "json",
            fields: USER_FIELDS
                .iter()
                .map(|&name| ExportField { name })
                .collect(),
        };
        let job = self.start_users_export(&request).await?;
        let job = self.wait_for_export(&connection.name, job).await?;
        self.download_export_sized(&connection.name, job, expected, keep)
            .await
    }

    /// Polls the job until it is completed; fails when it fails, vanishes or takes too long.
    async fn wait_for_export(&self, connection: &str, mut job: Job) -> Result<Job, ApiError> {
        let polling = self.user_reads().polling;
        let started = Instant::now();
        let mut delay = polling.first;
        loop {
            if job.is_completed() {
                return Ok(job);
            }
            if job.is_failed() {
                return Err(ApiError::ExportFailed {
                    connection: connection.to_string(),
                    job_id: job.id.clone(),
                    details: job
                        .status_details
                        .clone()
                        .unwrap_or_else(|| "Auth0 gave no details".to_string()),
                });
            }
            let waited = started.elapsed();
            if waited >= polling.timeout {
                return Err(ApiError::ExportTimedOut {
                    connection: connection.to_string(),
                    job_id: job.id.clone(),
                    waited,
                });
            }
            self.report_progress(&ExportProgress {
                connection: connection.to_string(),
                job_id: job.id.clone(),
                status: job.status.clone(),
                percentage_done: job.percentage_done,
                time_left_seconds: job.time_left_seconds,
                waited,
            });
            // Follow the job's own estimate when it gives one, so a long export is polled a
            // few times rather than every second.
            let estimate = job
                .time_left_seconds
                .map_or(Duration::ZERO, Duration::from_secs);
            let wait = delay
                .max(estimate)
                .min(polling.max)
                .min(polling.timeout.saturating_sub(waited));
            tokio::time::sleep(wait).await;
            delay = (delay * 2).min(polling.max);
            job = self
                .get_job(&job.id)
                .await
                .map_err(|error| match error.status() {
                    Some(404) => ApiError::ExportFailed {
                        connection: connection.to_string(),
                        job_id: job.id.clone(),
                        details: "the job no longer exists (Auth0 deletes job data after 24 hours)"
                            .to_string(),
                    },
                    _ => error,
                })?;
        }
    }

    /// Downloads and parses a completed export job's file, re-reading the job for a fresh
    /// link when the download is refused (links expire after 60 s) or breaks off.
    pub async fn download_export(&self, connection: &str, job: Job) -> Result<Vec<User>, ApiError> {
        self.download_export_sized(connection, job, 0, None).await
    }

    /// [`Self::download_export`], with room for `expected` users made once.
    async fn download_export_sized(
        &self,
        connection: &str,
        mut job: Job,
        expected: u64,
        keep: Option<&(dyn Fn(&User) -> bool + Sync)>,
    ) -> Result<Vec<User>, ApiError> {
        let mut attempt = 1;
        loop {
            let location = job
                .location
                .clone()
                .ok_or_else(|| ApiError::ExportDownload {
                    connection: connection.to_string(),
                    detail: format!("the completed job {} has no download location", job.id),
                })?;
            match self.download_users(&location, expected, keep).await {
                Ok(users) => return Ok(users),
                Err(Download::Fatal(detail)) => {
                    return Err(ApiError::ExportDownload {
                        connection: connection.to_string(),
                        detail,
                    });
                }
                Err(Download::Retryable(detail)) if attempt >= DOWNLOAD_ATTEMPTS => {
                    return Err(ApiError::ExportDownload {
                        connection: connection.to_string(),
                        detail: format!("{detail} (after {attempt} attempts with fresh links)"),
                    });
                }
                Err(Download::Retryable(detail)) => {
                    tracing::debug!(
                        connection,
                        detail,
                        "export download failed; fetching a fresh link"
                    );
                    attempt += 1;
                    job = self.get_job(&job.id).await?;
                }
            }
        }
    }

    /// One download of an export file: no bearer token, https (or loopback), streamed
    /// through gzip into NDJSON lines.
    async fn download_users(
        &self,
        location: &str,
        expected: u64,
        keep: Option<&(dyn Fn(&User) -> bool + Sync)>,
    ) -> Result<Vec<User>, Download> {
        let url = Url::parse(location)
            .map_err(|e| Download::Fatal(format!("the download location is not a URL: {e}")))?;
        check_download_url(&url).map_err(Download::Fatal)?;
        self.note_download();
        // The storage client carries no Authorization header: the link is pre-signed, and
        // the Management API token must never reach another host.
        let mut response = self
            .storage_client()
            .get(url)
            .send()
            .await
            .map_err(|e| Download::Retryable(format!("the download failed: {e}")))?;
        if !response.status().is_success() {
            let status = response.status();
            let body = response.text().await.unwrap_or_default();
            return Err(Download::Retryable(format!(
                "storage answered HTTP {status}: {}",
                storage_error(&body)
            )));
        }
        // A little room for users created since they were counted; never a huge guess.
        let capacity =
            usize::try_from(expected.saturating_add(expected / 50).min(20_000_000)).unwrap_or(0);
        let mut decoder = GzDecoder::new(NdjsonUsers {
            users: Vec::with_capacity(capacity),
            keep,
            ..NdjsonUsers::default()
        });
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|e| Download::Retryable(format!("the download broke off: {e}")))?
        {
            decoder
                .write_all(&chunk)
                .map_err(|e| Download::Fatal(format!("the export file is not valid gzip: {e}")))?;
            if let Some(error) = decoder.get_mut().error.take() {
                return Err(Download::Fatal(error));
            }
        }
        let mut lines = decoder
            .finish()
            .map_err(|e| Download::Fatal(format!("the export file is not valid gzip: {e}")))?;
        lines.end().map_err(Download::Fatal)?;
        Ok(lines.users)
    }

    fn report_progress(&self, progress: &ExportProgress) {
        if let Some(hook) = self.progress_hook() {
            hook(progress);
        }
    }
}

/// Why a download did not give the users.
enum Download {
    /// Worth another try with a fresh link (refused, expired, broke off).
    Retryable(String),
    /// Another link would not help (a refused scheme, a corrupt file).
    Fatal(String),
}

/// Only https, or plain http to a loopback address (the emulator).
fn check_download_url(url: &Url) -> Result<(), String> {
    let host = url.host_str().unwrap_or_default();
    match url.scheme() {
        "https" => Ok(()),
        "http" if is_loopback(host) => Ok(()),
        scheme => Err(format!(
            "refusing to download the export over {scheme} from `{host}`: user data travels over https only (plain http only to loopback addresses)"
        )),
    }
}

/// The `Code` and `Message` of an S3-style XML error, else the text's start.
fn storage_error(body: &str) -> String {
    let tag = |name: &str| {
        let open = format!("<{name}>");
        let close = format!("</{name}>");
        let start = body.find(&open)? + open.len();
        let end = body[start..].find(&close)? + start;
        Some(body[start..end].to_string())
    };
    match (tag("Code"), tag("Message")) {
        (Some(code), Some(message)) => format!("{code}: {message}"),
        (Some(code), None) => code,
        _ => body.chars().take(200).collect(),
    }
}

/// Decompressed export bytes in, users out: one JSON object a line, kept when `keep` says.
#[derive(Default)]
struct NdjsonUsers<'k> {
    users: Vec<User>,
    keep: Option<&'k (dyn Fn(&User) -> bool + Sync)>,
    partial: Vec<u8>,
    line: u64,
    error: Option<String>,
}

impl NdjsonUsers<'_> {
    fn take_line(&mut self, line: &[u8]) {
        self.line += 1;
        if self.error.is_some() || line.iter().all(u8::is_ascii_whitespace) {
            return;
        }
        match serde_json::from_slice::<User>(line) {
            Ok(user) if self.keep.is_none_or(|keep| keep(&user)) => self.users.push(user),
            Ok(_) => {}
            Err(e) => {
                self.error = Some(format!(
                    "line {} of the export file is not a user: {e}",
                    self.line
                ));
            }
        }
    }

    /// The last line, when the file does not end with a newline.
    fn end(&mut self) -> Result<(), String> {
        let rest = std::mem::take(&mut self.partial);
        self.take_line(&rest);
        self.error.take().map_or(Ok(()), Err)
    }
}

impl Write for NdjsonUsers<'_> {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        let mut rest = data;
        while let Some(newline) = rest.iter().position(|b| *b == b'\n') {
            let (line, after) = rest.split_at(newline);
            if self.partial.is_empty() {
                self.take_line(line);
            } else {
                self.partial.extend_from_slice(line);
                let whole = std::mem::take(&mut self.partial);
                self.take_line(&whole);
            }
            rest = &after[1..];
        }
        self.partial.extend_from_slice(rest);
        Ok(data.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ndjson_lines_split_across_chunks_are_joined() {
        let mut sink = NdjsonUsers::default();
        sink.write_all(b"{\"user_id\":\"auth0|1\",\"email\":\"a@x.example\"}\n{\"user_id\":\"au")
            .unwrap();
        sink.write_all(b"th0|2\"}\n\n{\"user_id\":\"auth0|3\"}")
            .unwrap();
        sink.end().unwrap();
        let ids: Vec<_> = sink.users.iter().map(|u| u.user_id.as_str()).collect();
        assert_eq!(ids, ["auth0|1", "auth0|2", "auth0|3"]);
    }

    #[test]
    fn a_broken_line_is_reported_with_its_number() {
        let mut sink = NdjsonUsers::default();
        sink.write_all(b"{\"user_id\":\"auth0|1\"}\n{\"email\":\"x\"}\n")
            .unwrap();
        let error = sink.end().unwrap_err();
        assert!(
            error.starts_with("line 2 of the export file is not a user"),
            "{error}"
        );
    }

    #[test]
    fn downloads_go_over_https_or_to_loopback_only() {
        assert!(check_download_url(&Url::parse("https://cdn.example/x.gz").unwrap()).is_ok());
        assert!(check_download_url(&Url::parse("http://127.0.0.1:9/x.gz").unwrap()).is_ok());
        let error =
            check_download_url(&Url::parse("http://cdn.example/x.gz").unwrap()).unwrap_err();
        assert!(error.contains("refusing"), "{error}");
    }

    #[test]
    fn storage_errors_are_read_from_their_xml() {
        let body = "<?xml version=\"1.0\"?><Error><Code>AccessDenied</Code><Message>Request has expired</Message></Error>";
        assert_eq!(storage_error(body), "AccessDenied: Request has expired");
    }
}
