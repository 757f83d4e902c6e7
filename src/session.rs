//! A connection to a tenant: a real Auth0 tenant reached with credentials from the
//! environment, or a tenant file served by the built-in emulator on a loopback port. Both
//! are driven through the same [`ManagementClient`]; only how the session starts and ends
//! differs (a tenant file is written back atomically after `apply`).

use std::path::{Path, PathBuf};

use crate::emulator::{
    Emulator, EmulatorConfig, RunningEmulator, load_tenant_file, save_tenant_file,
};
use crate::secret::Secret;
use crate::tenant::{
    ApiError, Credentials, ExportPolling, ManagementClient, PacingConfig, ProgressHook,
    TenantTarget, UserReads,
};

/// Every scope verifyctl may need; the tenant-file session's ephemeral client gets these.
pub const REQUIRED_SCOPES: [&str; 11] = [
    "read:users",
    "create:users",
    "update:users",
    "delete:users",
    "read:connections",
    "read:clients",
    "update:connections",
    "read:actions",
    "create:actions",
    "update:actions",
    "read:logs",
];

/// Where to find the tenant.
#[derive(Debug, Clone)]
pub enum TenantSource {
    /// A real tenant.
    Live {
        domain: String,
        /// The Management API audience when it is not `https://DOMAIN/api/v2/` (a custom
        /// domain in `domain`): `AUTH0_AUDIENCE`.
        audience: Option<String>,
        credentials: Credentials,
    },
    /// A tenant file (YAML or JSON) served by the built-in emulator.
    File(PathBuf),
}

/// Why a session could not start or finish.
#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    #[error(transparent)]
    Api(#[from] ApiError),
    #[error(transparent)]
    TenantFile(#[from] crate::emulator::TenantFileError),
    #[error("cannot start the built-in emulator: {0}")]
    Emulator(std::io::Error),
}

/// An open connection to a tenant.
pub struct TenantSession {
    client: ManagementClient,
    label: String,
    file: Option<FileTenant>,
}

struct FileTenant {
    path: PathBuf,
    emulator: Emulator,
    running: RunningEmulator,
    /// The tenant as served at the start, so an unchanged tenant is not rewritten (which
    /// would only reformat the file and drop its comments). Kept only by sessions that may
    /// write back ([`TenantSession::track_changes`]).
    loaded: Option<crate::emulator::TenantState>,
}

impl TenantSession {
    /// Connects; for a tenant file, loads it and starts the emulator in this process. The
    /// client is paced as `pacing` says (the tenant's own headers, a share of them, a cap).
    pub async fn open(
        source: &TenantSource,
        config: EmulatorConfig,
        pacing: PacingConfig,
    ) -> Result<TenantSession, SessionError> {
        let session = Self::connect(source, config).await?;
        Ok(TenantSession {
            client: session.client.with_pacing(pacing),
            ..session
        })
    }

    async fn connect(
        source: &TenantSource,
        config: EmulatorConfig,
    ) -> Result<TenantSession, SessionError> {
        match source {
            TenantSource::Live {
                domain,
                audience,
                credentials,
            } => {
                let target = TenantTarget::parse_with_audience(domain, audience.as_deref())?;
                let label = target.identity();
                Ok(TenantSession {
                    client: ManagementClient::new(target, credentials.clone())?,
                    label,
                    file: None,
                })
            }
            TenantSource::File(path) => Self::open_file(path, config).await,
        }
    }

    async fn open_file(path: &Path, config: EmulatorConfig) -> Result<TenantSession, SessionError> {
        let state = load_tenant_file(path)?;
        let emulator = Emulator::new(state, config);
        // An ephemeral machine-to-machine client, valid for this process only.
        let client_id = format!("verifyctl-cli-{}", random_hex(8));
        let client_secret = Secret::new(random_hex(32));
        emulator.add_client_credentials(&client_id, client_secret.expose(), &REQUIRED_SCOPES);
        let running = emulator
            .spawn(std::net::SocketAddr::from(([127, 0, 0, 1], 0)))
            .await
            .map_err(SessionError::Emulator)?;
        let target = TenantTarget::parse(&running.base_url())?;
        // The emulator finishes jobs as soon as it is asked again: poll it without delay.
        let reads = UserReads {
            polling: ExportPolling {
                first: std::time::Duration::from_millis(10),
                ..ExportPolling::default()
            },
            ..UserReads::default()
        };
        let client = ManagementClient::new(
            target,
            Credentials::ClientCredentials {
                client_id,
                client_secret,
            },
        )?
        .with_user_reads(reads);
        Ok(TenantSession {
            client,
            label: format!("tenant file {}", path.display()),
            file: Some(FileTenant {
                path: path.to_path_buf(),
                emulator,
                running,
                loaded: None,
            }),
        })
    }

    /// Remembers the tenant file's state now, so that closing with `write_back` rewrites
    /// the file only when it changed. Call it before the first write.
    pub fn track_changes(&mut self) {
        if let Some(file) = &mut self.file {
            file.loaded = Some(file.emulator.snapshot());
        }
    }

    /// Reports long reads (export jobs) to `hook` while they wait.
    pub fn with_read_progress(self, hook: ProgressHook) -> TenantSession {
        TenantSession {
            client: self.client.with_progress(hook),
            ..self
        }
    }

    pub fn client(&self) -> &ManagementClient {
        &self.client
    }

    /// The scopes the tenant granted this session's token (see
    /// [`ManagementClient::granted_scopes`]).
    pub async fn granted_scopes(
        &self,
    ) -> Result<Option<std::collections::BTreeSet<String>>, ApiError> {
        self.client.granted_scopes().await
    }

    /// What to call the tenant in reports.
    pub fn label(&self) -> &str {
        &self.label
    }

    /// The in-process emulator, for a tenant-file session.
    pub fn emulator(&self) -> Option<&Emulator> {
        self.file.as_ref().map(|f| &f.emulator)
    }

    /// Ends the session. With `write_back`, a tenant file that changed gets the emulator's
    /// state (atomically: a temporary file renamed over it).
    pub async fn close(self, write_back: bool) -> Result<(), SessionError> {
        if let Some(file) = self.file {
            if write_back {
                let state = file.emulator.snapshot();
                if file.loaded.as_ref() != Some(&state) {
                    save_tenant_file(&file.path, &state)?;
                }
            }
            file.running.shutdown().await;
        }
        Ok(())
    }
}

fn random_hex(bytes: usize) -> String {
    use rand::TryRng;
    let mut buffer = vec![0u8; bytes];
    if rand::rngs::SysRng.try_fill_bytes(&mut buffer).is_err() {
        // Only an in-process emulator credential: uniqueness matters, not secrecy from us.
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or_default();
        buffer = nanos
            .to_le_bytes()
            .iter()
            .copied()
            .cycle()
            .take(bytes)
            .collect();
    }
    buffer.iter().map(|b| format!("{b:02x}")).collect()
}
