//! SHA-256 of files in hex, for the adapter digests written into `parameters` records
//! (ring's implementation, the one downloads and start images use too).

use std::io::Read;
use std::path::Path;

fn hex(digest: ring::digest::Digest) -> String {
    digest.as_ref().iter().map(|b| format!("{b:02x}")).collect()
}

/// SHA-256 of `data` in hex.
pub fn hex_digest(data: &[u8]) -> String {
    hex(ring::digest::digest(&ring::digest::SHA256, data))
}

/// SHA-256 of a file's bytes in hex, read in 1 MiB chunks.
pub fn file_digest(path: &Path) -> std::io::Result<String> {
    let mut file = std::fs::File::open(path)?;
    let mut h = ring::digest::Context::new(&ring::digest::SHA256);
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = file.read(&mut buf)?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Ok(hex(h.finish()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fips_180_vectors() {
        assert_eq!(
            hex_digest(b""),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        assert_eq!(
            hex_digest(b"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"),
            "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"
        );
        // The standard's million 'a's, through the file reader.
        let path = std::env::temp_dir().join(format!("sha256-{}", std::process::id()));
        std::fs::write(&path, vec![b'a'; 1_000_000]).unwrap();
        let got = file_digest(&path).unwrap();
        let _ = std::fs::remove_file(&path);
        assert_eq!(
            got,
            "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0"
        );
    }
}
