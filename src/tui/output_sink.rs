//! Where the app's finished images go: the configured folder and name pattern, PNG with the
//! `parameters` record embedded, and a line in the history index.

use std::path::{Path, PathBuf};

use crate::engine::{Generated, Job, OutputSink};
use crate::output::{
    expand_pattern, save_image, History, HistoryEntry, PatternFields, RgbImage, SaveOptions,
    Timestamp,
};

pub struct PatternSink {
    dir: PathBuf,
    pattern: String,
    history: History,
}

impl PatternSink {
    /// Images go to `dir` named by `pattern`; the history index lives in `data_dir`.
    pub fn new(dir: PathBuf, pattern: String, data_dir: &Path) -> PatternSink {
        PatternSink {
            dir,
            pattern,
            history: History::new(data_dir),
        }
    }

    pub fn history(&self) -> &History {
        &self.history
    }
}

impl OutputSink for PatternSink {
    fn write(&mut self, job: &Job, generated: &Generated) -> Result<PathBuf, String> {
        let now = Timestamp::now_local();
        let fields = PatternFields {
            seed: job.spec.seed,
            preset: job.spec.params.label(),
            time: now,
        };
        let name = expand_pattern(&self.pattern, &self.dir, &fields).map_err(|e| e.to_string())?;
        let img = &generated.image;
        let image = RgbImage::new(img.width, img.height, &img.pixels).map_err(|e| e.to_string())?;
        let record = &generated.parameters;
        let saved = save_image(&name, &image, &record.to_value(), &SaveOptions::default())
            .map_err(|e| e.to_string())?;
        // The image is written; a history line that fails to append is not worth losing it.
        let _ = self
            .history
            .append(&HistoryEntry::from_record(&saved.path, record, now));
        Ok(saved.path)
    }
}
