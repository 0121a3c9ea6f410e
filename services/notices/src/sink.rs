//! A development SMTP relay that keeps every message it accepts in a
//! maildir (`<dir>/new/`), so that the notices of a local suite or a test
//! can be read: `socialloans up` starts one, tests start their own. It
//! speaks enough SMTP for a client such as lettre (EHLO/HELO, MAIL, RCPT,
//! DATA, RSET, NOOP, QUIT), without TLS or authentication, on loopback.
//! It can be told to refuse its first few messages, to show retries.

use std::{
    net::SocketAddr,
    path::{Path, PathBuf},
    sync::{
        Arc,
        atomic::{AtomicU64, AtomicUsize, Ordering},
    },
    time::Duration,
};

use tokio::{
    io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader},
    net::{TcpListener, TcpStream},
};

/// The largest message accepted.
const MAX_MESSAGE: usize = 10 * 1024 * 1024;
/// How long a client may stay silent.
const IDLE: Duration = Duration::from_secs(60);

/// A running sink.
#[derive(Debug, Clone)]
pub struct Sink {
    /// Where it listens.
    pub addr: SocketAddr,
    /// The maildir it writes.
    pub maildir: PathBuf,
}

#[derive(Debug)]
struct Shared {
    maildir: PathBuf,
    refuse: AtomicUsize,
    count: AtomicU64,
}

impl Sink {
    /// Starts a sink on `addr` (port 0: any) writing into `maildir`, which is
    /// made if missing; it refuses (451) the first `refuse` messages.
    pub async fn start(addr: SocketAddr, maildir: &Path, refuse: usize) -> std::io::Result<Sink> {
        for sub in ["tmp", "new", "cur"] {
            std::fs::create_dir_all(maildir.join(sub))?;
        }
        let listener = TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared {
            maildir: maildir.to_owned(),
            refuse: AtomicUsize::new(refuse),
            count: AtomicU64::new(0),
        });
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let shared = shared.clone();
                tokio::spawn(async move {
                    if let Err(err) = session(stream, &shared).await {
                        tracing::debug!(error = %err, "smtp sink session ended");
                    }
                });
            }
        });
        Ok(Sink { addr, maildir: maildir.to_owned() })
    }

    /// The URL a client sends through: `smtp://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("smtp://{}", self.addr)
    }

    /// Every message kept so far, oldest first, as text.
    pub fn messages(&self) -> Vec<String> {
        messages(&self.maildir)
    }
}

/// The messages in `maildir`'s `new/`, oldest first.
pub fn messages(maildir: &Path) -> Vec<String> {
    let Ok(entries) = std::fs::read_dir(maildir.join("new")) else { return Vec::new() };
    let mut files: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
    files.sort();
    files.iter().filter_map(|f| std::fs::read_to_string(f).ok()).collect()
}

/// One client, until it quits, falls silent or breaks the protocol.
async fn session(stream: TcpStream, shared: &Shared) -> std::io::Result<()> {
    let (read, mut write) = stream.into_split();
    let mut lines = BufReader::new(read);
    write.write_all(b"220 socialloans-sink ESMTP\r\n").await?;
    let mut recipients: Vec<String> = Vec::new();
    let mut line = String::new();
    loop {
        line.clear();
        let read = tokio::time::timeout(IDLE, (&mut lines).take(4096).read_line(&mut line)).await;
        if !matches!(read, Ok(Ok(n)) if n > 0) {
            return Ok(());
        }
        let command = line.trim_end().to_ascii_uppercase();
        let reply: &[u8] = match command.split_whitespace().next().unwrap_or("") {
            "EHLO" => b"250-socialloans-sink\r\n250-8BITMIME\r\n250 SIZE 10485760\r\n",
            "HELO" => b"250 socialloans-sink\r\n",
            "MAIL" => {
                recipients.clear();
                b"250 OK\r\n"
            }
            "RCPT" => {
                recipients.push(line.trim_end()[line.find(':').map_or(0, |i| i + 1)..].trim().to_owned());
                b"250 OK\r\n"
            }
            "DATA" if recipients.is_empty() => b"503 RCPT first\r\n",
            "DATA" => {
                write.write_all(b"354 End data with <CR><LF>.<CR><LF>\r\n").await?;
                let Some(message) = data(&mut lines).await? else {
                    write.write_all(b"552 Message too large\r\n").await?;
                    return Ok(());
                };
                let refused = shared.refuse.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1));
                if refused.is_ok() {
                    b"451 Try again later\r\n"
                } else {
                    keep(shared, &recipients, &message)?;
                    recipients.clear();
                    b"250 OK queued\r\n"
                }
            }
            "RSET" => {
                recipients.clear();
                b"250 OK\r\n"
            }
            "NOOP" => b"250 OK\r\n",
            "QUIT" => {
                write.write_all(b"221 Bye\r\n").await?;
                return Ok(());
            }
            "STARTTLS" => b"454 TLS not available\r\n",
            _ => b"502 Command not implemented\r\n",
        };
        write.write_all(reply).await?;
    }
}

/// The message after DATA, dot-unstuffed, up to the lone dot; `None` when
/// it outgrows [`MAX_MESSAGE`].
async fn data<R: tokio::io::AsyncBufRead + Unpin>(lines: &mut R) -> std::io::Result<Option<String>> {
    let mut message = String::new();
    let mut line = String::new();
    loop {
        line.clear();
        let n = tokio::time::timeout(IDLE, lines.read_line(&mut line)).await.map_err(std::io::Error::other)??;
        if n == 0 || line == ".\r\n" || line == ".\n" {
            return Ok(Some(message));
        }
        message.push_str(line.strip_prefix('.').filter(|_| line.starts_with("..")).unwrap_or(&line));
        if message.len() > MAX_MESSAGE {
            return Ok(None);
        }
    }
}

/// Writes `message` into the maildir: into `tmp/`, then renamed into `new/`.
fn keep(shared: &Shared, recipients: &[String], message: &str) -> std::io::Result<()> {
    let n = shared.count.fetch_add(1, Ordering::SeqCst);
    let micros = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default().as_micros();
    let name = format!("{micros:020}.{}_{n}.socialloans-sink", std::process::id());
    let tmp = shared.maildir.join("tmp").join(&name);
    let delivered: String = recipients.iter().map(|r| format!("Delivered-To: {r}\r\n")).collect();
    std::fs::write(&tmp, format!("{delivered}{message}"))?;
    std::fs::rename(tmp, shared.maildir.join("new").join(name))
}
