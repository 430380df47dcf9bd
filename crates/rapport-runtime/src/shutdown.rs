//! One signal listener, one cancellation token, every component under one task tracker.
//!
//! Any component that returns an error cancels the token, so a failing part stops the whole
//! process instead of leaving a half-working service behind a green health check.

use std::future::Future;

use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{error, info};

#[derive(Debug, Clone, Default)]
pub struct Shutdown {
    token: CancellationToken,
    tracker: TaskTracker,
}

impl Shutdown {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn token(&self) -> CancellationToken {
        self.token.clone()
    }

    pub fn is_triggered(&self) -> bool {
        self.token.is_cancelled()
    }

    pub fn trigger(&self) {
        self.token.cancel();
    }

    /// Resolves when shutdown has been triggered, by a signal or by a failing component.
    pub async fn triggered(&self) {
        self.token.cancelled().await;
    }

    /// Cancels the token on the first SIGINT or SIGTERM.
    pub fn listen_for_signals(&self) {
        let token = self.token.clone();
        self.tracker.spawn(async move {
            tokio::select! {
                () = wait_for_signal() => {
                    info!("shutdown signal received; draining");
                    token.cancel();
                }
                () = token.cancelled() => {}
            }
        });
    }

    /// Runs a component; its error triggers shutdown for everyone.
    pub fn spawn<F, E>(&self, name: &'static str, component: F)
    where
        F: Future<Output = Result<(), E>> + Send + 'static,
        E: std::fmt::Display + Send + 'static,
    {
        let token = self.token.clone();
        self.tracker.spawn(async move {
            if let Err(error) = component.await {
                error!(component = name, %error, "component failed; shutting down");
                token.cancel();
            }
        });
    }

    /// Waits for every spawned component to finish.
    pub async fn wait(&self) {
        self.tracker.close();
        self.tracker.wait().await;
    }
}

async fn wait_for_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    match (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) {
        (Ok(mut term), Ok(mut int)) => {
            tokio::select! {
                _ = term.recv() => {}
                _ = int.recv() => {}
            }
        }
        _ => {
            error!("cannot install signal handlers; only ctrl-c will stop the process");
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn failing_component_triggers_shutdown() {
        let shutdown = Shutdown::new();
        let token = shutdown.token();
        shutdown.spawn("ok", async move {
            token.cancelled().await;
            Ok::<(), String>(())
        });
        shutdown.spawn("bad", async { Err::<(), _>("boom") });
        shutdown.wait().await;
        assert!(shutdown.is_triggered());
    }

    #[tokio::test]
    async fn successful_components_do_not_trigger_shutdown() {
        let shutdown = Shutdown::new();
        shutdown.spawn("done", async { Ok::<(), String>(()) });
        shutdown.wait().await;
        assert!(!shutdown.is_triggered());
    }
}
