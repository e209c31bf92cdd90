//! Is the output folder usable? Checked before any work, so a long run never ends with its
//! image lost to a folder that could not be written.

use std::fs::{self, OpenOptions};
use std::io;
use std::path::{Path, PathBuf};

use super::{OutputError, TEMP_PREFIX};

/// Why images cannot be written into a folder, in one line with the true reason.
#[derive(Debug, thiserror::Error)]
pub enum FolderError {
    /// A component of the path is a regular file (`-o existing.png/x.png`).
    #[error("cannot write images to {}: {} is a file, not a folder", dir.display(), file.display())]
    ThroughFile { dir: PathBuf, file: PathBuf },
    /// Creating the folder or a file in it failed (permissions, read-only file system, …).
    /// The reason is part of the message and deliberately not a `source`, so a cause chain
    /// does not print it twice.
    #[error("cannot write images to {}: {reason}", dir.display())]
    Unwritable { dir: PathBuf, reason: io::Error },
}

/// Proves images can be written into `dir` without creating it: the nearest existing folder
/// on its path must be a folder (not a file) in which a file can be created (a probe file,
/// removed at once). Nothing is left behind.
pub fn check_dir(dir: &Path) -> Result<(), FolderError> {
    let dir = if dir.as_os_str().is_empty() {
        Path::new(".")
    } else {
        dir
    };
    let existing = check_no_file_on_path(dir)?.unwrap_or_else(|| Path::new(".").to_path_buf());
    let probe = existing.join(format!("{TEMP_PREFIX}probe-{}", std::process::id()));
    match OpenOptions::new().write(true).create_new(true).open(&probe) {
        Ok(_) => {
            let _ = fs::remove_file(&probe);
            Ok(())
        }
        // Left by another run of ours: the folder is writable all the same.
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Ok(()),
        Err(reason) => Err(FolderError::Unwritable {
            dir: dir.to_path_buf(),
            reason,
        }),
    }
}

/// The nearest existing ancestor of `dir` must be a folder (symlinks followed); returns it.
pub(super) fn check_no_file_on_path(dir: &Path) -> Result<Option<PathBuf>, FolderError> {
    for a in dir.ancestors() {
        if a.as_os_str().is_empty() {
            break;
        }
        match fs::metadata(a) {
            Ok(m) if m.is_dir() => return Ok(Some(a.to_path_buf())),
            Ok(_) => {
                return Err(FolderError::ThroughFile {
                    dir: dir.to_path_buf(),
                    file: a.to_path_buf(),
                })
            }
            Err(_) => continue,
        }
    }
    Ok(None)
}

impl From<FolderError> for OutputError {
    fn from(e: FolderError) -> Self {
        OutputError::Folder(e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_path_through_a_regular_file_is_named_as_such() {
        let tmp = tempfile::tempdir().unwrap();
        let file = tmp.path().join("existing.png");
        fs::write(&file, b"x").unwrap();
        let e = check_dir(&file.join("sub")).unwrap_err();
        assert!(
            matches!(&e, FolderError::ThroughFile { file: f, .. } if *f == file),
            "{e}"
        );
        assert!(
            e.to_string()
                .ends_with("existing.png is a file, not a folder"),
            "{e}"
        );
    }

    #[test]
    fn a_missing_folder_is_fine_and_nothing_is_left_behind() {
        let tmp = tempfile::tempdir().unwrap();
        check_dir(&tmp.path().join("a/b")).unwrap();
        assert_eq!(fs::read_dir(tmp.path()).unwrap().count(), 0);
    }
}
