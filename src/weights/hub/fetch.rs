//! One file from the Hub into the cache's `blobs/` folder, by hand rather than through hf-hub:
//!
//! - redirects are followed here, and the token goes only to the endpoint's own origin (hf-hub
//!   0.5's metadata request sends it on to whatever host a 302 names, and the Hub redirects
//!   LFS files to a CDN);
//! - an interrupted transfer resumes from `blobs/<sha256>.part` with a `Range` request;
//! - the sha256 the Hub publishes for an LFS file is checked over the whole file (resumed
//!   bytes included) before it is renamed into the cache; a mismatch deletes the partial file.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use ureq::http::{StatusCode, Uri};

/// Redirect hops accepted before giving up (the Hub uses one or two).
const MAX_REDIRECTS: usize = 10;

/// How a fetch failed, before the caller adds which repo and file it was.
#[derive(Debug)]
pub(super) enum FetchError {
    /// An HTTP status other than success or a redirect.
    Status {
        url: String,
        status: u16,
    },
    /// The connection failed or dropped; what arrived is kept in the `.part` file.
    Transfer {
        url: String,
        message: String,
    },
    /// The finished file's sha256 differs from the published one (the file is deleted).
    Hash {
        expected: String,
        got: String,
    },
    /// More bytes than the listing announced.
    TooLong {
        expected: u64,
        got: u64,
    },
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    Protocol {
        url: String,
        message: String,
    },
}

/// An HTTP client that never sends the token outside the endpoint's origin.
pub(super) struct Fetcher {
    agent: ureq::Agent,
    origin: Option<String>,
    token: Option<String>,
}

/// What one file should become.
pub(super) struct Wanted<'a> {
    pub url: &'a str,
    pub part: &'a Path,
    pub size: Option<u64>,
    /// Published LFS sha256 (lowercase hex); `None` for small files stored in git.
    pub sha256: Option<&'a str>,
}

impl Fetcher {
    pub fn new(endpoint: &str, token: Option<&str>) -> Fetcher {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .max_redirects(0)
            .http_status_as_error(false)
            .user_agent(concat!("ideogram4-tui/", env!("CARGO_PKG_VERSION")))
            .build()
            .into();
        Fetcher {
            agent,
            origin: origin(endpoint),
            token: token.map(str::to_string),
        }
    }

    /// Whether a request to `url` may carry the token.
    pub fn sends_token_to(&self, url: &str) -> bool {
        self.token.is_some() && self.origin.is_some() && origin(url) == self.origin
    }

    /// GET `url`, following redirects; `range_from` asks for the bytes from that offset on.
    pub fn get(
        &self,
        url: &str,
        range_from: Option<u64>,
    ) -> Result<(String, ureq::http::Response<ureq::Body>), FetchError> {
        let mut url = url.to_string();
        for _ in 0..=MAX_REDIRECTS {
            let mut req = self.agent.get(&url);
            if let Some(from) = range_from {
                req = req.header("Range", format!("bytes={from}-"));
            }
            if self.sends_token_to(&url) {
                if let Some(t) = &self.token {
                    req = req.header("Authorization", format!("Bearer {t}"));
                }
            }
            let resp = req.call().map_err(|e| FetchError::Transfer {
                url: url.clone(),
                message: e.to_string(),
            })?;
            let status = resp.status();
            if status.is_redirection() && status != StatusCode::NOT_MODIFIED {
                let location = resp
                    .headers()
                    .get("location")
                    .and_then(|v| v.to_str().ok())
                    .ok_or_else(|| FetchError::Protocol {
                        url: url.clone(),
                        message: format!("HTTP {} without a Location header", status.as_u16()),
                    })?;
                url = resolve(&url, location).ok_or_else(|| FetchError::Protocol {
                    url: url.clone(),
                    message: format!("cannot follow the redirect to {location:?}"),
                })?;
                continue;
            }
            if !status.is_success() {
                return Err(FetchError::Status {
                    url,
                    status: status.as_u16(),
                });
            }
            return Ok((url, resp));
        }
        Err(FetchError::Protocol {
            url,
            message: format!("more than {MAX_REDIRECTS} redirects"),
        })
    }

