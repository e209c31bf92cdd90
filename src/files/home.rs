//! `~` in paths people type (flags, config files, the TUI's fields).

use std::path::{Path, PathBuf};

/// `~` -> the home folder, `~/x` -> the home folder's `x`; anything else, `~user/x`
/// included, is returned unchanged (other users' folders are never looked up). The home
/// folder is [`home_dir`]'s; without one the path stays as it is.
///
/// The match is on the first path component, so `~\x` works on Windows and `~x` or a file
/// named `~foo` is not expanded.
pub fn expand_home(path: impl AsRef<Path>) -> PathBuf {
    let path = path.as_ref();
    if let Ok(rest) = path.strip_prefix("~") {
        if let Some(home) = home_dir() {
            return home.join(rest);
        }
    }
    path.to_path_buf()
}

/// The user's home folder: `$HOME` when set and not empty, else the account database's.
pub fn home_dir() -> Option<PathBuf> {
    directories::BaseDirs::new().map(|dirs| dirs.home_dir().to_path_buf())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_leading_tilde_component_expands() {
        let Some(dirs) = directories::BaseDirs::new() else {
            return;
        };
        let home = dirs.home_dir();
        assert_eq!(expand_home("~"), home);
        assert_eq!(expand_home("~/a/b.png"), home.join("a/b.png"));
        assert_eq!(expand_home(Path::new("~//a")), home.join("a"));
        assert_eq!(expand_home("~other/a"), Path::new("~other/a"));
        assert_eq!(expand_home("a/~/b"), Path::new("a/~/b"));
        assert_eq!(expand_home("/abs/x"), Path::new("/abs/x"));
    }
}
