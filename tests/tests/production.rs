//! The production posture, from the edge: tokens checked against the
//! identity provider's keys fetched over verified https (rotation by `kid`,
//! unknown kids not hammering it), no HS256; feeds read by client
//! certificate, only by the peers named to read them, by a consumer that
//! mints nothing; the kubelet's plaintext health port beside a port that
//! demands mTLS; PostgreSQL over `sslmode=verify-full`.

use std::sync::{
    Arc, Mutex,
    atomic::{AtomicUsize, Ordering},
};
use std::time::{Duration, Instant};

use e2e::{Db, NOT_SERVING, SERVING, authorized, certs, eventually, health, reason, services};
use socialloans_contracts::applications::{self as ap, applications_service_client::ApplicationsServiceClient};
use socialloans_platform::Role;
use tonic::Code;
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Identity};

/// The identity provider's JWKS endpoint: https on loopback with a
/// certificate from `ca`, answering every GET with the current document.
struct JwksEndpoint {
    body: Arc<Mutex<String>>,
    fetches: Arc<AtomicUsize>,
    task: tokio::task::JoinHandle<()>,
}

impl JwksEndpoint {
    async fn start(addr: std::net::SocketAddr, ca: &certs::Ca, body: String) -> JwksEndpoint {
        use rustls_pki_types::{CertificateDer, PrivateKeyDer, pem::PemObject};
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let (cert, key) = ca.leaf(&["localhost"]);
        let config = tokio_rustls::rustls::ServerConfig::builder()
            .with_no_client_auth()
            .with_single_cert(
                vec![CertificateDer::from_pem_slice(cert.as_bytes()).unwrap()],
                PrivateKeyDer::from_pem_slice(key.as_bytes()).unwrap(),
            )
            .unwrap();
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
        let listener = tokio::net::TcpListener::bind(addr).await.unwrap();
        let (body, fetches) = (Arc::new(Mutex::new(body)), Arc::new(AtomicUsize::new(0)));
        let (document, count) = (body.clone(), fetches.clone());
        let task = tokio::spawn(async move {
            while let Ok((tcp, _)) = listener.accept().await {
                let (acceptor, document, count) = (acceptor.clone(), document.clone(), count.clone());
                tokio::spawn(async move {
                    let Ok(mut tls) = acceptor.accept(tcp).await else { return };
                    let mut request = Vec::new();
                    let mut buf = [0u8; 1024];
                    while !request.windows(4).any(|w| w == b"\r\n\r\n") && request.len() < 16 * 1024 {
                        match tls.read(&mut buf).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => request.extend_from_slice(&buf[..n]),
                        }
                    }
                    count.fetch_add(1, Ordering::SeqCst);
                    let body = document.lock().unwrap().clone();
                    let response = format!(
                        "HTTP/1.1 200 OK\r\ncontent-type: application/jwk-set+json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                        body.len()
                    );
                    let _ = tls.write_all(response.as_bytes()).await;
                    let _ = tls.shutdown().await;
                });
            }
        });
        JwksEndpoint { body, fetches, task }
    }

    fn publish(&self, body: String) {
        *self.body.lock().unwrap() = body;
    }

    fn fetches(&self) -> usize {
        self.fetches.load(Ordering::SeqCst)
    }
}

impl Drop for JwksEndpoint {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// A directory of PEM files, removed at the end.
struct Files(std::path::PathBuf);

impl Files {
    fn new(label: &str) -> Files {
        Files(certs::temp_dir(label))
    }

    fn write(&self, name: &str, contents: &str) -> String {
        certs::write(&self.0, name, contents).display().to_string()
    }

