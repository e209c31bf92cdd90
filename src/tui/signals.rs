//! SIGTERM, SIGHUP (an SSH disconnect) and SIGINT end the app the way Ctrl-Q does: the event
//! loop gets them as messages, so the state is saved, the engine stopped and the terminal
//! restored instead of the process dying with the alternate screen still on.

use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
use signal_hook::iterator::{Handle, Signals};

/// Forwards the signals until dropped.
pub struct SignalForwarder {
    handle: Handle,
}

impl SignalForwarder {
    /// Calls `deliver` with each signal number, on a thread of its own, until it returns
    /// false or the forwarder is dropped.
    pub fn spawn(deliver: impl Fn(i32) -> bool + Send + 'static) -> std::io::Result<Self> {
        let mut signals = Signals::new([SIGTERM, SIGHUP, SIGINT])?;
        let handle = signals.handle();
        std::thread::Builder::new()
            .name("signals".into())
            .spawn(move || {
                for sig in signals.forever() {
                    if !deliver(sig) {
                        break;
                    }
                }
            })?;
        Ok(SignalForwarder { handle })
    }
}

impl Drop for SignalForwarder {
    fn drop(&mut self) {
        self.handle.close();
    }
}

/// The signal's name for the log.
pub fn name(sig: i32) -> &'static str {
    match sig {
        SIGTERM => "SIGTERM",
        SIGHUP => "SIGHUP",
        SIGINT => "SIGINT",
        _ => "signal",
    }
}
