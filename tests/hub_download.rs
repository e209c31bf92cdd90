//! Downloads against an in-process HTTP server that answers like the Hugging Face Hub:
//! `GET /api/models/{repo}/revision/{rev}?blobs=true` (file list with sizes and LFS ids) and
//! `GET /{repo}/resolve/{rev}/{file}` with `ETag`/`X-Linked-Etag`/`X-Repo-Commit`, `Range`
//! (206 + `Content-Range`), 401/403 for a gated repo. It serves the tiny NF4 fixture repo.
//! The environment goes through `HubEnv::from_lookup` with `HF_HOME`/`HF_ENDPOINT`/`HF_TOKEN`
//! exactly as the process environment would be read.

use std::collections::{BTreeMap, HashMap};
use std::io::{BufRead, BufReader, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use ideogram4::weights::hub::{download, DownloadEvent, DownloadOptions, HubEnv, HubError};
use ideogram4::weights::Checkpoint;

const REPO: &str = "ideogram-ai/ideogram-4-nf4";
const COMMIT: &str = "ee79a7237b519f1402ceacf952f30c8a31ec5073";
const GOOD_TOKEN: &str = "hf_good_token_123";

fn fixture_repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/tiny-ideogram4-nf4")
}

/// The real sha256, as the Hub publishes for LFS files (the client checks it).
fn sha256_hex(data: &[u8]) -> String {
    ring::digest::digest(&ring::digest::SHA256, data)
        .as_ref()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// A stand-in for git blob ids of small files (only stable, distinct ids are needed): FNV-1a,
/// widened to the hex length of a git sha1.
fn fake_hash(data: &[u8], hex_len: usize) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in data {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x100_0000_01b3);
    }
    let mut s = String::new();
    let mut x = h;
    while s.len() < hex_len {
        s.push_str(&format!("{x:016x}"));
        x = x.rotate_left(17) ^ 0x9e37_79b9_7f4a_7c15;
    }
    s.truncate(hex_len);
    s
}

struct File {
    data: Vec<u8>,
    etag: String,
    lfs: bool,
}

#[derive(Debug, Clone)]
struct Request {
    path: String,
    range: Option<String>,
    auth: Option<String>,
}

#[derive(Default)]
struct Behaviour {
    gated: bool,
    /// Answer LFS file requests with a 302 to this base URL (another local listener).
    redirect_lfs_to: Option<String>,
    /// Files served with one byte changed (same length): data that does not match its hash.
    corrupt: std::collections::HashSet<String>,
    /// file -> bytes to send before cutting the connection, applied once.
    cut_once: HashMap<String, usize>,
}

struct Server {
    url: String,
    log: Arc<Mutex<Vec<Request>>>,
    behaviour: Arc<Mutex<Behaviour>>,
}

impl Server {
    fn start() -> Server {
        Server::start_on("127.0.0.1:0")
    }

    fn start_on(addr: &str) -> Server {
        let mut files = BTreeMap::new();
        collect(&fixture_repo(), "", &mut files);
        files.insert(
            "README.md".to_string(),
            File {
                data: b"# not needed".to_vec(),
                etag: fake_hash(b"# not needed", 40),
                lfs: false,
            },
        );
        let files = Arc::new(files);
        let listener = TcpListener::bind(addr).unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let log = Arc::new(Mutex::new(Vec::new()));
        let behaviour = Arc::new(Mutex::new(Behaviour::default()));
        let (l2, b2) = (log.clone(), behaviour.clone());
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let (files, log, behaviour) = (files.clone(), l2.clone(), b2.clone());
                std::thread::spawn(move || {
                    let _ = serve(stream, &files, &log, &behaviour);
                });
            }
        });
        Server {
            url,
            log,
            behaviour,
        }
    }

    fn requests(&self) -> Vec<Request> {
        self.log.lock().unwrap().clone()
    }

    fn file_requests(&self) -> Vec<Request> {
        self.requests()
            .into_iter()
            .filter(|r| r.path.contains("/resolve/"))
            .collect()
    }

    fn clear_log(&self) {
        self.log.lock().unwrap().clear();
    }
}

