//! Shared scaffolding of the `generate` CLI tests: the fox caption and a scratch folder that
//! holds it as caption.json and is removed on drop.
#![allow(dead_code)]

use std::path::PathBuf;

pub const CAPTION: &str = r##"{"high_level_description": "A red fox in the snow.", "style_description": {"aesthetics": "calm", "lighting": "soft morning light", "photo": "35mm lens", "medium": "photograph", "color_palette": ["#C0392B", "#FFFFFF"]}, "compositional_deconstruction": {"background": "a snowy forest", "elements": [{"type": "obj", "bbox": [300, 150, 900, 550], "desc": "a red fox"}]}}
"##;

pub struct Scratch(pub PathBuf);

impl Scratch {
    /// `$TMPDIR/ideogram4-{suite}-{name}-{pid}`, emptied, with caption.json in it.
    pub fn new(suite: &str, name: &str) -> Scratch {
        let p =
            std::env::temp_dir().join(format!("ideogram4-{suite}-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).unwrap();
        std::fs::write(p.join("caption.json"), CAPTION).unwrap();
        Scratch(p)
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }

    /// The folder's file names, sorted.
    pub fn files(&self) -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(&self.0)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
