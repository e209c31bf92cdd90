//! Inputs for the header and quant-state parsers that once crashed the fuzz target
//! (`fuzz/fuzz_targets/weights_parse.rs`) or that target known hazards: lengths and offsets
//! near `u64::MAX`, shape products that overflow, deep JSON nesting, invalid UTF-8, NaN and
//! zero block sizes. Every one must be rejected with an error — no panic, no acceptance.
//! `*.json` files are quant-state blobs, everything else is a safetensors file; each is also
//! written to disk and opened through the real file reader.

use std::path::Path;

use ideogram4::weights::container::{Header, SafetensorsFile};
use ideogram4::weights::Nf4QuantState;

#[test]
fn every_regression_input_is_rejected_cleanly() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/weights_fuzz");
    let mut seen = 0;
    let tmp = tempfile::tempdir().unwrap();
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let bytes = std::fs::read(&path).unwrap();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        seen += 1;
        if name.ends_with(".json") {
            assert!(
                Nf4QuantState::parse(&bytes).is_err(),
                "{name} was accepted as a quant state"
            );
            continue;
        }
        let parsed = Header::parse(&bytes, bytes.len() as u64);
        assert!(parsed.is_err(), "{name} was accepted: {parsed:?}");
        let copy = tmp.path().join(format!("{name}.safetensors"));
        std::fs::write(&copy, &bytes).unwrap();
        let err = SafetensorsFile::open(&copy).expect_err(&name);
        assert!(err.to_string().contains(&name), "{name}: {err}");
    }
    assert!(seen >= 11, "fixture folder has {seen} inputs");
}
