//! TLS and mutual TLS, switched on by configuration, with certificates made here.

use std::time::Duration;

use e2e::{Db, SERVING, certs, eventually, health, services};
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Identity};

struct Pki {
    dir: std::path::PathBuf,
    server_ca: certs::Ca,
    client_ca: certs::Ca,
}

impl Pki {
    fn new() -> Pki {
        Pki {
            dir: certs::temp_dir("tls"),
            server_ca: certs::Ca::new("server CA"),
            client_ca: certs::Ca::new("client CA"),
        }
    }

    fn server_files(&self) -> (String, String, String) {
        let (cert, key) = self.server_ca.leaf(&["localhost"]);
        let cert = certs::write(&self.dir, "server.pem", &cert).display().to_string();
        let key = certs::write(&self.dir, "server.key", &key).display().to_string();
        let ca = certs::write(&self.dir, "client-ca.pem", &self.client_ca.pem()).display().to_string();
        (cert, key, ca)
    }
}

impl Drop for Pki {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

async fn tls_health(addr: std::net::SocketAddr, tls: ClientTlsConfig) -> Result<i32, String> {
    let channel = Channel::from_shared(format!("https://localhost:{}", addr.port()))
        .unwrap()
        .tls_config(tls)
        .map_err(|e| e.to_string())?
        .connect_timeout(Duration::from_secs(5))
        .connect()
        .await
        .map_err(|e| format!("{e:?}"))?;
    health(channel, "").await.map_err(|e| e.to_string())
}

async fn plaintext_health(addr: std::net::SocketAddr) -> Result<i32, String> {
    let channel = Channel::from_shared(format!("http://{addr}"))
        .unwrap()
        .connect_timeout(Duration::from_secs(5))
        .timeout(Duration::from_secs(5))
        .connect()
        .await
        .map_err(|e| format!("{e:?}"))?;
    health(channel, "").await.map_err(|e| e.to_string())
}

#[tokio::test]
async fn with_tls_on_a_tls_client_succeeds_and_a_plaintext_one_fails() {
    let db = Db::prepared(&e2e::specs()).await;
    let pki = Pki::new();
    let (cert, key, _) = pki.server_files();
    let running = db.serve(services()[0], &[("TLS_CERT_FILE", &cert), ("TLS_KEY_FILE", &key)]).await;
    let trust =
        || ClientTlsConfig::new().ca_certificate(Certificate::from_pem(pki.server_ca.pem())).domain_name("localhost");

    let ok =
        eventually(Duration::from_secs(10), || async { tls_health(running.grpc_addr, trust()).await == Ok(SERVING) })
            .await;
    assert!(ok, "TLS client could not reach SERVING: {:?}", tls_health(running.grpc_addr, trust()).await);
    assert!(plaintext_health(running.grpc_addr).await.is_err(), "plaintext must not be served when TLS is on");

    let untrusted = ClientTlsConfig::new()
        .ca_certificate(Certificate::from_pem(certs::Ca::new("stranger").pem()))
        .domain_name("localhost");
    assert!(tls_health(running.grpc_addr, untrusted).await.is_err(), "a client must not trust a server outside its CA");
    running.stop().await.unwrap();
}

#[tokio::test]
async fn with_mtls_on_only_clients_with_a_certificate_from_the_configured_ca_get_in() {
    let db = Db::prepared(&e2e::specs()).await;
    let pki = Pki::new();
    let (cert, key, client_ca) = pki.server_files();
    let running = db
        .serve(services()[0], &[("TLS_CERT_FILE", &cert), ("TLS_KEY_FILE", &key), ("TLS_CLIENT_CA_FILE", &client_ca)])
        .await;
    let trust =
        || ClientTlsConfig::new().ca_certificate(Certificate::from_pem(pki.server_ca.pem())).domain_name("localhost");

    let (good_cert, good_key) = pki.client_ca.leaf(&["core-banking"]);
    let with_good = trust().identity(Identity::from_pem(good_cert, good_key));
    let ok = eventually(Duration::from_secs(10), || {
        let tls = with_good.clone();
        async { tls_health(running.grpc_addr, tls).await == Ok(SERVING) }
    })
    .await;
    assert!(ok, "a client with a certificate from the configured CA was refused");

    assert!(tls_health(running.grpc_addr, trust()).await.is_err(), "a client without a certificate got in");
    let (rogue_cert, rogue_key) = certs::Ca::new("rogue CA").leaf(&["core-banking"]);
    let with_rogue = trust().identity(Identity::from_pem(rogue_cert, rogue_key));
    assert!(tls_health(running.grpc_addr, with_rogue).await.is_err(), "a client certificate from another CA got in");
    running.stop().await.unwrap();
}

#[tokio::test]
async fn with_optional_mtls_people_need_no_certificate_but_system_callers_do() {
    use socialloans_contracts::applications::{
        ListApplicationsRequest, applications_service_client::ApplicationsServiceClient,
    };
    use socialloans_platform::Role;
    use tonic_types::StatusExt;

    let db = Db::prepared(&e2e::specs()).await;
    let pki = Pki::new();
    let (cert, key, client_ca) = pki.server_files();
    let running = db
        .serve(
            services()[0],
            &[
                ("TLS_CERT_FILE", &cert),
                ("TLS_KEY_FILE", &key),
                ("TLS_CLIENT_CA_FILE", &client_ca),
                ("TLS_CLIENT_AUTH", "optional"),
            ],
        )
        .await;
    let trust =
        || ClientTlsConfig::new().ca_certificate(Certificate::from_pem(pki.server_ca.pem())).domain_name("localhost");
    let connect = |tls: ClientTlsConfig| async move {
        let channel = Channel::from_shared(format!("https://localhost:{}", running.grpc_addr.port()))
            .unwrap()
            .tls_config(tls)
            .unwrap()
            .connect()
            .await
            .unwrap();
        ApplicationsServiceClient::new(channel)
    };
    let list = |role: Role| e2e::authorized(ListApplicationsRequest::default(), &e2e::token(&[role], None));

    let mut anonymous = connect(trust()).await;
    assert!(anonymous.list_applications(list(Role::Analyst)).await.is_ok(), "a person needs no certificate");
    let denied = anonymous.list_applications(list(Role::CoreBanking)).await.unwrap_err();
    assert_eq!(denied.code(), tonic::Code::PermissionDenied);
    assert_eq!(denied.get_error_details().error_info().unwrap().reason, "CLIENT_CERTIFICATE_REQUIRED");

    let (client_cert, client_key) = pki.client_ca.leaf(&["core-banking"]);
    let mut system = connect(trust().identity(Identity::from_pem(client_cert, client_key))).await;
    assert!(
        system.list_applications(list(Role::CoreBanking)).await.is_ok(),
        "core banking with its certificate gets in"
    );
    running.stop().await.unwrap();
}
