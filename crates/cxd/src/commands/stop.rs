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
    let mut client = Client::connect(&paths.socket)?;
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
    println!("cxd daemon stopped");
    Ok(ExitCode::SUCCESS)
}
