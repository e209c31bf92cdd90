//! Writing outputs: every format round-trips its parameters record, PNG and WebP decode to
//! the exact pixels (JPEG to close ones), writes are atomic and never clobber, names and
//! formats resolve as documented.

use std::fs;
use std::path::Path;

use ideogram4::output::{
    expand_pattern, read_parameters, read_record, resolve_format, save_image, sidecar_path,
    Collision, GenerationRecord, ImageFormat, MetadataLocation, OutputError, OutputName,
    PatternFields, RgbImage, SaveOptions, Timestamp, TEMP_PREFIX,
};
use ideogram4::sampler::{Guidance, ImageSize, Preset, SamplerParams};

const W: u32 = 64;
const H: u32 = 48;

/// A smooth gradient with a few hard edges: compresses differently in every format.
fn pixels() -> Vec<u8> {
    let mut v = Vec::with_capacity((W * H * 3) as usize);
    for y in 0..H {
        for x in 0..W {
            let edge = if (x / 16 + y / 16) % 2 == 0 { 40 } else { 0 };
            v.push((x * 4) as u8);
            v.push((y * 5) as u8);
            v.push((128 + edge + (x + y) / 2) as u8);
        }
    }
    v
}

/// A caption with everything that could break an embedding: quotes, markup, our own XMP
/// closing tag, newlines, CJK, emoji, and trailing whitespace.
const CAPTION: &str = "{\"high_level_description\": \"A <robot> & a \\\"cactus\\\" </ideogram4:parameters>\",\n  \"style_description\": {\"aesthetics\": \"日本語 👩‍🚀\"}}\n ";

fn record(seed: u64) -> GenerationRecord {
    let sampler =
        SamplerParams::custom(3, 0.25, 1.3, Guidance::Schedule(vec![2.5, 4.0, 6.0])).unwrap();
    GenerationRecord::new(CAPTION, sampler, seed, ImageSize::new(W, H), "demo", "bf16")
}