fn collect(dir: &Path, prefix: &str, out: &mut BTreeMap<String, File>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let e = e.unwrap();
        let name = format!("{prefix}{}", e.file_name().to_string_lossy());
        if e.file_type().unwrap().is_dir() {
            collect(&e.path(), &format!("{name}/"), out);
        } else {
            let data = std::fs::read(e.path()).unwrap();
            let lfs = name.ends_with(".safetensors");
            let etag = if lfs {
                sha256_hex(&data)
            } else {
                fake_hash(&data, 40)
            };
            out.insert(name, File { data, etag, lfs });
        }
    }
}

fn respond(
    s: &mut TcpStream,
    status: u16,
    headers: &[(String, String)],
    body: &[u8],
) -> std::io::Result<()> {
    let reason = match status {
        200 => "OK",
        206 => "Partial Content",
        302 => "Found",
        401 => "Unauthorized",
        403 => "Forbidden",
        _ => "Not Found",
    };
    let mut head = format!(
        "HTTP/1.1 {status} {reason}\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    s.write_all(head.as_bytes())?;
    s.write_all(body)?;
    s.flush()
}

fn serve(
    stream: TcpStream,
    files: &BTreeMap<String, File>,
    log: &Mutex<Vec<Request>>,
    behaviour: &Mutex<Behaviour>,
) -> std::io::Result<()> {
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut line = String::new();
    reader.read_line(&mut line)?;
    let target = line.split_whitespace().nth(1).unwrap_or("/").to_string();
    let mut headers = HashMap::new();
    loop {
        let mut h = String::new();
        if reader.read_line(&mut h)? == 0 || h == "\r\n" {
            break;
        }
        if let Some((k, v)) = h.split_once(':') {
            headers.insert(k.trim().to_ascii_lowercase(), v.trim().to_string());
        }
    }
    let req = Request {
        path: target.clone(),
        range: headers.get("range").cloned(),
        auth: headers.get("authorization").cloned(),
    };
    log.lock().unwrap().push(req.clone());
    let mut s = stream;
    let (path, _query) = target.split_once('?').unwrap_or((&target, ""));

    if let Some(rest) = path.strip_prefix("/api/models/") {
        let Some((repo, _rev)) = rest.split_once("/revision/") else {
            return respond(&mut s, 404, &[], b"{}");
        };
        if repo != REPO {
            return respond(&mut s, 404, &[], br#"{"error":"Repository not found"}"#);
        }
        let siblings: Vec<serde_json::Value> = files
            .iter()
            .map(|(name, f)| {
                let mut v = serde_json::json!({"rfilename": name, "size": f.data.len()});
                if f.lfs {
                    v["lfs"] = serde_json::json!({"sha256": f.etag, "size": f.data.len()});
                }
                v
            })
            .collect();
        let body = serde_json::to_vec(
            &serde_json::json!({"id": REPO, "sha": COMMIT, "siblings": siblings}),
        )
        .unwrap();
        return respond(&mut s, 200, &[], &body);
    }
    let prefix = format!("/{REPO}/resolve/");
    let Some(rest) = path.strip_prefix(&prefix) else {
        return respond(&mut s, 404, &[], b"Repository not found");
    };
    let file_name = rest.split_once('/').map(|(_, f)| f).unwrap_or("");
    let Some(file) = files.get(file_name) else {
        return respond(
            &mut s,
            404,
            &[("X-Error-Code".into(), "EntryNotFound".into())],
            b"Entry not found",
        );
    };
    if behaviour.lock().unwrap().gated {
        match req.auth.as_deref() {
            None => return respond(&mut s, 401, &[], b"Access to model is restricted. You must have access to it and be authenticated to access it. Please log in."),
            Some(a) if a != format!("Bearer {GOOD_TOKEN}") => {
                return respond(&mut s, 403, &[], b"Access to model is restricted and you are not in the authorized list.")
            }
            Some(_) => {}
        }
    }
    let redirect = behaviour.lock().unwrap().redirect_lfs_to.clone();
    if let (Some(base), true) = (redirect, file.lfs) {
        return respond(
            &mut s,
            302,
            &[("Location".into(), format!("{base}{path}"))],
            b"",
        );
    }
    let mut data = file.data.clone();
    if behaviour.lock().unwrap().corrupt.contains(file_name) {
        let last = data.len() - 1;
        data[last] ^= 0x55;
    }
    let total = data.len();
    let (start, end) = match req.range.as_deref().and_then(|r| r.strip_prefix("bytes=")) {
        Some(r) => {
            let (a, b) = r.split_once('-').unwrap_or((r, ""));
            let a: usize = a.parse().unwrap_or(0);
            let b: usize = b.parse().map(|b: usize| b + 1).unwrap_or(total);
            (a.min(total), b.min(total))
        }
        None => (0, total),
    };
    let quoted = format!("\"{}\"", file.etag);
    let mut h = vec![
        ("X-Repo-Commit".to_string(), COMMIT.to_string()),
        ("ETag".to_string(), quoted.clone()),
    ];
    if file.lfs {
        h.push(("X-Linked-Etag".into(), quoted));
        h.push(("X-Linked-Size".into(), total.to_string()));
    }
    let status = if req.range.is_some() {
        h.push((
            "Content-Range".into(),
            format!("bytes {start}-{}/{total}", end.saturating_sub(1)),
        ));
        206
    } else {
        200
    };
    let body = &data[start..end];
    let cut = {
        let mut b = behaviour.lock().unwrap();
        if body.len() > 1 {
            b.cut_once.remove(file_name)
        } else {
            None
        }
    };
    match cut {
        Some(k) => {
            // Promise the whole body, send part of it, hang up: a dropped connection.
            let mut head = format!(
                "HTTP/1.1 {status} Partial Content\r\nConnection: close\r\nContent-Length: {}\r\n",
                body.len()
            );
            for (k, v) in &h {
                head.push_str(&format!("{k}: {v}\r\n"));
            }
            head.push_str("\r\n");
            s.write_all(head.as_bytes())?;
            s.write_all(&body[..k])?;
            s.flush()?;
            s.shutdown(Shutdown::Both)
        }
        None => respond(&mut s, status, &h, body),
    }
}

fn env_for(server: &Server, hf_home: &Path, token: Option<&str>) -> HubEnv {
    let mut vars = HashMap::new();
    vars.insert(
        "HF_HOME".to_string(),
        hf_home.to_string_lossy().into_owned(),
    );
    vars.insert("HF_ENDPOINT".to_string(), format!("{}/", server.url));
    if let Some(t) = token {
        vars.insert("HF_TOKEN".to_string(), t.to_string());
    }
    HubEnv::from_lookup(|k| vars.get(k).cloned(), None)
}

fn run(opts: &DownloadOptions) -> (Result<PathBuf, HubError>, Vec<DownloadEvent>) {
    let mut events = Vec::new();
    let r = download(opts, &mut |e| events.push(e.clone()));
    (r, events)
}

fn fixture_file_count() -> usize {
    let mut files = BTreeMap::new();
    collect(&fixture_repo(), "", &mut files);
    files.len()
}

fn assert_same_files(snapshot: &Path) {
    let mut want = BTreeMap::new();
    collect(&fixture_repo(), "", &mut want);
    for (name, f) in &want {
        let got = std::fs::read(snapshot.join(name)).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert!(got == f.data, "{name} differs");
    }
    assert!(
        !snapshot.join("README.md").exists(),
        "README.md is not part of a checkpoint"
    );
}

#[test]
fn downloads_into_the_hf_cache_layout_then_reuses_it_without_a_byte() {
    let server = Server::start();
    let home = tempfile::tempdir().unwrap();
    let env = env_for(&server, home.path(), None);
    assert_eq!(env.hub_cache, home.path().join("hub"));
    let opts = DownloadOptions::new(REPO, env.clone());
    let (snap, events) = run(&opts);
    let snap = snap.unwrap();
    let repo_dir = home.path().join("hub/models--ideogram-ai--ideogram-4-nf4");
    assert_eq!(snap, repo_dir.join("snapshots").join(COMMIT));
    assert_eq!(
        std::fs::read_to_string(repo_dir.join("refs/main")).unwrap(),
        COMMIT
    );
    assert_same_files(&snap);
    let vae = snap.join("vae/diffusion_pytorch_model.safetensors");
    assert!(std::fs::symlink_metadata(&vae)
        .unwrap()
        .file_type()
        .is_symlink());
    assert!(std::fs::canonicalize(&vae)
        .unwrap()
        .starts_with(std::fs::canonicalize(repo_dir.join("blobs")).unwrap()));
    Checkpoint::open(&snap).expect("the downloaded snapshot is a loadable checkpoint");

    let total: u64 = match &events[0] {
        DownloadEvent::Planned {
            cached: 0,
            files,
            bytes_to_fetch,
            ..
        } => {
            assert_eq!(*files, fixture_file_count());
            *bytes_to_fetch
        }
        other => panic!("first event {other:?}"),
    };
    let last_bytes = events.iter().rev().find_map(|e| match e {
        DownloadEvent::Bytes { done, total } => Some((*done, *total)),
        _ => None,
    });
    assert_eq!(last_bytes, Some((total, total)));
    // Monotonic overall progress.
    let mut prev = 0;
    for e in &events {
        if let DownloadEvent::Bytes { done, .. } = e {
            assert!(*done >= prev, "progress went back");
            prev = *done;
        }
    }

    server.clear_log();
    let (again, events) = run(&opts);
    assert_eq!(again.unwrap(), snap);
    assert!(
        server.file_requests().is_empty(),
        "second run fetched {:?}",
        server.file_requests()
    );
    let n = fixture_file_count();
    assert!(
        matches!(events[0], DownloadEvent::Planned { cached, bytes_to_fetch: 0, .. } if cached == n)
    );

    // Offline: the cache alone answers, no request at all.
    server.clear_log();
    let mut offline = opts.clone();
    offline.env.offline = true;
    assert_eq!(run(&offline).0.unwrap(), snap);
    assert!(server.requests().is_empty());
}

#[test]
fn blobs_fetched_earlier_under_another_commit_are_linked_not_downloaded() {
    // As left by Python's `hf download` of an older revision: same blobs, other snapshot.
    let server = Server::start();
    let home = tempfile::tempdir().unwrap();
    let env = env_for(&server, home.path(), None);
    let repo_dir = env.hub_cache.join("models--ideogram-ai--ideogram-4-nf4");
    let old = repo_dir.join("snapshots/1111111111111111111111111111111111111111");
    let mut files = BTreeMap::new();
    collect(&fixture_repo(), "", &mut files);
    std::fs::create_dir_all(repo_dir.join("blobs")).unwrap();
    for (name, f) in files.iter().filter(|(_, f)| f.lfs) {
        std::fs::write(repo_dir.join("blobs").join(&f.etag), &f.data).unwrap();
        let link = old.join(name);
        std::fs::create_dir_all(link.parent().unwrap()).unwrap();
        std::os::unix::fs::symlink(repo_dir.join("blobs").join(&f.etag), &link).unwrap();
    }
    let (snap, events) = run(&DownloadOptions::new(REPO, env));
    let snap = snap.unwrap();
    assert_same_files(&snap);
    let reused = events
        .iter()
        .filter(|e| matches!(e, DownloadEvent::Reused { .. }))
        .count();
    let lfs = files.values().filter(|f| f.lfs).count();
    assert_eq!(reused, lfs);
    let fetched: Vec<String> = server.file_requests().into_iter().map(|r| r.path).collect();
    assert!(
        fetched.iter().all(|p| !p.ends_with(".safetensors")),
        "{fetched:?}"
    );
}

#[test]
fn a_cut_transfer_resumes_with_a_range_request() {
    let server = Server::start();
    let home = tempfile::tempdir().unwrap();
    let big = "vae/diffusion_pytorch_model.safetensors";
    server
        .behaviour
        .lock()
        .unwrap()
        .cut_once
        .insert(big.into(), 700_000);
    let mut opts = DownloadOptions::new(REPO, env_for(&server, home.path(), None));
    opts.retries = 2;
    let snap = run(&opts).0.unwrap();
    assert_same_files(&snap);
    let ranges: Vec<String> = server
        .file_requests()
        .into_iter()
        .filter(|r| r.path.ends_with(big))
        .filter_map(|r| r.range)
        .collect();
    assert!(ranges.iter().any(|r| r == "bytes=700000-"), "{ranges:?}");
}

#[test]
fn a_partial_file_from_an_earlier_run_is_resumed() {
    let server = Server::start();
    let home = tempfile::tempdir().unwrap();
    let big = "vae/diffusion_pytorch_model.safetensors";
    server
        .behaviour
        .lock()
        .unwrap()
        .cut_once
        .insert(big.into(), 500_000);
    let mut opts = DownloadOptions::new(REPO, env_for(&server, home.path(), None));
    opts.retries = 0;
    let err = run(&opts).0.unwrap_err();
    assert!(matches!(err, HubError::Network { .. }), "{err}");
    let blobs = opts
        .env
        .hub_cache
        .join("models--ideogram-ai--ideogram-4-nf4/blobs");
    let part = std::fs::read_dir(&blobs)
        .unwrap()
        .flatten()
        .find(|e| e.file_name().to_string_lossy().ends_with(".part"))
        .expect("a .part file is left for the next run");
    assert_eq!(part.metadata().unwrap().len(), 500_000);

    server.clear_log();
    let snap = run(&opts).0.unwrap();
    assert_same_files(&snap);
    let resumed = server
        .file_requests()
        .into_iter()
        .any(|r| r.path.ends_with(big) && r.range.as_deref() == Some("bytes=500000-"));
    assert!(resumed, "{:?}", server.file_requests());
}

#[test]
fn gated_repo_without_access_explains_what_to_do() {
    let server = Server::start();
    server.behaviour.lock().unwrap().gated = true;
    let home = tempfile::tempdir().unwrap();

    let err = run(&DownloadOptions::new(
        REPO,
        env_for(&server, home.path(), None),
    ))
    .0
    .unwrap_err();
    assert!(
        matches!(
            err,
            HubError::Gated {
                has_token: false,
                ..
            }
        ),
        "{err}"
    );
    let msg = err.to_string();
    assert!(msg.contains(&format!("{}/{REPO}", server.url)), "{msg}");
    assert!(
        msg.contains("hf auth login") && msg.contains("HF_TOKEN"),
        "{msg}"
    );

    let err = run(&DownloadOptions::new(
        REPO,
        env_for(&server, home.path(), Some("hf_not_allowed")),
    ))
    .0
    .unwrap_err();
    assert!(
        matches!(
            err,
            HubError::Gated {
                has_token: true,
                ..
            }
        ),
        "{err}"
    );
    assert!(
        !err.to_string().contains("hf_not_allowed"),
        "the token must never be printed"
    );

    // A token from $HF_HOME/token (what `hf auth login` writes) is used.
    std::fs::write(home.path().join("token"), format!("{GOOD_TOKEN}\n")).unwrap();
    server.clear_log();
    let snap = run(&DownloadOptions::new(
        REPO,
        env_for(&server, home.path(), None),
    ))
    .0
    .unwrap();
    assert_same_files(&snap);
    assert!(server
        .file_requests()
        .iter()
        .all(|r| r.auth.as_deref() == Some(&*format!("Bearer {GOOD_TOKEN}"))));
}

#[test]
fn free_space_is_checked_before_any_transfer() {
    let server = Server::start();
    let home = tempfile::tempdir().unwrap();
    let mut opts = DownloadOptions::new(REPO, env_for(&server, home.path(), None));
    opts.free_space = Some(1_000_000);
    let err = run(&opts).0.unwrap_err();
    assert!(
        matches!(
            err,
            HubError::DiskFull {
                available: 1_000_000,
                ..
            }
        ),
        "{err}"
    );
    assert!(
        err.to_string().contains("not enough free disk space"),
        "{err}"
    );
    assert!(
        server.file_requests().is_empty(),
        "{:?}",
        server.file_requests()
    );
}

#[test]
fn offline_without_a_cache_and_unknown_repos_fail_clearly() {
    let server = Server::start();
    let home = tempfile::tempdir().unwrap();
    let mut opts = DownloadOptions::new(REPO, env_for(&server, home.path(), None));
    opts.env.offline = true;
    let err = run(&opts).0.unwrap_err();
    assert!(
        matches!(err, HubError::Offline { .. }) && err.to_string().contains("HF_HUB_OFFLINE"),
        "{err}"
    );
    assert!(server.requests().is_empty());

    let opts = DownloadOptions::new("someone/not-there", env_for(&server, home.path(), None));
    let err = run(&opts).0.unwrap_err();
    assert!(
        matches!(err, HubError::NotFound { status: 404, .. }),
        "{err}"
    );
    assert!(matches!(
        run(&DownloadOptions::new(
            "no-slash",
            env_for(&server, home.path(), None)
        ))
        .0,
        Err(HubError::BadRepoId(_))
    ));
}

#[test]
fn unreachable_endpoint_falls_back_to_a_complete_cache() {
    let server = Server::start();
    let home = tempfile::tempdir().unwrap();
    let opts = DownloadOptions::new(REPO, env_for(&server, home.path(), None));
    let snap = run(&opts).0.unwrap();
    // Nothing listens on port 9 of localhost (discard); the connection is refused.
    let mut dead = opts.clone();
    dead.env.endpoint = "http://127.0.0.1:9".into();
    let (r, events) = run(&dead);
    assert_eq!(r.unwrap(), snap);
    assert!(matches!(
        events.as_slice(),
        [DownloadEvent::UsingCache { .. }]
    ));
    // Without a cache the network error is reported.
    let empty = tempfile::tempdir().unwrap();
    dead.env.hub_cache = empty.path().to_path_buf();
    assert!(matches!(run(&dead).0, Err(HubError::Network { .. })));
}

#[test]
fn cli_models_download_then_list_and_inspect() {
    let server = Server::start();
    let home = tempfile::tempdir().unwrap();
    let cli = |args: &[&str]| {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_ideogram4-tui"))
            // Keep test runs out of the user's real log file.
            .env("IDEOGRAM4_LOG", "off")
            .args(args)
            .env("HF_HOME", home.path())
            .env("HF_ENDPOINT", &server.url)
            .env_remove("HF_HUB_CACHE")
            .env_remove("HF_TOKEN")
            .env_remove("HF_HUB_OFFLINE")
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout).into_owned()
            + &String::from_utf8_lossy(&out.stderr);
        (out.status.success(), text)
    };
    let (ok, text) = cli(&["models"]);
    assert!(
        ok && text.contains("No Ideogram 4 checkpoint cached"),
        "{text}"
    );

    let (ok, text) = cli(&["models", "download"]);
    assert!(ok, "{text}");
    assert!(
        text.contains(&format!("{REPO} ready:")) && text.contains("format nf4"),
        "{text}"
    );

    let (ok, text) = cli(&["models"]);
    assert!(ok, "{text}");
    let row = text
        .lines()
        .find(|l| l.starts_with(REPO))
        .unwrap_or_else(|| panic!("{text}"));
    assert!(
        row.contains("main (ee79a72)") && row.contains("nf4") && row.ends_with("complete"),
        "{row}"
    );

    let (ok, text) = cli(&["models", "--json"]);
    let rows: serde_json::Value =
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}"));
    assert!(
        ok && rows[0]["complete"] == true && rows[0]["commit"] == COMMIT,
        "{rows}"
    );

    let (ok, text) = cli(&["models", "inspect", REPO, "--json"]);
    assert!(ok, "{text}");
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(v["format"], "nf4");
    assert_eq!(v["components"][0]["dims"]["emb_dim"], 96);
    assert_eq!(v["components"][0]["formats"]["nf4"], 19);
    assert_eq!(v["components"][2]["declared"], "bitsandbytes_nf4");

    // Remove a shard: listed as missing, and inspect names the file.
    let snap = home
        .path()
        .join("hub/models--ideogram-ai--ideogram-4-nf4/snapshots")
        .join(COMMIT);
    let shard = snap.join("transformer/diffusion_pytorch_model-00002-of-00002.safetensors");
    std::fs::remove_file(std::fs::canonicalize(&shard).unwrap()).unwrap();
    std::fs::remove_file(&shard).unwrap();
    let (_, text) = cli(&["models"]);
    assert!(
        text.contains(
            "missing 1 file(s): transformer/diffusion_pytorch_model-00002-of-00002.safetensors"
        ),
        "{text}"
    );
    let (ok, text) = cli(&["models", "inspect", REPO]);
    assert!(
        !ok && text.contains("diffusion_pytorch_model-00002-of-00002.safetensors"),
        "{text}"
    );

    // Gated, from the command line: one clear message, exit status 2.
    server.behaviour.lock().unwrap().gated = true;
    let (ok, text) = cli(&["models", "download", "--revision", "main"]);
    assert!(
        !ok && text.contains("gated") && text.contains("hf auth login"),
        "{text}"
    );
}

