//! Status round trips on one connection and with 50 concurrent clients, and the wall time of a
//! whole `cxd status` process. Run through `bench/run`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::os::unix::net::UnixStream;
use std::time::{Duration, Instant};

use cxd_bench::summarize;
use cxd_e2e::TestEnv;
use cxd_proto::{Hello, Request, Response, read_frame, write_frame};

fn connect(env: &TestEnv) -> UnixStream {
    let mut s = UnixStream::connect(env.socket()).unwrap();
    write_frame(&mut s, &Hello::new()).unwrap();
    assert!(matches!(
        read_frame::<_, Response>(&mut s).unwrap(),
        Response::Welcome { .. }
    ));
    s
}

fn round_trip(s: &mut UnixStream) -> Duration {
    let t = Instant::now();
    write_frame(s, &Request::Status { path: None }).unwrap();
    let r: Response = read_frame(s).unwrap();
    let d = t.elapsed();
    assert!(matches!(r, Response::Status(_)));
    d
}

fn main() {
    let env = TestEnv::new();
    let _daemon = env.start_daemon();

    let mut s = connect(&env);
    for _ in 0..200 {
        round_trip(&mut s);
    }
    let mut one: Vec<_> = (0..10_000).map(|_| round_trip(&mut s)).collect();
    println!(
        "status round trip, 1 connection:     {}",
        summarize(&mut one)
    );

    let threads: Vec<_> = (0..50)
        .map(|_| {
            let mut s = connect(&env);
            std::thread::spawn(move || (0..200).map(|_| round_trip(&mut s)).collect::<Vec<_>>())
        })
        .collect();
    let mut many: Vec<_> = threads
        .into_iter()
        .flat_map(|t| t.join().unwrap())
        .collect();
    println!(
        "status round trip, 50 clients:       {}",
        summarize(&mut many)
    );

    for _ in 0..20 {
        env.ok(&["status"]);
    }
    let mut procs: Vec<_> = (0..300)
        .map(|_| {
            let t = Instant::now();
            let out = env.run(&["status"]);
            let d = t.elapsed();
            assert!(out.status.success());
            d
        })
        .collect();
    println!(
        "`cxd status` whole process:          {}",
        summarize(&mut procs)
    );
}
