//! Crash-safe file writes: a reader sees either no file or the complete file, never a part.
//!
//! The bytes go to a hidden temporary file in the destination's folder (same file system, so
//! the final step is a rename or link, not a copy), are flushed to disk with `fsync`, and only
//! then get their final name; the folder is synced afterwards so the new name survives a
//! power cut too. Replacing a file keeps its permissions (an edited caption stays as
//! readable as it was).

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// Whether an existing file at the destination may be replaced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Replace {
    /// Replace atomically (readers see the old or the new file).
    Allow,
    /// Fail with [`io::ErrorKind::AlreadyExists`] if the name is taken, even when another
    /// process creates it at the same moment.
    Forbid,
}

/// Write `bytes` to `path` atomically. Parent folders are created.
pub fn write_atomic(path: &Path, bytes: &[u8], replace: Replace) -> io::Result<()> {
    write_atomic_with(path, replace, |file| file.write_all(bytes))
}

/// [`write_atomic`] for content produced piece by piece (files too large to hold in memory):
/// `write` fills the temporary file, which gets its final name only if `write` succeeds.
pub fn write_atomic_with(
    path: &Path,
    replace: Replace,
    write: impl FnOnce(&mut File) -> io::Result<()>,
) -> io::Result<()> {
    let temp = write_temp(path, write)?;
    let published = publish(&temp, path, replace);
    if published.is_err() {
        let _ = fs::remove_file(&temp);
    }
    published?;
    sync_parent(path);
    Ok(())
}

/// Prefix of temporary file names (hidden on Unix); a crash can leave one behind, never a
/// partial file under the final name.
pub const TEMP_PREFIX: &str = ".ideogram4-tmp-";

fn write_temp(path: &Path, write: impl FnOnce(&mut File) -> io::Result<()>) -> io::Result<PathBuf> {
    let dir = parent_dir(path);
    fs::create_dir_all(&dir)?;
    let stem = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let (mut file, temp) = create_temp(&dir, &stem)?;
    let written = write(&mut file).and_then(|()| file.sync_all());
    if let Err(err) = written {
        drop(file);
        let _ = fs::remove_file(&temp);
        return Err(err);
    }
    Ok(temp)
}

/// A new, uniquely named file next to the destination (never one another writer holds).
fn create_temp(dir: &Path, stem: &str) -> io::Result<(File, PathBuf)> {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    for _ in 0..100 {
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let name = format!("{TEMP_PREFIX}{}-{n}-{nanos:08x}-{stem}", std::process::id());
        let temp = dir.join(name);
        match OpenOptions::new().write(true).create_new(true).open(&temp) {
            Ok(file) => return Ok((file, temp)),
            Err(err) if err.kind() == io::ErrorKind::AlreadyExists => continue,
            Err(err) => return Err(err),
        }
    }
    Err(io::Error::new(
        io::ErrorKind::AlreadyExists,
        format!("could not create a temporary file in {}", dir.display()),
    ))
}

fn publish(temp: &Path, path: &Path, replace: Replace) -> io::Result<()> {
    match replace {
        Replace::Allow => {
            if let Ok(meta) = fs::metadata(path) {
                let _ = fs::set_permissions(temp, meta.permissions());
            }
            fs::rename(temp, path)
        }
        Replace::Forbid => {
            // A hard link fails if the name exists, atomically; the temp name is removed after.
            match fs::hard_link(temp, path) {
                Ok(()) => {
                    let _ = fs::remove_file(temp);
                    Ok(())
                }
                Err(err) if err.kind() == io::ErrorKind::AlreadyExists => Err(err),
                Err(_) => {
                    // File systems without hard links (FAT, some network mounts): check, then
                    // rename. Only a writer racing for the very same name can slip in between.
                    if path.exists() {
                        Err(io::Error::new(
                            io::ErrorKind::AlreadyExists,
                            format!("{} already exists", path.display()),
                        ))
                    } else {
                        fs::rename(temp, path)
                    }
                }
            }
        }
    }
}

fn parent_dir(path: &Path) -> PathBuf {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

/// Best effort: make the new directory entry durable. Not all platforms allow opening a
/// directory for syncing, and the data itself is already on disk, so errors are ignored.
fn sync_parent(path: &Path) {
    #[cfg(unix)]
    if let Ok(dir) = File::open(parent_dir(path)) {
        let _ = dir.sync_all();
    }
    #[cfg(not(unix))]
    let _ = path;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(dir: &Path) -> Vec<String> {
        let mut v: Vec<String> = fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    }

    #[test]
    fn writes_and_leaves_no_temp_files() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/a.bin");
        write_atomic(&path, b"hello", Replace::Forbid).unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"hello");
        assert_eq!(names(&dir.path().join("sub")), vec!["a.bin"]);
    }

    #[test]
    fn forbid_keeps_the_existing_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.bin");
        write_atomic(&path, b"first", Replace::Forbid).unwrap();
        let err = write_atomic(&path, b"second", Replace::Forbid).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::AlreadyExists);
        assert_eq!(fs::read(&path).unwrap(), b"first");
        assert_eq!(names(dir.path()), vec!["a.bin"]);
        write_atomic(&path, b"third", Replace::Allow).unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"third");
        assert_eq!(names(dir.path()), vec!["a.bin"]);
    }

    #[test]
    fn failure_cleans_up() {
        let dir = tempfile::tempdir().unwrap();
        // Publishing onto an existing directory fails after the temp file was written.
        let target = dir.path().join("taken");
        fs::create_dir(&target).unwrap();
        fs::write(target.join("x"), b"x").unwrap();
        assert!(write_atomic(&target, b"data", Replace::Allow).is_err());
        assert_eq!(names(dir.path()), vec!["taken"]);
    }

    #[test]
    fn streamed_content_and_a_failed_writer() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("big.bin");
        write_atomic_with(&path, Replace::Forbid, |f| {
            f.write_all(b"ab")?;
            f.write_all(b"cd")
        })
        .unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"abcd");
        let failed = write_atomic_with(&path, Replace::Allow, |f| {
            f.write_all(b"half")?;
            Err(io::Error::other("disk full"))
        });
        assert!(failed.is_err());
        assert_eq!(fs::read(&path).unwrap(), b"abcd");
        assert_eq!(names(dir.path()), vec!["big.bin"]);
    }

    #[cfg(unix)]
    #[test]
    fn replacing_keeps_the_permissions() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("caption.json");
        write_atomic(&path, b"{}", Replace::Forbid).unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(0o600)).unwrap();
        write_atomic(&path, b"{\"a\": 1}", Replace::Allow).unwrap();
        let mode = fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
    }
}
