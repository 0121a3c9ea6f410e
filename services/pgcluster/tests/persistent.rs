//! Persistent clusters against the machine's real PostgreSQL binaries: data,
//! password and port survive a restart; a server left running is taken over.

use std::path::{Path, PathBuf};

use pgcluster::Cluster;

/// A unique directory for one test, removed at the end.
struct TestDir(PathBuf);

impl TestDir {
    fn new(name: &str) -> Self {
        let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos();
        let path = std::env::temp_dir().join(format!("pgcluster-test-{name}-{}-{nanos}", std::process::id()));
        TestDir(path)
    }
}

impl Drop for TestDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn password_file(dir: &Path) -> String {
    std::fs::read_to_string(dir.join("superuser-password")).unwrap()
}

#[test]
fn second_start_reuses_data_password_and_port() {
    let dir = TestDir::new("reuse");
    // Not yet existing: start_persistent creates it.
    let first = Cluster::start_persistent(&dir.0.join("cluster")).unwrap();
    let root = dir.0.join("cluster");
    assert!(first.is_running());
    assert_eq!(first.data_dir(), root.canonicalize().unwrap().join("data"));
    let marker = first.data_dir().join("PG_VERSION");
    let created = std::fs::metadata(&marker).unwrap().modified().unwrap();
    let (password, url, port) = (password_file(&root), first.admin_url(), first.port());
    drop(first);

    assert!(root.join("data").join("PG_VERSION").is_file(), "data is kept");
    assert!(std::net::TcpStream::connect(("127.0.0.1", port)).is_err());

    let second = Cluster::start_persistent(&root).unwrap();
    assert!(second.is_running());
    assert_eq!(password_file(&root), password);
    assert_eq!(std::fs::metadata(&marker).unwrap().modified().unwrap(), created, "not re-initialised");
    // The port is reused unless someone else grabbed it meanwhile.
    if second.port() == port {
        assert_eq!(second.admin_url(), url);
    }
}

#[test]
fn server_left_running_is_taken_over() {
    let dir = TestDir::new("leftover");
    let first = Cluster::start_persistent(&dir.0).unwrap();
    let first_port = first.port();
    // Simulate a run that never dropped its cluster.
    std::mem::forget(first);
    assert!(std::net::TcpStream::connect(("127.0.0.1", first_port)).is_ok());

    let second = Cluster::start_persistent(&dir.0).unwrap();
    assert!(second.is_running());
    second.stop().unwrap();
    assert!(!second.is_running());
    assert!(std::net::TcpStream::connect(("127.0.0.1", first_port)).is_err());
}

#[test]
fn a_non_cluster_data_directory_is_refused() {
    let dir = TestDir::new("garbage");
    std::fs::create_dir_all(dir.0.join("data")).unwrap();
    std::fs::write(dir.0.join("data").join("something"), "x").unwrap();
    let err = Cluster::start_persistent(&dir.0).unwrap_err();
    assert!(err.to_string().contains("PG_VERSION"), "{err}");
}

#[test]
fn as_root_an_unreachable_directory_is_refused_clearly() {
    use std::os::unix::fs::{DirBuilderExt, MetadataExt};
    if std::fs::metadata("/proc/self").unwrap().uid() != 0 {
        return; // Only root hands the cluster to the `postgres` user.
    }
    let dir = TestDir::new("private");
    std::fs::DirBuilder::new().mode(0o700).create(&dir.0).unwrap();
    let err = Cluster::start_persistent(&dir.0.join("cluster")).unwrap_err();
    assert!(err.to_string().contains("`postgres` user"), "{err}");
}
