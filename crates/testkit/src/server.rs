//! The HTTP/1 server loop shared by the three fakes.

use std::{io, net::SocketAddr};

use axum::Router;
use hyper_util::{rt::TokioIo, service::TowerToHyperService};
use tokio::{net::TcpListener, task::JoinSet};

/// Stops the server when dropped: the accept loop and every open connection with it.
#[derive(Debug)]
pub(crate) struct ServerGuard {
    task: tokio::task::AbortHandle,
}

impl ServerGuard {
    pub(crate) fn stop(&self) {
        self.task.abort();
    }
}

impl Drop for ServerGuard {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Binds 127.0.0.1:`port` (0 for an ephemeral port) and serves `router` on the current runtime.
pub(crate) async fn serve(router: Router, port: u16) -> io::Result<(SocketAddr, ServerGuard)> {
    let listener = TcpListener::bind((std::net::Ipv4Addr::LOCALHOST, port)).await?;
    let address = listener.local_addr()?;
    let task = tokio::spawn(accept_loop(listener, router));
    Ok((
        address,
        ServerGuard {
            task: task.abort_handle(),
        },
    ))
}

async fn accept_loop(listener: TcpListener, router: Router) {
    // Connections live in this set so that aborting the loop aborts them too; `axum::serve`
    // detaches them, which would leave a hanging request alive after shutdown.
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let stream = match accepted {
                    Ok((stream, _)) => stream,
                    Err(error) => {
                        tracing::warn!(%error, "accept failed");
                        continue;
                    }
                };
                let service = TowerToHyperService::new(router.clone());
                connections.spawn(async move {
                    let connection = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service);
                    if let Err(error) = connection.await {
                        tracing::debug!(%error, "connection ended with an error");
                    }
                });
            }
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
}
