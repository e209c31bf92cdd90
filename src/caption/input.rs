//! Reading a caption from a file or standard input, with a size limit.
//!
//! A caption is a few kilobytes of JSON. Without a limit, `verify /dev/zero` or a caption file
//! argument naming the wrong thing reads until the kernel's OOM killer stops the process.

use std::io::{self, Read};
use std::path::Path;

/// The largest caption accepted, in bytes (1 MiB: hundreds of times a real caption).
pub const MAX_CAPTION_BYTES: u64 = 1 << 20;

/// The input was larger than [`MAX_CAPTION_BYTES`].
#[derive(Debug, thiserror::Error)]
#[error("larger than {} MiB, the limit for a caption (a caption is a few KB of JSON)",
    MAX_CAPTION_BYTES >> 20)]
pub struct CaptionTooLarge;

/// Reads at most [`MAX_CAPTION_BYTES`] of UTF-8 text. Too much input is an error of kind
/// `FileTooLarge` carrying [`CaptionTooLarge`]; text that is not UTF-8 is `InvalidData`.
pub fn read_text(reader: impl Read) -> io::Result<String> {
    let mut bytes = Vec::new();
    reader.take(MAX_CAPTION_BYTES + 1).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > MAX_CAPTION_BYTES {
        return Err(io::Error::new(io::ErrorKind::FileTooLarge, CaptionTooLarge));
    }
    String::from_utf8(bytes).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))
}

/// [`read_text`] from a file (or a device, FIFO, …).
pub fn read_file(path: &Path) -> io::Result<String> {
    read_text(std::fs::File::open(path)?)
}

/// [`read_text`] from standard input.
pub fn read_stdin() -> io::Result<String> {
    read_text(io::stdin().lock())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_up_to_the_limit_and_refuses_one_byte_more() {
        let at_limit = vec![b' '; MAX_CAPTION_BYTES as usize];
        assert_eq!(read_text(&at_limit[..]).unwrap().len(), at_limit.len());
        let over = vec![b' '; MAX_CAPTION_BYTES as usize + 1];
        let e = read_text(&over[..]).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::FileTooLarge);
        assert!(e.to_string().contains("1 MiB"), "{e}");
    }

    #[test]
    fn an_endless_device_stops_at_the_limit() {
        let e = read_file(Path::new("/dev/zero")).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::FileTooLarge, "{e}");
    }

    #[test]
    fn not_utf8_is_invalid_data() {
        let e = read_text(&[0xff, 0xfe][..]).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::InvalidData);
    }
}
