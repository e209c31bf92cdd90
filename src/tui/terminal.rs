//! Raw mode and the alternate screen, undone on every way out (return, error, panic); and the
//! input thread, which can be paused while something else must read the terminal's replies.

use std::io::{self, Write};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use crossterm::event::{self, DisableBracketedPaste, EnableBracketedPaste, Event};
use crossterm::terminal::{self, EnterAlternateScreen, LeaveAlternateScreen};
use crossterm::{cursor, execute};

/// Puts the terminal into the app's mode; dropping it restores the terminal.
pub struct TerminalGuard {
    active: bool,
}

impl TerminalGuard {
    pub fn enter() -> io::Result<TerminalGuard> {
        install_panic_hook();
        terminal::enable_raw_mode()?;
        let guard = TerminalGuard { active: true };
        execute!(io::stdout(), EnterAlternateScreen, EnableBracketedPaste)?;
        Ok(guard)
    }
}

impl Drop for TerminalGuard {
    fn drop(&mut self) {
        if self.active {
            restore();
            self.active = false;
        }
    }
}

/// Leaves the app's terminal mode. Safe to call more than once.
pub fn restore() {
    let mut out = io::stdout();
    // Kitty images outlive the alternate screen unless deleted.
    if super::preview::KITTY_USED.load(std::sync::atomic::Ordering::Relaxed) {
        let _ = super::preview::kitty_clear(&mut out);
    }
    let _ = execute!(
        out,
        DisableBracketedPaste,
        LeaveAlternateScreen,
        cursor::Show
    );
    let _ = terminal::disable_raw_mode();
    let _ = out.flush();
}

fn install_panic_hook() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            // Restore first, so the panic message lands on a normal screen.
            restore();
            previous(info);
        }));
    });
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ReaderState {
    Running,
    PauseRequested,
    Paused,
    Stop,
}

struct Control {
    state: Mutex<ReaderState>,
    changed: Condvar,
}

/// Reads terminal events on its own thread and forwards them.
///
/// Why a thread with short polls instead of crossterm's `EventStream`: graphics printers ask
/// the terminal questions and read the answers from the same stdin. With a reader that can
/// be paused *and confirm it is paused* (it is then parked on a condition variable, not
/// inside `poll`), the answer cannot be stolen by the event reader, and a key typed meanwhile
/// simply waits in the terminal's input until reading resumes.
pub struct InputReader {
    control: Arc<Control>,
    thread: Option<JoinHandle<()>>,
}

/// How long one poll waits; bounds how long [`InputReader::pause`] can take.
const POLL: Duration = Duration::from_millis(20);

impl InputReader {
    pub fn spawn(forward: impl Fn(Event) -> bool + Send + 'static) -> io::Result<InputReader> {
        let control = Arc::new(Control {
            state: Mutex::new(ReaderState::Running),
            changed: Condvar::new(),
        });
        let c = control.clone();
        let thread = std::thread::Builder::new()
            .name("input".into())
            .spawn(move || {
                read_loop(&c, &forward);
                // However the loop ended, nobody may wait for this thread to pause any more.
                let mut s = c.state.lock().unwrap_or_else(|p| p.into_inner());
                *s = ReaderState::Stop;
                c.changed.notify_all();
            })?;
        Ok(InputReader {
            control,
            thread: Some(thread),
        })
    }

    /// Stops reading and waits until the thread confirms it is not touching stdin.
    pub fn pause(&self) {
        let mut s = self.control.state.lock().unwrap_or_else(|p| p.into_inner());
        if *s == ReaderState::Stop {
            return;
        }
        *s = ReaderState::PauseRequested;
        self.control.changed.notify_all();
        while *s == ReaderState::PauseRequested {
            s = self
                .control
                .changed
                .wait(s)
                .unwrap_or_else(|p| p.into_inner());
        }
    }

    pub fn resume(&self) {
        let mut s = self.control.state.lock().unwrap_or_else(|p| p.into_inner());
        if *s != ReaderState::Stop {
            *s = ReaderState::Running;
        }
        self.control.changed.notify_all();
    }

    /// Runs `f` with input reading paused.
    pub fn paused<R>(&self, f: impl FnOnce() -> R) -> R {
        self.pause();
        let r = f();
        self.resume();
        r
    }
}

fn read_loop(c: &Control, forward: &impl Fn(Event) -> bool) {
    loop {
        {
            let mut s = c.state.lock().unwrap_or_else(|p| p.into_inner());
            loop {
                match *s {
                    ReaderState::Stop => return,
                    ReaderState::Running => break,
                    ReaderState::PauseRequested | ReaderState::Paused => {
                        *s = ReaderState::Paused;
                        c.changed.notify_all();
                        s = c.changed.wait(s).unwrap_or_else(|p| p.into_inner());
                    }
                }
            }
        }
        match event::poll(POLL) {
            Ok(true) => match event::read() {
                Ok(ev) => {
                    if !forward(ev) {
                        return;
                    }
                }
                Err(_) => return,
            },
            Ok(false) => {}
            Err(_) => return,
        }
    }
}

impl Drop for InputReader {
    fn drop(&mut self) {
        {
            let mut s = self.control.state.lock().unwrap_or_else(|p| p.into_inner());
            *s = ReaderState::Stop;
            self.control.changed.notify_all();
        }
        if let Some(t) = self.thread.take() {
            // When the terminal has gone (the tmux server or the SSH session died), crossterm's
            // read() spins on the hung-up tty and never returns: give the thread a moment, then
            // leave it behind so the app can finish saving and exit (which ends the thread).
            let deadline = std::time::Instant::now() + Duration::from_secs(1);
            while !t.is_finished() && std::time::Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(10));
            }
            if t.is_finished() {
                let _ = t.join();
            } else {
                tracing::warn!("terminal input thread did not stop (terminal gone?); leaving it");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Instant;

    #[test]
    fn pause_resume_and_drop_never_hang() {
        // Under a test runner there may be no terminal at all: the reader may end at once;
        // pausing must still return, and dropping must join.
        let reader = InputReader::spawn(|_| true).unwrap();
        let t0 = Instant::now();
        for _ in 0..5 {
            reader.paused(|| std::thread::sleep(Duration::from_millis(5)));
        }
        drop(reader);
        assert!(t0.elapsed() < Duration::from_secs(10), "{:?}", t0.elapsed());
    }
}
