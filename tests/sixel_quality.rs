//! Our sixel encoder against ImageMagick's on the same pictures: both streams are decoded back
//! to pixels and scored (RMSE, channels in 0..1) against the PNG they came from. ImageMagick's
//! streams are fixtures made with `convert X.png sixel:-` (see tests/fixtures/sixel/README.md).

use std::path::Path;

use ideogram4::tui::sixel;

fn read_png(path: &Path) -> (u32, u32, Vec<u8>) {
    let file = std::fs::File::open(path).expect("fixture");
    let mut reader = png::Decoder::new(std::io::BufReader::new(file))
        .read_info()
        .expect("png header");
    let mut buf = vec![0; reader.output_buffer_size().expect("size")];
    let info = reader.next_frame(&mut buf).expect("png data");
    buf.truncate(info.buffer_size());
    let rgb = match info.color_type {
        png::ColorType::Rgb => buf,
        png::ColorType::Rgba => buf
            .chunks_exact(4)
            .flat_map(|p| [p[0], p[1], p[2]])
            .collect(),
        other => panic!("unexpected colour type {other:?}"),
    };
    (info.width, info.height, rgb)
}

fn score(name: &str) -> (f64, f64) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/sixel");
    let (w, h, rgb) = read_png(&dir.join(format!("{name}.png")));
    let ours = sixel::decode(sixel::encode(&rgb, w, h).as_bytes()).expect("ours decodes");
    let theirs =
        sixel::decode(&std::fs::read(dir.join(format!("{name}_im.six"))).expect("fixture"))
            .expect("ImageMagick's decodes");
    assert_eq!((ours.width, ours.height), (w, h));
    assert_eq!((theirs.width, theirs.height), (w, h));
    let (a, b) = (sixel::rmse(&rgb, &ours.rgb), sixel::rmse(&rgb, &theirs.rgb));
    eprintln!("{name}: RMSE ours {a:.4}, ImageMagick {b:.4}");
    (a, b)
}

#[test]
fn plasma_is_as_close_as_imagemagick() {
    let (ours, im) = score("plasma");
    assert!(ours <= 1.5 * im, "ours {ours:.4} vs ImageMagick {im:.4}");
    // And in absolute terms: a washed-out palette (the old encoder) scored about 0.19.
    assert!(ours < 0.05, "{ours}");
}

#[test]
fn rose_is_as_close_as_imagemagick() {
    let (ours, im) = score("rose");
    assert!(ours <= 1.5 * im, "ours {ours:.4} vs ImageMagick {im:.4}");
    assert!(ours < 0.05, "{ours}");
}

#[test]
fn the_decoder_reads_imagemagick_palettes_exactly() {
    // A register defined as #n;2;r;g;b in percent decodes to round(p·255/100).
    let d = sixel::decode(b"\x1bP0;0;0q\"1;1;2;1#0;2;100;0;50#1;2;0;100;0#0@$#1?@\x1b\\")
        .expect("decodes");
    assert_eq!((d.width, d.height), (2, 1));
    assert_eq!(d.rgb, vec![255, 0, 128, 0, 255, 0]);
}