    /// Downloads `want` into `want.part`, resuming what that file holds, and returns the
    /// whole file's sha256 (checked against the published one for LFS files). `progress` gets
    /// the file's byte count so far (resumed bytes included).
    pub fn fetch(
        &self,
        want: &Wanted,
        progress: &mut dyn FnMut(u64),
    ) -> Result<String, FetchError> {
        let io = |path: &Path| {
            let path = path.to_path_buf();
            move |source| FetchError::Io { path, source }
        };
        if let Some(dir) = want.part.parent() {
            std::fs::create_dir_all(dir).map_err(io(dir))?;
        }
        // Only LFS files resume: a small file is cheaper to fetch again than to trust.
        let mut have = match (want.sha256, std::fs::metadata(want.part)) {
            (Some(_), Ok(m)) if want.size.is_none_or(|s| m.len() <= s) => m.len(),
            _ => 0,
        };
        let mut hasher = ring::digest::Context::new(&ring::digest::SHA256);
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(want.part)
            .map_err(io(want.part))?;
        if have > 0 {
            let mut old = std::fs::File::open(want.part).map_err(io(want.part))?;
            hash_reader(&mut old, &mut hasher).map_err(io(want.part))?;
        } else {
            file.set_len(0).map_err(io(want.part))?;
        }
        progress(have);

        let complete = want.size.is_some_and(|s| have == s && s > 0);
        if !complete {
            let (url, resp) = self.get(want.url, (have > 0).then_some(have))?;
            let status = resp.status();
            if have > 0 && status != StatusCode::PARTIAL_CONTENT {
                // The server sent the whole file instead of the rest: start over.
                have = 0;
                hasher = ring::digest::Context::new(&ring::digest::SHA256);
                file.set_len(0).map_err(io(want.part))?;
            }
            let mut body = resp.into_body().into_reader();
            let mut buf = vec![0u8; 1 << 16];
            loop {
                let n = match body.read(&mut buf) {
                    Ok(0) => break,
                    Ok(n) => n,
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                    Err(e) => {
                        return Err(FetchError::Transfer {
                            url,
                            message: format!("{e} (the partial file is kept: run again to resume)"),
                        })
                    }
                };
                file.write_all(&buf[..n]).map_err(io(want.part))?;
                hasher.update(&buf[..n]);
                have += n as u64;
                if let Some(size) = want.size {
                    if have > size {
                        drop(file);
                        let _ = std::fs::remove_file(want.part);
                        return Err(FetchError::TooLong {
                            expected: size,
                            got: have,
                        });
                    }
                }
                progress(have);
            }
            if let Some(size) = want.size.filter(|&s| have < s) {
                return Err(FetchError::Transfer {
                    url,
                    message: format!(
                        "the connection closed after {have} of {size} bytes (the partial file \
                         is kept: run again to resume)"
                    ),
                });
            }
        }
        file.sync_all().map_err(io(want.part))?;
        drop(file);
        let got = hex(hasher.finish().as_ref());
        if let Some(expected) = want.sha256 {
            if !got.eq_ignore_ascii_case(expected) {
                // A corrupt part must not be resumed either: drop it entirely.
                let _ = std::fs::remove_file(want.part);
                return Err(FetchError::Hash {
                    expected: expected.to_ascii_lowercase(),
                    got,
                });
            }
        }
        Ok(got)
    }
}

fn hash_reader(r: &mut impl Read, hasher: &mut ring::digest::Context) -> std::io::Result<()> {
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = r.read(&mut buf)?;
        if n == 0 {
            return Ok(());
        }
        hasher.update(&buf[..n]);
    }
}

/// sha256 of a file on disk, lowercase hex.
#[cfg(test)]
fn sha256_file(path: &Path) -> std::io::Result<String> {
    let mut hasher = ring::digest::Context::new(&ring::digest::SHA256);
    hash_reader(&mut std::fs::File::open(path)?, &mut hasher)?;
    Ok(hex(hasher.finish().as_ref()))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// `scheme://host:port` of a URL, lowercased, with the default port made explicit.
fn origin(url: &str) -> Option<String> {
    let uri: Uri = url.parse().ok()?;
    let scheme = uri.scheme_str()?.to_ascii_lowercase();
    let host = uri.host()?.to_ascii_lowercase();
    let port = uri
        .port_u16()
        .unwrap_or(if scheme == "https" { 443 } else { 80 });
    Some(format!("{scheme}://{host}:{port}"))
}

/// A `Location` header value made absolute against the URL that answered with it.
fn resolve(base: &str, location: &str) -> Option<String> {
    if location.starts_with("http://") || location.starts_with("https://") {
        return Some(location.to_string());
    }
    let uri: Uri = base.parse().ok()?;
    let scheme = uri.scheme_str()?;
    if let Some(rest) = location.strip_prefix("//") {
        return Some(format!("{scheme}://{rest}"));
    }
    let authority = uri.authority()?.as_str();
    if location.starts_with('/') {
        return Some(format!("{scheme}://{authority}{location}"));
    }
    let path = uri.path();
    let dir = &path[..path.rfind('/').map_or(0, |i| i + 1)];
    Some(format!("{scheme}://{authority}{dir}{location}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_token_goes_only_to_the_endpoint_origin() {
        let f = Fetcher::new("https://huggingface.co/", Some("hf_x"));
        assert!(f.sends_token_to("https://huggingface.co/a/resolve/main/b"));
        assert!(f.sends_token_to("https://HuggingFace.co:443/x"));
        assert!(!f.sends_token_to("https://cdn-lfs.huggingface.co/x"));
        assert!(!f.sends_token_to("http://huggingface.co/x"));
        assert!(!f.sends_token_to("https://huggingface.co:8443/x"));
        assert!(!f.sends_token_to("https://huggingface.co.evil.example/x"));
        let anon = Fetcher::new("https://huggingface.co", None);
        assert!(!anon.sends_token_to("https://huggingface.co/x"));
    }

    #[test]
    fn redirect_locations_resolve_against_the_answering_url() {
        let base = "http://127.0.0.1:8080/repo/resolve/main/vae/x.bin?a=1";
        for (location, want) in [
            ("http://127.0.0.2:9/blob", "http://127.0.0.2:9/blob"),
            ("/other/path", "http://127.0.0.1:8080/other/path"),
            ("//cdn.example/y", "http://cdn.example/y"),
            ("y.bin", "http://127.0.0.1:8080/repo/resolve/main/vae/y.bin"),
        ] {
            assert_eq!(resolve(base, location).as_deref(), Some(want), "{location}");
        }
    }

    #[test]
    fn sha256_matches_a_known_vector() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("abc");
        std::fs::write(&p, b"abc").unwrap();
        assert_eq!(
            sha256_file(&p).unwrap(),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
