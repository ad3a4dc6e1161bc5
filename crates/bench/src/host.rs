//! [`Host`]: a thread with a single-threaded runtime of its own, standing for another
//! machine. An arm's simulated providers run on one, so their work (HTTP, JSON, the
//! latency they sleep) is not scheduled among the bot's and the gateway's tasks: a real
//! provider does not share the bot's runtime either, and the detection oracle assumes no
//! such cost. The gateway runs on its own workers too, as `dualrpc serve` does.

use std::future::Future;
use std::thread::JoinHandle;

use tokio::runtime::Handle;
use tokio::sync::oneshot;

/// A running host thread; [`Host::stop`] (or dropping it, which blocks the caller while the
/// thread ends) stops its runtime, ending every task on it, and joins the thread.
#[derive(Debug)]
pub struct Host {
    handle: Handle,
    stop: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl Host {
    /// Starts a host thread called `name`.
    pub fn start(name: &str) -> std::io::Result<Host> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let handle = runtime.handle().clone();
        let (stop, stopped) = oneshot::channel::<()>();
        let thread = std::thread::Builder::new()
            .name(name.into())
            .spawn(move || {
                runtime.block_on(async {
                    let _ = stopped.await;
                });
            })?;
        Ok(Host {
            handle,
            stop: Some(stop),
            thread: Some(thread),
        })
    }

    /// Stops the host's runtime (ending every task on it) and waits for its thread off the
    /// caller's runtime.
    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = tokio::task::spawn_blocking(move || t.join()).await;
        }
    }

    /// Runs `future` on the host (whatever it spawns stays there) and returns its output.
    pub async fn run<F>(&self, future: F) -> std::io::Result<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        self.handle
            .spawn(future)
            .await
            .map_err(|e| std::io::Error::other(format!("host task failed: {e}")))
    }
}

impl Drop for Host {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn runs_a_future_on_its_own_thread_and_stops_when_dropped() {
        let host = Host::start("test-host").unwrap();
        let name = host
            .run(async { std::thread::current().name().map(str::to_string) })
            .await
            .unwrap();
        assert_eq!(name.as_deref(), Some("test-host"));
        // A task spawned there keeps running until the host is dropped.
        let (tx, rx) = oneshot::channel::<()>();
        host.run(async move {
            tokio::spawn(async move {
                let _keep = tx;
                std::future::pending::<()>().await;
            });
        })
        .await
        .unwrap();
        drop(host);
        // Its runtime is gone: the task (and its sender) were dropped.
        assert!(rx.await.is_err());
    }
}
