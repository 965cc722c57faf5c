//! A minimal Hugging Face hub on 127.0.0.1 for the download tests: serves local checkpoint
//! directories at `/{org}/{name}/resolve/{revision}/{file}` with the headers `hf-hub` reads
//! (`ETag`, `X-Repo-Commit`, `Content-Length`), 404 for files a repo lacks, and counts requests.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;

pub struct Repo {
    pub dir: PathBuf,
    /// Files the served repo pretends not to have.
    pub hidden: Vec<&'static str>,
    /// Branch or tag names and the commit each resolves to.
    pub refs: Vec<(&'static str, &'static str)>,
}

pub struct HubServer {
    pub endpoint: String,
    pub requests: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
    addr: std::net::SocketAddr,
}

impl HubServer {
    pub fn start(repos: HashMap<String, Repo>) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let requests = Arc::new(AtomicUsize::new(0));
        let (stop2, requests2) = (stop.clone(), requests.clone());
        let thread = std::thread::spawn(move || {
            for stream in listener.incoming() {
                if stop2.load(Ordering::SeqCst) {
                    break;
                }
                if let Ok(s) = stream {
                    requests2.fetch_add(1, Ordering::SeqCst);
                    let _ = serve(s, &repos);
                }
            }
        });
        Self {
            endpoint: format!("http://{addr}"),
            requests,
            stop,
            thread: Some(thread),
            addr,
        }
    }

    /// Stops accepting: later connections are refused, as with no network.
    pub fn stop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(self.addr);
        if let Some(t) = self.thread.take() {
            t.join().unwrap();
        }
    }
}

impl Drop for HubServer {
    fn drop(&mut self) {
        self.stop();
    }
}

fn serve(stream: TcpStream, repos: &HashMap<String, Repo>) -> std::io::Result<()> {
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut request = String::new();
    reader.read_line(&mut request)?;
    loop {
        let mut h = String::new();
        if reader.read_line(&mut h)? == 0 || h == "\r\n" || h == "\n" {
            break;
        }
    }
    let mut parts = request.split_whitespace();
    let (method, path) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    let mut out = stream;
    let segs: Vec<&str> = path.trim_start_matches('/').splitn(5, '/').collect();
    let found = (segs.len() == 5 && segs[2] == "resolve")
        .then(|| {
            let repo = repos.get(&format!("{}/{}", segs[0], segs[1]))?;
            let (rev, file) = (segs[3], segs[4]);
            let commit = repo.refs.iter().find(|(r, c)| *r == rev || *c == rev)?.1;
            Some((repo, commit, file))
        })
        .flatten();
    let Some((repo, commit, file)) = found else {
        let body = b"{\"error\":\"Repository not found\"}";
        write!(out, "HTTP/1.1 404 Not Found\r\nX-Error-Code: RepositoryNotFound\r\nContent-Length: {}\r\nConnection: close\r\n\r\n", body.len())?;
        return out.write_all(if method == "HEAD" { b"" } else { body });
    };
    let p = repo.dir.join(file);
    if repo.hidden.contains(&file) || !p.is_file() {
        let body = b"{\"error\":\"Entry not found\"}";
        write!(
            out,
            "HTTP/1.1 404 Not Found\r\nX-Error-Code: EntryNotFound\r\nX-Repo-Commit: {commit}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
            body.len()
        )?;
        return out.write_all(if method == "HEAD" { b"" } else { body });
    }
    let data = std::fs::read(&p)?;
    let etag = format!("{:016x}{:016x}", fnv(&data), data.len());
    write!(
        out,
        "HTTP/1.1 200 OK\r\nETag: \"{etag}\"\r\nX-Repo-Commit: {commit}\r\nContent-Length: {}\r\nContent-Type: application/octet-stream\r\nConnection: close\r\n\r\n",
        data.len()
    )?;
    if method != "HEAD" {
        out.write_all(&data)?;
    }
    out.flush()
}

fn fnv(data: &[u8]) -> u64 {
    data.iter().fold(0xcbf29ce484222325u64, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x100000001b3)
    })
}
