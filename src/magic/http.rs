//! One JSON POST with the failure handling every backend shares: a global timeout, cancellation
//! from another thread, one bounded wait on HTTP 429, and errors that name the URL (and the
//! key's variable on 401/403) but never the key.

use std::sync::mpsc;
use std::time::{Duration, Instant};

use super::{quote, ApiKey, Cancel, MagicError};

/// The longest `Retry-After` honoured with a wait; longer requests fail at once.
pub(crate) const MAX_RATE_LIMIT_WAIT: Duration = Duration::from_secs(30);
/// The wait on a 429 without `Retry-After`.
const DEFAULT_RATE_LIMIT_WAIT: Duration = Duration::from_secs(2);
/// How often a waiting caller looks at its [`Cancel`].
const POLL: Duration = Duration::from_millis(25);

/// A POST to make; `headers` may hold the key, so this type has no `Debug`.
pub(crate) struct Post<'a> {
    pub url: &'a str,
    pub headers: Vec<(&'static str, String)>,
    pub body: String,
    pub timeout: Duration,
    /// The key in use, to redact it from quoted server text.
    pub key: Option<&'a ApiKey>,
    /// The variable a refused key is set with.
    pub key_var: &'static str,
}

struct Answer {
    status: u16,
    retry_after: Option<String>,
    body: String,
}

/// The body of a 2xx answer.
pub(crate) fn post_json(post: &Post<'_>, cancel: &Cancel) -> Result<String, MagicError> {
    let mut waited = false;
    loop {
        let answer = attempt(post, cancel)?;
        let body = || {
            let text = quote(&answer.body);
            post.key.map_or(text.clone(), |k| k.redact(&text))
        };
        let url = post.url.to_string();
        match answer.status {
            200..=299 => return Ok(answer.body),
            401 | 403 => {
                return Err(MagicError::Unauthorized {
                    url,
                    status: answer.status,
                    var: post.key_var,
                })
            }
            429 => {
                let asked = answer.retry_after.as_deref().and_then(parse_retry_after);
                let wait = asked.unwrap_or(DEFAULT_RATE_LIMIT_WAIT);
                if waited || wait > MAX_RATE_LIMIT_WAIT {
                    return Err(MagicError::RateLimited {
                        url,
                        retry_after: asked.map(|d| d.as_secs()),
                        waited,
                    });
                }
                tracing::info!(url = %url, seconds = wait.as_secs_f64(), "magic prompt: HTTP 429, waiting once");
                sleep_unless_cancelled(wait, cancel)?;
                waited = true;
            }
            500..=599 => {
                return Err(MagicError::Server {
                    url,
                    status: answer.status,
                    body: body(),
                })
            }
            status => {
                return Err(MagicError::Http {
                    url,
                    status,
                    body: body(),
                })
            }
        }
    }
}

/// `Retry-After` in seconds (the HTTP-date form is rare for APIs and treated as absent).
fn parse_retry_after(value: &str) -> Option<Duration> {
    value.trim().parse::<u64>().ok().map(Duration::from_secs)
}

fn sleep_unless_cancelled(total: Duration, cancel: &Cancel) -> Result<(), MagicError> {
    let until = Instant::now() + total;
    while Instant::now() < until {
        if cancel.is_cancelled() {
            return Err(MagicError::Cancelled);
        }
        std::thread::sleep(POLL.min(until.saturating_duration_since(Instant::now())));
    }
    Ok(())
}

/// One request on its own thread, so a cancel returns at once; an abandoned request ends by
/// its own timeout and its answer is dropped.
fn attempt(post: &Post<'_>, cancel: &Cancel) -> Result<Answer, MagicError> {
    if cancel.is_cancelled() {
        return Err(MagicError::Cancelled);
    }
    let (tx, rx) = mpsc::channel();
    let url = post.url.to_string();
    let headers = post.headers.clone();
    let body = post.body.clone();
    let timeout = post.timeout;
    std::thread::Builder::new()
        .name("magic-prompt-http".into())
        .spawn(move || {
            let _ = tx.send(send(&url, &headers, body, timeout));
        })
        .map_err(|e| MagicError::Network {
            url: post.url.to_string(),
            message: format!("cannot start the request thread: {e}"),
        })?;
    // A little beyond the request's own timeout, in case a read blocks past it.
    let deadline = Instant::now() + timeout + Duration::from_secs(5);
    loop {
        match rx.recv_timeout(POLL) {
            Ok(result) => return result.map_err(|e| map_error(post, e)),
            Err(mpsc::RecvTimeoutError::Timeout) => {
                if cancel.is_cancelled() {
                    return Err(MagicError::Cancelled);
                }
                if Instant::now() > deadline {
                    return Err(timeout_error(post));
                }
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                return Err(MagicError::Network {
                    url: post.url.to_string(),
                    message: "the request thread stopped".into(),
                })
            }
        }
    }
}

fn send(
    url: &str,
    headers: &[(&'static str, String)],
    body: String,
    timeout: Duration,
) -> Result<Answer, ureq::Error> {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .timeout_global(Some(timeout))
        .http_status_as_error(false)
        .build()
        .into();
    let mut request = agent.post(url);
    for (name, value) in headers {
        request = request.header(*name, value);
    }
    let response = request.send(body)?;
    let status = response.status().as_u16();
    let retry_after = response
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let body = response.into_body().read_to_string()?;
    Ok(Answer {
        status,
        retry_after,
        body,
    })
}

fn timeout_error(post: &Post<'_>) -> MagicError {
    MagicError::Timeout {
        url: post.url.to_string(),
        seconds: post.timeout.as_secs().max(1),
    }
}

fn map_error(post: &Post<'_>, e: ureq::Error) -> MagicError {
    use std::io::ErrorKind;
    match e {
        ureq::Error::Timeout(_) => timeout_error(post),
        ureq::Error::Io(io) if io.kind() == ErrorKind::TimedOut => timeout_error(post),
        ureq::Error::Io(io) if io.kind() == ErrorKind::ConnectionRefused => {
            MagicError::ConnectionRefused {
                url: post.url.to_string(),
            }
        }
        ureq::Error::ConnectionFailed => MagicError::ConnectionRefused {
            url: post.url.to_string(),
        },
        other => {
            let message = other.to_string();
            MagicError::Network {
                url: post.url.to_string(),
                message: post.key.map_or(message.clone(), |k| k.redact(&message)),
            }
        }
    }
}
