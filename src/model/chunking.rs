//! How much of a row-independent step runs at once: a row count or a byte budget per call.
//! Shared by the VAE's lean decode (image rows, attention query rows) and the DiT's
//! feed-forward (tokens).

/// How much work one step takes at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Chunking {
    /// At most this many rows per step (`usize::MAX`: all of them).
    Rows(usize),
    /// As many rows as keep one step's estimated scratch under this many bytes (at least one).
    Bytes(usize),
}

impl Chunking {
    /// Rows per step out of `len`, when one row costs `bytes_per_row`.
    pub fn rows(self, len: usize, bytes_per_row: usize) -> usize {
        let rows = match self {
            Chunking::Rows(r) => r,
            Chunking::Bytes(b) => b / bytes_per_row.max(1),
        };
        rows.clamp(1, len.max(1))
    }
}