    /// A leaf of `ca` for `names`, written as `<file>.pem` and `<file>.key`.
    fn leaf(&self, ca: &certs::Ca, file: &str, names: &[&str]) -> (String, String) {
        let (cert, key) = ca.leaf(names);
        (self.write(&format!("{file}.pem"), &cert), self.write(&format!("{file}.key"), &key))
    }
}

impl Drop for Files {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Without HS256: the development secret and its switch removed.
const NO_HS256: [(&str, &str); 2] = [("AUTH_HS256_SECRET", ""), ("AUTH_ALLOW_HS256", "")];

fn list(token: &str) -> tonic::Request<ap::ListApplicationsRequest> {
    authorized(ap::ListApplicationsRequest::default(), token)
}

fn staff_token(key: &certs::SigningKey, role: Role) -> String {
    key.minter().mint("anna.analyst", &[role], None, Duration::from_secs(3600))
}

#[tokio::test]
async fn tokens_are_checked_against_the_identity_providers_keys_fetched_over_https_and_rotated_by_kid() {
    let db = Db::prepared(&e2e::specs()).await;
    let files = Files::new("jwks");
    let idp_ca = certs::Ca::new("identity provider CA");
    let ca_file = files.write("idp-ca.pem", &idp_ca.pem());
    let idp_addr = e2e::reserved_addr();
    let url = format!("https://localhost:{}/.well-known/jwks.json", idp_addr.port());
    let mut env = NO_HS256.to_vec();
    env.extend([
        ("AUTH_JWKS_URL", url.as_str()),
        ("AUTH_JWKS_CA_FILE", &ca_file),
        ("AUTH_JWKS_MIN_REFETCH_SECONDS", "1"),
    ]);
    let service = services()[0];
    let running = db.serve(service, &env).await;
    let ch = e2e::channel(running.grpc_addr).await;
    let mut client = ApplicationsServiceClient::new(ch.clone());
    let first = certs::SigningKey::new("2026-11-a");

    // The identity provider is not up yet: no keys, so not ready, and a
    // caller is told to come back rather than that its token is bad.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(health(ch.clone(), service.spec.grpc_service()).await, Ok(NOT_SERVING));
    let early = client.list_applications(list(&staff_token(&first, Role::Analyst))).await.unwrap_err();
    assert_eq!((early.code(), reason(&early).as_str()), (Code::Unavailable, "TOKEN_KEYS_UNAVAILABLE"));

    let idp = JwksEndpoint::start(idp_addr, &idp_ca, certs::SigningKey::jwks(&[&first])).await;
    let serving = eventually(Duration::from_secs(20), || {
        let ch = ch.clone();
        async move { health(ch, service.spec.grpc_service()).await == Ok(SERVING) }
    })
    .await;
    assert!(serving, "the service did not become ready once the identity provider answered");
    client.list_applications(list(&staff_token(&first, Role::Analyst))).await.expect("a token from the provider");

    // The development secret's tokens mean nothing here.
    let hs256 = client.list_applications(list(&e2e::token(&[Role::Analyst], None))).await.unwrap_err();
    assert_eq!(hs256.code(), Code::Unauthenticated, "{hs256:?}");

    // Rotation: the provider publishes a new key and retires the old one.
    // A token with the new kid is accepted at once (its unknown kid makes the
    // service fetch again); the retired key's tokens stop working.
    let second = certs::SigningKey::new("2026-12-a");
    idp.publish(certs::SigningKey::jwks(&[&second]));
    let rotated = eventually(Duration::from_secs(5), || {
        let (mut client, token) = (client.clone(), staff_token(&second, Role::Analyst));
        async move { client.list_applications(list(&token)).await.is_ok() }
    })
    .await;
    assert!(rotated, "a token signed with the rotated key was not accepted");
    let retired = client.list_applications(list(&staff_token(&first, Role::Analyst))).await.unwrap_err();
    assert_eq!(retired.code(), Code::Unauthenticated, "the retired key still verifies: {retired:?}");

    // Tokens naming kids nobody published do not make the service hammer the
    // provider: at most one fetch per AUTH_JWKS_MIN_REFETCH_SECONDS (1 s here).
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let (before, started) = (idp.fetches(), Instant::now());
    for i in 0..40 {
        let forged = certs::SigningKey::new(&format!("unknown-{i}"));
        let refused = client.list_applications(list(&staff_token(&forged, Role::Analyst))).await.unwrap_err();
        assert_eq!(refused.code(), Code::Unauthenticated);
    }
    let allowed = 1 + started.elapsed().as_secs() as usize;
    let fetched = idp.fetches() - before;
    assert!(fetched <= allowed, "{fetched} fetches for 40 unknown kids in {:?}", started.elapsed());
    running.stop().await.unwrap();
}

/// TLS to the applications service as `identity` (a client certificate), trusting `ca`.
async fn tls_client(
    addr: std::net::SocketAddr,
    ca: &certs::Ca,
    identity: Option<(&str, &str)>,
) -> ApplicationsServiceClient<Channel> {
    let mut tls = ClientTlsConfig::new().ca_certificate(Certificate::from_pem(ca.pem())).domain_name("localhost");
    if let Some((cert, key)) = identity {
        tls = tls.identity(Identity::from_pem(std::fs::read(cert).unwrap(), std::fs::read(key).unwrap()));
    }
    let channel = Channel::from_shared(format!("https://localhost:{}", addr.port()))
        .unwrap()
        .tls_config(tls)
        .unwrap()
        .connect()
        .await
        .expect("TLS connect");
    ApplicationsServiceClient::new(channel)
}

#[tokio::test]
async fn a_feed_is_read_by_client_certificate_only_by_the_peers_named_to_read_it() {
    let db = Db::prepared(&e2e::specs()).await;
    let files = Files::new("feed-readers");
    let ca = certs::Ca::new("suite CA");
    let ca_file = files.write("ca.pem", &ca.pem());
    let (server_cert, server_key) = files.leaf(&ca, "applications", &["localhost"]);
    let committee_id = files.leaf(&ca, "committee", &["committee"]);
    let stranger_id = files.leaf(&ca, "stranger", &["stranger"]);
    let portal_id = files.leaf(&ca, "portal", &["member-portal"]);

    // The applications service speaks only mTLS; its feed is the committee's.
    // People's tokens stay on the development secret here (the JWKS test
    // above covers the provider), so the story can be driven.
    let applications = db
        .serve(
            services()[0],
            &[
                ("TLS_CERT_FILE", &server_cert),
                ("TLS_KEY_FILE", &server_key),
                ("TLS_CLIENT_CA_FILE", &ca_file),
                ("FEED_READERS", "committee"),
                ("OUTBOX_POLL_MS", "100"),
            ],
        )
        .await;
    // The committee holds no secret to mint with and no token: its client
    // certificate is how it reads the feed.
    let committee_keys = files.write("committee-jwks.json", &certs::SigningKey::jwks(&[&certs::SigningKey::new("k")]));
    let feed_url = format!("https://localhost:{}", applications.grpc_addr.port());
    let mut env = NO_HS256.to_vec();
    env.extend([
        ("AUTH_JWKS_FILE", committee_keys.as_str()),
        ("APPLICATIONS_FEED_URL", &feed_url),
        ("PEER_TLS_CA_FILE", &ca_file),
        ("PEER_TLS_CERT_FILE", &committee_id.0),
        ("PEER_TLS_KEY_FILE", &committee_id.1),
        ("FEED_HEARTBEAT_MS", "300"),
    ]);
    let committee = db.serve(services()[1], &env).await;

    // An application referred by the people who work it reaches the committee.
    let mut portal = tls_client(applications.grpc_addr, &ca, Some((&portal_id.0, &portal_id.1))).await;
    let name = e2e::flow::refer(&mut portal, e2e::pilots::eidar()).await;
    let committee_pool = e2e::events::committee_pool(&db).await;
    let opened = eventually(Duration::from_secs(15), || {
        let (pool, name) = (committee_pool.clone(), name.clone());
        async move {
            sqlx::query_scalar::<_, i64>("SELECT count(*) FROM committee_case WHERE application = $1")
                .bind(name)
                .fetch_one(&pool)
                .await
                .unwrap_or(0)
                == 1
        }
    })
    .await;
    assert!(opened, "the committee never opened a case: it could not read the feed by its certificate");

    // The committee's certificate reads the feed, and nothing else.
    let mut as_committee = tls_client(applications.grpc_addr, &ca, Some((&committee_id.0, &committee_id.1))).await;
    let no_token = || tonic::Request::new(socialloans_contracts::events::StreamEventsRequest::default());
    assert!(as_committee.stream_events(no_token()).await.is_ok(), "the named reader's certificate reads the feed");
    let get = tonic::Request::new(ap::GetApplicationRequest { name: name.clone() });
    let denied = as_committee.get_application(get).await.unwrap_err();
    assert_eq!((denied.code(), reason(&denied).as_str()), (Code::PermissionDenied, "ROLE_NOT_ALLOWED"));
    let listed = as_committee.list_applications(list(&e2e::token(&[Role::Service], None))).await.unwrap_err();
    assert_eq!(listed.code(), Code::PermissionDenied, "a service token reads no applications: {listed:?}");

    // A certificate from the same CA, for a peer not named: no feed.
    let mut as_stranger = tls_client(applications.grpc_addr, &ca, Some((&stranger_id.0, &stranger_id.1))).await;
    let refused = as_stranger.stream_events(no_token()).await.unwrap_err();
    assert_eq!(refused.code(), Code::Unauthenticated, "{refused:?}");
    // Nor with a service token of its own: the service role is the readers' alone.
    let token = e2e::minter().mint("stranger", &[Role::Service], None, Duration::from_secs(60));
    let refused = as_stranger
        .stream_events(authorized(socialloans_contracts::events::StreamEventsRequest::default(), &token))
        .await
        .unwrap_err();
    assert_eq!((refused.code(), reason(&refused).as_str()), (Code::PermissionDenied, "NOT_A_FEED_READER"));
    // And without a client certificate, no connection at all.
    let bare = Channel::from_shared(format!("https://localhost:{}", applications.grpc_addr.port()))
        .unwrap()
        .tls_config(ClientTlsConfig::new().ca_certificate(Certificate::from_pem(ca.pem())).domain_name("localhost"))
        .unwrap()
        .connect()
        .await;
    if let Ok(channel) = bare {
        let mut client = ApplicationsServiceClient::new(channel);
        assert!(client.stream_events(no_token()).await.is_err(), "a client without a certificate got in");
    }
    committee_pool.close().await;
    committee.stop().await.unwrap();
    applications.stop().await.unwrap();
}

#[tokio::test]
async fn the_kubelet_asks_a_plaintext_health_port_while_the_service_port_demands_mtls() {
    let db = Db::prepared(&e2e::specs()).await;
    let files = Files::new("health-port");
    let ca = certs::Ca::new("suite CA");
    let ca_file = files.write("ca.pem", &ca.pem());
    let (cert, key) = files.leaf(&ca, "applications", &["localhost"]);
    let service = services()[0];
    let running = db
        .serve(
            service,
            &[
                ("TLS_CERT_FILE", &cert),
                ("TLS_KEY_FILE", &key),
                ("TLS_CLIENT_CA_FILE", &ca_file),
                ("GRPC_HEALTH_ADDR", "127.0.0.1:0"),
            ],
        )
        .await;
    let health_addr = running.health_addr.expect("a health-only listener");
    let plain = e2e::channel(health_addr).await;
    let serving = eventually(Duration::from_secs(10), || {
        let ch = plain.clone();
        async move { health(ch, service.spec.grpc_service()).await == Ok(SERVING) }
    })
    .await;
    assert!(serving, "the health port never said SERVING");
    // It serves health and nothing else.
    let mut client = ApplicationsServiceClient::new(plain.clone());
    let other = client.list_applications(list(&e2e::token(&[Role::Analyst], None))).await.unwrap_err();
    assert_eq!(other.code(), Code::Unimplemented, "the health port served a service method: {other:?}");
    // The service port takes no plaintext.
    let main = Channel::from_shared(format!("http://{}", running.grpc_addr))
        .unwrap()
        .connect_timeout(Duration::from_secs(3))
        .timeout(Duration::from_secs(3))
        .connect()
        .await;
    if let Ok(channel) = main {
        assert!(health(channel, "").await.is_err(), "the service port answered in plaintext");
    }
    // The health port follows the service: it says NOT_SERVING while the
    // database is gone, like the service port would.
    db.cluster.stop().unwrap();
    let unready = eventually(Duration::from_secs(10), || {
        let ch = plain.clone();
        async move { health(ch, service.spec.grpc_service()).await == Ok(NOT_SERVING) }
    })
    .await;
    db.cluster.start().unwrap();
    assert!(unready, "the health port kept saying SERVING without a database");
    running.stop().await.unwrap();
}

#[tokio::test]
async fn the_service_reaches_postgresql_over_tls_verified_against_the_databases_ca() {
    let db = Db::prepared(&e2e::specs()).await;
    let files = Files::new("pg-tls");
    let db_ca = certs::Ca::new("database CA");
    let (cert, key) = db_ca.leaf(&["localhost", "127.0.0.1"]);
    db.cluster.enable_ssl(&cert, &key).unwrap();
    let ca_file = files.write("db-ca.pem", &db_ca.pem());
    let stranger_file = files.write("other-ca.pem", &certs::Ca::new("another CA").pem());
    let service = services()[0];
    let verified = |root: &str| format!("{}?sslmode=verify-full&sslrootcert={root}", db.service_url("applications"));

    let url = verified(&ca_file);
    let running = db.serve(service, &[("DATABASE_URL", &url)]).await;
    let ch = e2e::channel(running.grpc_addr).await;
    let serving = eventually(Duration::from_secs(10), || {
        let ch = ch.clone();
        async move { health(ch, service.spec.grpc_service()).await == Ok(SERVING) }
    })
    .await;
    assert!(serving, "the service did not reach PostgreSQL over verified TLS");
    let mut client = ApplicationsServiceClient::new(ch);
    client.list_applications(list(&e2e::token(&[Role::Analyst], None))).await.expect("a query over TLS");
    // PostgreSQL itself says the service's sessions are encrypted.
    let admin = sqlx::PgPool::connect(&db.admin_url()).await.unwrap();
    let (sessions, encrypted): (i64, i64) = sqlx::query_as(
        "SELECT count(*), count(*) FILTER (WHERE s.ssl)
           FROM pg_stat_activity a JOIN pg_stat_ssl s USING (pid) WHERE a.usename = 'applications'",
    )
    .fetch_one(&admin)
    .await
    .unwrap();
    assert!(sessions > 0 && sessions == encrypted, "{encrypted} of {sessions} sessions encrypted");
    running.stop().await.unwrap();

    // A server certificate from another CA is not trusted: never ready.
    let url = verified(&stranger_file);
    let running = db.serve(service, &[("DATABASE_URL", &url)]).await;
    let ch = e2e::channel(running.grpc_addr).await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(health(ch.clone(), service.spec.grpc_service()).await, Ok(NOT_SERVING));
    let mut client = ApplicationsServiceClient::new(ch);
    let refused = client.list_applications(list(&e2e::token(&[Role::Analyst], None))).await.unwrap_err();
    assert_eq!(refused.code(), Code::Unavailable, "{refused:?}");
    let leaked: i64 = sqlx::query_scalar("SELECT count(*) FROM pg_stat_activity WHERE usename = 'applications'")
        .fetch_one(&admin)
        .await
        .unwrap();
    assert_eq!(leaked, 0, "a session was opened to a server the service must not trust");
    admin.close().await;
    running.stop().await.unwrap();
}

#[tokio::test]
async fn roles_and_schemas_are_made_by_a_createrole_owner_of_the_database_not_a_superuser() {
    let db = Db::start();
    let superuser = sqlx::PgPool::connect(&db.cluster.admin_url()).await.unwrap();
    for statement in [
        "CREATE ROLE socialloans_bootstrap LOGIN CREATEROLE PASSWORD 'bootstrap-password'",
        "CREATE DATABASE socialloans OWNER socialloans_bootstrap",
    ] {
        sqlx::query(statement).execute(&superuser).await.unwrap();
    }
    let bootstrapper = db.cluster.url("socialloans_bootstrap", "bootstrap-password", "socialloans");
    // Twice, as a Job that is run again after a password change would.
    for _ in 0..2 {
        for spec in e2e::specs() {
            let name = spec.name;
            socialloans_platform::db::bootstrap(&bootstrapper, &db.service_url(name), &db.owner_url(name), name)
                .await
                .unwrap_or_else(|e| panic!("bootstrap of {name} as a CREATEROLE database owner: {e}"));
            socialloans_platform::db::migrate(&db.owner_url(name), (spec.migrator)(), name, name, spec.append_only)
                .await
                .unwrap();
        }
    }
    let running = db.serve(services()[0], &[]).await;
    let mut client = ApplicationsServiceClient::new(e2e::channel(running.grpc_addr).await);
    client.list_applications(list(&e2e::token(&[Role::Analyst], None))).await.expect("serving on what it made");
    running.stop().await.unwrap();

    // It cannot be talked into handing a service a superuser.
    sqlx::query("ALTER ROLE committee SUPERUSER").execute(&superuser).await.unwrap();
    let spec = e2e::specs()[1];
    let refused = socialloans_platform::db::bootstrap(
        &bootstrapper,
        &db.service_url("committee"),
        &db.owner_url("committee"),
        spec.name,
    )
    .await
    .unwrap_err();
    assert!(refused.to_string().contains("must not be a superuser"), "{refused}");
    superuser.close().await;
}
