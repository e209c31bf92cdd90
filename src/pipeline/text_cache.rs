//! Projected text features of recent captions, so a new seed of the same caption skips the
//! text encoder and the `llm_cond` projection.

use std::collections::VecDeque;

use crate::model::dit::TextConditioning;

/// A small most-recently-used list keyed by the exact caption text.
pub(crate) struct TextCache {
    capacity: usize,
    /// Most recent first.
    entries: VecDeque<(String, TextConditioning)>,
}

impl TextCache {
    pub(crate) fn new(capacity: usize) -> TextCache {
        TextCache {
            capacity: capacity.max(1),
            entries: VecDeque::new(),
        }
    }

    pub(crate) fn get(&mut self, caption: &str) -> Option<TextConditioning> {
        let i = self.entries.iter().position(|(c, _)| c == caption)?;
        let entry = self.entries.remove(i)?;
        let text = entry.1.clone();
        self.entries.push_front(entry);
        Some(text)
    }

    pub(crate) fn insert(&mut self, caption: String, text: TextConditioning) {
        self.entries.retain(|(c, _)| *c != caption);
        self.entries.push_front((caption, text));
        self.entries.truncate(self.capacity);
    }

    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }

    pub(crate) fn clear(&mut self) {
        self.entries.clear();
    }
}
