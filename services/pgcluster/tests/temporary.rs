//! Temporary clusters against the machine's real PostgreSQL binaries:
//! lifecycle, restart, parallel clusters, cleanup.

use std::net::{Ipv4Addr, TcpStream};
use std::sync::Arc;
use std::time::Instant;

use pgcluster::Cluster;

fn connects(port: u16) -> bool {
    TcpStream::connect((Ipv4Addr::LOCALHOST, port)).is_ok()
}

#[test]
fn start_temporary_runs_and_drop_cleans_up() {
    let started = Instant::now();
    let cluster = Cluster::start_temporary().expect("start_temporary");
    eprintln!("start_temporary took {:?}", started.elapsed());

    let port = cluster.port();
    let data_dir = cluster.data_dir().to_path_buf();
    assert!(cluster.is_running());
    assert!(connects(port));
    assert!(data_dir.join("PG_VERSION").is_file());
    assert!(data_dir.starts_with(std::env::temp_dir()));

    let root = data_dir.parent().unwrap().to_path_buf();
    drop(cluster);
    assert!(!root.exists(), "{} should be removed", root.display());
    assert!(!connects(port), "port {port} should refuse connections");
}

#[test]
fn urls_name_the_port_and_encode_credentials() {
    let cluster = Cluster::start_temporary().unwrap();
    let port = cluster.port();
    let admin = cluster.admin_url();
    let prefix = "postgres://postgres:";
    let suffix = format!("@127.0.0.1:{port}/postgres");
    assert!(admin.starts_with(prefix) && admin.ends_with(&suffix), "{admin}");
    let password = &admin[prefix.len()..admin.len() - suffix.len()];
    assert_eq!(password.len(), 32);
    assert_eq!(
        cluster.url("app user", "p@ss/word", "loans"),
        format!("postgres://app%20user:p%40ss%2Fword@127.0.0.1:{port}/loans")
    );
    assert!(!format!("{cluster:?}").contains(password));
}

#[test]
fn stop_then_start_keeps_the_port() {
    let cluster = Cluster::start_temporary().unwrap();
    let port = cluster.port();

    cluster.stop().unwrap();
    assert!(!cluster.is_running());
    assert!(!connects(port));
    cluster.stop().unwrap(); // idempotent

    cluster.start().unwrap();
    assert!(cluster.is_running());
    assert_eq!(cluster.port(), port);
    assert!(connects(port));
    cluster.start().unwrap(); // idempotent
    assert!(cluster.is_running());
}

#[test]
fn clusters_started_concurrently_are_independent() {
    let handles: Vec<_> =
        (0..2).map(|_| std::thread::spawn(|| Arc::new(Cluster::start_temporary().unwrap()))).collect();
    let clusters: Vec<Arc<Cluster>> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    assert_ne!(clusters[0].port(), clusters[1].port());
    assert_ne!(clusters[0].data_dir(), clusters[1].data_dir());
    assert_ne!(clusters[0].admin_url(), clusters[1].admin_url());
    assert!(clusters.iter().all(|c| c.is_running()));

    // Stopping one leaves the other alone; both are usable from other threads.
    let first = Arc::clone(&clusters[0]);
    std::thread::spawn(move || first.stop().unwrap()).join().unwrap();
    assert!(!clusters[0].is_running());
    assert!(clusters[1].is_running());
}

#[test]
fn cluster_is_shareable_between_threads() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<Cluster>();
    assert_send_sync::<pgcluster::Error>();
}

#[test]
fn start_on_a_taken_port_reports_the_server_log() {
    let cluster = Cluster::start_temporary().unwrap();
    cluster.stop().unwrap();
    let squatter = std::net::TcpListener::bind((Ipv4Addr::LOCALHOST, cluster.port())).unwrap();
    let message = cluster.start().unwrap_err().to_string();
    assert!(message.contains("pg_ctl start"), "{message}");
    assert!(message.contains("Address already in use"), "{message}");
    drop(squatter);
    cluster.start().unwrap();
    assert!(cluster.is_running());
}
