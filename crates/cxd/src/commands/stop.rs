//! `cxd stop`: ask the daemon to shut down and wait until it has.

use std::process::ExitCode;
use std::time::{Duration, Instant};

use cxd_proto::paths::Paths;
use cxd_proto::{Request, Response};

use crate::client::Client;
use crate::exit::{Failure, UNREACHABLE};

/// How long to wait for the socket to disappear.
const STOP_WAIT: Duration = Duration::from_secs(10);

pub fn run(paths: &Paths) -> anyhow::Result<ExitCode> {
    let mut client = Client::connect(paths)?;
    match client.request(&Request::Stop)? {
        Response::Ok { .. } => {}
        other => {
            return Err(
                Failure::new(UNREACHABLE, format!("unexpected reply to stop: {other:?}")).into(),
            );
        }
    }
    drop(client);
    let deadline = Instant::now() + STOP_WAIT;
    while paths.socket.exists() {
        if Instant::now() > deadline {
            return Err(Failure::new(
                UNREACHABLE,
                format!(
                    "the daemon accepted the stop but its socket {} is still there after {}s; check its log",
                    paths.socket.display(),
                    STOP_WAIT.as_secs()
                ),
            )
            .into());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    // The socket goes first; the instance lock last, when the process is about to exit. A
    // `cxd daemon` right after `cxd stop` must find it free.
    let lock = paths.state_dir.join("daemon.lock");
    while !lock_free(&lock) {
        if Instant::now() > deadline {
            return Err(Failure::new(
                UNREACHABLE,
                format!(
                    "the daemon removed its socket but still holds {} after {}s; check its log",
                    lock.display(),
                    STOP_WAIT.as_secs()
                ),
            )
            .into());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    println!("cxd daemon stopped");
    Ok(ExitCode::SUCCESS)
}

/// Whether no process holds the daemon's instance lock.
fn lock_free(lock: &std::path::Path) -> bool {
    match std::fs::File::open(lock) {
        Ok(f) => f.try_lock().is_ok(),
        Err(_) => true,
    }
}