fn listing(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

fn decode_png(path: &Path) -> (u32, u32, Vec<u8>) {
    let decoder = png::Decoder::new(std::io::BufReader::new(fs::File::open(path).unwrap()));
    let mut reader = decoder.read_info().unwrap();
    let mut buf = vec![0; reader.output_buffer_size().unwrap()];
    let info = reader.next_frame(&mut buf).unwrap();
    assert_eq!(info.color_type, png::ColorType::Rgb);
    assert_eq!(info.bit_depth, png::BitDepth::Eight);
    buf.truncate(info.buffer_size());
    (info.width, info.height, buf)
}

#[test]
fn png_round_trip_pixels_and_record() {
    let dir = tempfile::tempdir().unwrap();
    let px = pixels();
    let image = RgbImage::new(W, H, &px).unwrap();
    let rec = record(7);
    let saved = save_image(
        &OutputName::from_path(&dir.path().join("out.png")),
        &image,
        &rec.to_value(),
        &SaveOptions::default(),
    )
    .unwrap();
    assert_eq!(saved.format, ImageFormat::Png);
    assert_eq!(saved.metadata, MetadataLocation::Embedded);
    assert_eq!(saved.path, dir.path().join("out.png"));

    let (w, h, decoded) = decode_png(&saved.path);
    assert_eq!((w, h), (W, H));
    assert_eq!(decoded, px, "PNG must decode to the exact pixels");

    // The chunk is an iTXt named `parameters` whose text is the JSON record.
    let decoder = png::Decoder::new(std::io::BufReader::new(
        fs::File::open(&saved.path).unwrap(),
    ));
    let reader = decoder.read_info().unwrap();
    let chunk = reader
        .info()
        .utf8_text
        .iter()
        .find(|c| c.keyword == "parameters")
        .expect("iTXt parameters");
    let text = chunk.get_text().unwrap();
    let value: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(value["caption"], CAPTION);

    let back = read_record(&saved.path).unwrap();
    assert_eq!(back, rec);
    assert_eq!(back.caption, CAPTION, "caption must survive byte for byte");
    assert_eq!(read_parameters(&saved.path).unwrap(), rec.to_value());
    assert_eq!(listing(dir.path()), vec!["out.png"]);
}

#[test]
fn webp_is_lossless_and_carries_xmp() {
    let dir = tempfile::tempdir().unwrap();
    let px = pixels();
    let image = RgbImage::new(W, H, &px).unwrap();
    let rec = record(8);
    let saved = save_image(
        &OutputName::from_path(&dir.path().join("out.webp")),
        &image,
        &rec.to_value(),
        &SaveOptions::default(),
    )
    .unwrap();
    assert_eq!(saved.format, ImageFormat::WebP);
    assert_eq!(saved.metadata, MetadataLocation::Embedded);

    let bytes = fs::read(&saved.path).unwrap();
    let mut decoder = image_webp::WebPDecoder::new(std::io::Cursor::new(&bytes)).unwrap();
    assert_eq!(decoder.dimensions(), (W, H));
    assert!(!decoder.has_alpha());
    let mut decoded = vec![0; decoder.output_buffer_size().unwrap()];
    decoder.read_image(&mut decoded).unwrap();
    assert_eq!(decoded, px, "lossless WebP must decode to the exact pixels");
    let xmp = decoder.xmp_metadata().unwrap().expect("XMP chunk");
    assert!(String::from_utf8(xmp)
        .unwrap()
        .contains("ideogram4:parameters"));

    assert_eq!(read_record(&saved.path).unwrap(), rec);
}

#[test]
fn jpeg_carries_xmp_and_decodes_close() {
    let dir = tempfile::tempdir().unwrap();
    let px = pixels();
    let image = RgbImage::new(W, H, &px).unwrap();
    let rec = record(9);
    let saved = save_image(
        &OutputName::from_path(&dir.path().join("out.jpeg")),
        &image,
        &rec.to_value(),
        &SaveOptions::default(),
    )
    .unwrap();
    assert_eq!(saved.format, ImageFormat::Jpeg);
    assert_eq!(saved.metadata, MetadataLocation::Embedded);
    assert_eq!(read_record(&saved.path).unwrap(), rec);

    let mut decoder = jpeg_decoder::Decoder::new(fs::File::open(&saved.path).unwrap());
    let decoded = decoder.decode().unwrap();
    let info = decoder.info().unwrap();
    assert_eq!((u32::from(info.width), u32::from(info.height)), (W, H));
    assert_eq!(info.pixel_format, jpeg_decoder::PixelFormat::RGB24);
    let mean_abs: f64 = decoded
        .iter()
        .zip(&px)
        .map(|(&a, &b)| f64::from((i16::from(a) - i16::from(b)).unsigned_abs()))
        .sum::<f64>()
        / px.len() as f64;
    assert!(mean_abs < 3.0, "quality-92 JPEG mean error {mean_abs}");
}

#[test]
fn jpeg_record_too_large_goes_to_a_sidecar() {
    let dir = tempfile::tempdir().unwrap();
    let px = pixels();
    let image = RgbImage::new(W, H, &px).unwrap();
    let mut rec = record(10);
    rec.caption = format!("{{\"high_level_description\": \"{}\"}}", "x".repeat(70_000));
    let saved = save_image(
        &OutputName::from_path(&dir.path().join("big.jpg")),
        &image,
        &rec.to_value(),
        &SaveOptions::default(),
    )
    .unwrap();
    let sidecar = sidecar_path(&saved.path);
    assert_eq!(saved.metadata, MetadataLocation::Sidecar(sidecar.clone()));
    assert_eq!(sidecar, dir.path().join("big.jpg.json"));
    assert_eq!(read_record(&saved.path).unwrap(), rec);
    assert_eq!(listing(dir.path()), vec!["big.jpg", "big.jpg.json"]);

    // Without its sidecar the JPEG has no record, and says so.
    fs::remove_file(&sidecar).unwrap();
    let err = read_parameters(&saved.path).unwrap_err();
    assert!(matches!(err, OutputError::NoParameters(_)), "{err}");
}

#[test]
fn no_overwrite_counter_and_no_temp_files() {
    let dir = tempfile::tempdir().unwrap();
    let px = pixels();
    let image = RgbImage::new(W, H, &px).unwrap();
    let name = OutputName::from_path(&dir.path().join("same.png"));
    let mut paths = Vec::new();
    for seed in 0..3 {
        let saved = save_image(
            &name,
            &image,
            &record(seed).to_value(),
            &SaveOptions::default(),
        )
        .unwrap();
        paths.push(saved.path);
    }
    assert_eq!(
        listing(dir.path()),
        vec!["same-1.png", "same-2.png", "same.png"]
    );
    // Each file kept its own record: nothing was overwritten.
    for (seed, path) in paths.iter().enumerate() {
        assert_eq!(read_record(path).unwrap().seed, seed as u64);
    }

    let fail = SaveOptions {
        collision: Collision::Fail,
        ..SaveOptions::default()
    };
    let err = save_image(&name, &image, &record(99).to_value(), &fail).unwrap_err();
    assert!(matches!(err, OutputError::Exists(_)), "{err}");
    assert_eq!(read_record(&dir.path().join("same.png")).unwrap().seed, 0);

    let overwrite = SaveOptions {
        collision: Collision::Overwrite,
        ..SaveOptions::default()
    };
    save_image(&name, &image, &record(77).to_value(), &overwrite).unwrap();
    assert_eq!(read_record(&dir.path().join("same.png")).unwrap().seed, 77);

    let names = listing(dir.path());
    assert!(
        names.iter().all(|n| !n.starts_with(TEMP_PREFIX)),
        "temporary files left behind: {names:?}"
    );
    assert_eq!(names.len(), 3);
}

#[test]
fn pattern_names_with_counter_placeholder() {
    let dir = tempfile::tempdir().unwrap();
    let px = pixels();
    let image = RgbImage::new(W, H, &px).unwrap();
    let sampler = SamplerParams::Preset(Preset::Turbo12);
    let fields = PatternFields {
        seed: 1234,
        preset: sampler.label(),
        time: Timestamp::new(1_763_865_296, 0),
    };
    let name = expand_pattern("{date}/{preset}_{seed}_{n}_{time}", dir.path(), &fields).unwrap();
    let webp = SaveOptions {
        format: Some(ImageFormat::WebP),
        ..SaveOptions::default()
    };
    let a = save_image(&name, &image, &record(1).to_value(), &webp).unwrap();
    let b = save_image(&name, &image, &record(2).to_value(), &webp).unwrap();
    let day = dir.path().join("2025-11-23");
    assert_eq!(a.path, day.join("V4_TURBO_12_1234_0001_023456.webp"));
    assert_eq!(b.path, day.join("V4_TURBO_12_1234_0002_023456.webp"));
    assert_eq!(listing(&day).len(), 2);
}

#[test]
fn format_resolution_and_conflicts() {
    assert_eq!(resolve_format(Some("PNG"), None).unwrap(), ImageFormat::Png);
    assert_eq!(
        resolve_format(Some("jpg"), Some(ImageFormat::Jpeg)).unwrap(),
        ImageFormat::Jpeg
    );
    assert_eq!(resolve_format(None, None).unwrap(), ImageFormat::Png);
    assert_eq!(
        resolve_format(None, Some(ImageFormat::WebP)).unwrap(),
        ImageFormat::WebP
    );
    assert_eq!("JPEG".parse::<ImageFormat>().unwrap(), ImageFormat::Jpeg);
    assert!("gif".parse::<ImageFormat>().is_err());

    let err = resolve_format(Some("png"), Some(ImageFormat::Jpeg)).unwrap_err();
    match &err {
        OutputError::FormatConflict {
            extension,
            explicit,
        } => {
            assert_eq!(extension, "png");
            assert_eq!(*explicit, ImageFormat::Jpeg);
        }
        other => panic!("expected FormatConflict, got {other:?}"),
    }
    assert!(err.to_string().contains(".png") && err.to_string().contains("jpeg"));
    assert!(matches!(
        resolve_format(Some("gif"), None),
        Err(OutputError::UnknownExtension(_))
    ));

    // save_image applies the same rule and writes nothing on a conflict.
    let dir = tempfile::tempdir().unwrap();
    let px = pixels();
    let image = RgbImage::new(W, H, &px).unwrap();
    let opts = SaveOptions {
        format: Some(ImageFormat::WebP),
        ..SaveOptions::default()
    };
    let err = save_image(
        &OutputName::from_path(&dir.path().join("x.png")),
        &image,
        &record(1).to_value(),
        &opts,
    )
    .unwrap_err();
    assert!(matches!(err, OutputError::FormatConflict { .. }), "{err}");
    assert!(listing(dir.path()).is_empty());
}

#[test]
fn bad_inputs_are_typed_errors() {
    let px = vec![0u8; 10];
    assert!(matches!(
        RgbImage::new(4, 4, &px),
        Err(OutputError::BadImage { expected: 48, .. })
    ));
    let dir = tempfile::tempdir().unwrap();
    let plain = dir.path().join("plain.png");
    fs::write(&plain, b"not an image").unwrap();
    assert!(matches!(
        read_parameters(&plain),
        Err(OutputError::NoParameters(_))
    ));
    let missing = dir.path().join("missing.png");
    assert!(matches!(
        read_parameters(&missing),
        Err(OutputError::Io { .. })
    ));

    // A record whose sampler settings are invalid is refused with the sampler's message.
    fs::write(
        sidecar_path(&plain),
        r#"{"record_version":1,"program":"x","version":"0","caption":"c","sampler":{"preset":"custom","steps":2,"mu":0,"std":1,"guidance":[1]},"seed":1,"width":64,"height":48,"model":"demo","weight_format":"bf16"}"#,
    )
    .unwrap();
    let err = read_record(&plain).unwrap_err().to_string();
    assert!(err.contains("1 entries but steps is 2"), "{err}");
}