#[test]
fn the_token_never_follows_a_redirect_to_another_host() {
    let server = Server::start();
    // A second loopback address: another host as far as HTTP is concerned.
    let other = Server::start_on("127.0.0.2:0");
    {
        let mut b = server.behaviour.lock().unwrap();
        b.gated = true;
        b.redirect_lfs_to = Some(other.url.clone());
    }
    let home = tempfile::tempdir().unwrap();
    let snap = run(&DownloadOptions::new(
        REPO,
        env_for(&server, home.path(), Some(GOOD_TOKEN)),
    ))
    .0
    .unwrap();
    assert_same_files(&snap);
    let seen = other.requests();
    assert!(!seen.is_empty(), "the LFS files came from the second host");
    assert!(
        seen.iter().all(|r| r.auth.is_none()),
        "the second host saw authorization: {seen:?}"
    );
    // The endpoint itself still got the token (it is gated).
    assert!(server
        .file_requests()
        .iter()
        .all(|r| r.auth.as_deref() == Some(&*format!("Bearer {GOOD_TOKEN}"))));
}

fn blob_names(home: &Path) -> Vec<String> {
    let blobs = home.join("hub/models--ideogram-ai--ideogram-4-nf4/blobs");
    std::fs::read_dir(blobs)
        .map(|d| {
            d.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn data_that_does_not_match_the_published_sha256_never_enters_the_cache() {
    let server = Server::start();
    let big = "vae/diffusion_pytorch_model.safetensors";
    server.behaviour.lock().unwrap().corrupt.insert(big.into());
    let home = tempfile::tempdir().unwrap();
    let opts = DownloadOptions::new(REPO, env_for(&server, home.path(), None));
    let err = run(&opts).0.unwrap_err();
    let mut files = BTreeMap::new();
    collect(&fixture_repo(), "", &mut files);
    let sha = &files[big].etag;
    match &err {
        HubError::HashMismatch { file, expected, .. } => {
            assert_eq!(file, big);
            assert_eq!(expected, sha);
        }
        other => panic!("{other}"),
    }
    assert!(err.to_string().starts_with(big), "{err}");
    let blobs = blob_names(home.path());
    assert!(
        blobs.iter().all(|b| !b.starts_with(sha.as_str())),
        "{blobs:?}"
    );
    let link = home
        .path()
        .join("hub/models--ideogram-ai--ideogram-4-nf4/snapshots")
        .join(COMMIT)
        .join(big);
    assert!(std::fs::symlink_metadata(link).is_err());

    // Served correctly again: the next run fetches it afresh and succeeds.
    server.behaviour.lock().unwrap().corrupt.clear();
    assert_same_files(&run(&opts).0.unwrap());
}

#[test]
fn a_resumed_download_is_checked_over_the_whole_file() {
    let server = Server::start();
    let big = "vae/diffusion_pytorch_model.safetensors";
    server
        .behaviour
        .lock()
        .unwrap()
        .cut_once
        .insert(big.into(), 500_000);
    let home = tempfile::tempdir().unwrap();
    let mut opts = DownloadOptions::new(REPO, env_for(&server, home.path(), None));
    opts.retries = 0;
    assert!(matches!(run(&opts).0, Err(HubError::Network { .. })));
    // The kept part goes bad on disk before the next run resumes it.
    let blobs = home
        .path()
        .join("hub/models--ideogram-ai--ideogram-4-nf4/blobs");
    let part = blob_names(home.path())
        .into_iter()
        .find(|n| n.ends_with(".part"))
        .expect("a .part file");
    let part = blobs.join(part);
    let mut bytes = std::fs::read(&part).unwrap();
    bytes[1000] ^= 0xff;
    std::fs::write(&part, &bytes).unwrap();

    server.clear_log();
    let err = run(&opts).0.unwrap_err();
    assert!(
        matches!(&err, HubError::HashMismatch { file, .. } if file == big),
        "{err}"
    );
    assert!(
        server
            .file_requests()
            .iter()
            .any(|r| r.path.ends_with(big) && r.range.as_deref() == Some("bytes=500000-")),
        "the second run resumed: {:?}",
        server.file_requests()
    );
    assert!(!part.exists(), "a corrupt part must not be resumed again");
    assert_same_files(&run(&opts).0.unwrap());
}
