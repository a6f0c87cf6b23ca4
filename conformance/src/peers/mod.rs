//! Harness-hosted peers: the servers a SUT talks to while it is driven.
//!
//! - [`embeddings`]: an OpenAI-compatible `POST /v1/embeddings` server with
//!   deterministic vectors, a request log, switchable faults and a gate that
//!   holds requests (so the harness controls when the SUT finishes loading).
//! - [`otlp`]: an OTLP receiver, HTTP (`/v1/traces`, `/v1/logs`; protobuf
//!   and JSON, gzip) and gRPC (h2c, gzip) on two ports, turning what arrives
//!   into [`crate::observe`] records.
//!
//! All listen on `127.0.0.1:0` and stop when dropped.

pub mod embeddings;
pub mod otlp;

use std::net::SocketAddr;

use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// A peer could not start.
#[derive(Debug, thiserror::Error)]
pub enum PeerError {
    /// Binding the loopback listener failed.
    #[error(
        "the {peer} peer could not listen on its loopback address: {source}; check that loopback networking is available"
    )]
    Bind {
        peer: &'static str,
        #[source]
        source: std::io::Error,
    },
}

/// A running axum server; shuts down (gracefully, then by abort) on drop.
#[derive(Debug)]
pub(crate) struct ServerHandle {
    addr: SocketAddr,
    shutdown: Option<oneshot::Sender<()>>,
    task: JoinHandle<()>,
}

impl ServerHandle {
    /// Bind `127.0.0.1:0` and serve `router` on it.
    pub(crate) async fn serve(peer: &'static str, router: axum::Router) -> Result<Self, PeerError> {
        Self::serve_on(peer, SocketAddr::from(([127, 0, 0, 1], 0)), router).await
    }

    /// Bind `addr` and serve `router` on it.
    pub(crate) async fn serve_on(
        peer: &'static str,
        addr: SocketAddr,
        router: axum::Router,
    ) -> Result<Self, PeerError> {
        let listener = TcpListener::bind(addr)
            .await
            .map_err(|source| PeerError::Bind { peer, source })?;
        let addr = listener
            .local_addr()
            .map_err(|source| PeerError::Bind { peer, source })?;
        let (tx, rx) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            let served = axum::serve(listener, router)
                .with_graceful_shutdown(async move {
                    let _ = rx.await;
                })
                .await;
            if let Err(e) = served {
                tracing::warn!(peer, error = %e, "peer server stopped with an error");
            }
        });
        Ok(Self {
            addr,
            shutdown: Some(tx),
            task,
        })
    }

    pub(crate) fn addr(&self) -> SocketAddr {
        self.addr
    }
}

impl Drop for ServerHandle {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        // Held requests (gate, delay) would keep a graceful shutdown waiting:
        // the harness never waits for its own peers.
        self.task.abort();
    }
}

/// Both peers of one run.
#[derive(Debug)]
pub struct Peers {
    pub embeddings: embeddings::EmbeddingsServer,
    pub otlp: otlp::OtlpReceiver,
}

impl Peers {
    /// Start the embeddings server (with `config`) and the OTLP receiver.
    pub async fn start(config: embeddings::EmbeddingsConfig) -> Result<Self, PeerError> {
        let embeddings = embeddings::EmbeddingsServer::start(config).await?;
        let otlp = otlp::OtlpReceiver::start().await?;
        Ok(Self { embeddings, otlp })
    }
}
