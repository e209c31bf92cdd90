//! How long the editor waits for diagnostics: verifying a 10 KB caption on every keystroke
//! (target: well under 200 µs), plus the formatting and fixing the editor offers.
//!
//! Run with `cargo bench --bench verify`.

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use ideogram4::caption::{self, fix, format};

const TARGET_BYTES: usize = 10 * 1024;

/// A poster-like caption with as many text elements as it takes to reach `TARGET_BYTES`,
/// written with 2-space indentation. `broken` puts `desc` before `text` and writes colours
/// in lower case, so every element draws warnings (and fixes).
fn caption(broken: bool) -> String {
    let head = r##"{
  "high_level_description": "A festival programme poster listing the night's acts in several scripts.",
  "style_description": {
    "aesthetics": "vibrant, energetic, modern, high contrast",
    "lighting": "flat graphic lighting with neon glow accents",
    "medium": "graphic_design",
    "art_style": "Swiss-style typographic poster with geometric shapes and neon gradients",
    "color_palette": ["#0B0C10", "#FF2E63", "#08D9D6", "#EAEAEA", "#F9ED69"]
  },
  "compositional_deconstruction": {
    "background": "a deep black background with overlapping neon circles and a fine dot grid",
    "elements": ["##;
    let mut text = String::from(head);
    let mut i = 0;
    while text.len() < TARGET_BYTES {
        if i > 0 {
            text.push(',');
        }
        let top = (i * 37) % 900;
        let (palette, first, second) = if broken {
            ("\"#ff2e63\", \"#08d9d6\"", "desc", "text")
        } else {
            ("\"#FF2E63\", \"#08D9D6\"", "text", "desc")
        };
        let value = |key: &str| {
            if key == "text" {
                format!("\"Act {i}: Ночной рынок · 夜市 · السوق\"")
            } else {
                "\"one line of condensed sans-serif type in neon, part of the running order\""
                    .into()
            }
        };
        text.push_str(&format!(
            "\n      {{\n        \"type\": \"text\",\n        \"bbox\": [{top}, 60, {}, 940],\n        \"{first}\": {},\n        \"{second}\": {},\n        \"color_palette\": [{palette}]\n      }}",
            top + 60,
            value(first),
            value(second),
        ));
        i += 1;
    }
    text.push_str("\n    ]\n  }\n}\n");
    text
}

fn bench_verify(c: &mut Criterion) {
    let clean = caption(false);
    let minified = format::minify(&clean).expect("valid caption");
    let broken = caption(true);
    assert!(
        caption::verify(&clean).is_empty(),
        "the clean caption is clean"
    );
    assert!(
        !caption::verify(&broken).is_empty(),
        "the broken caption warns"
    );

    let mut group = c.benchmark_group("verify");
    for (name, text) in [
        ("clean_pretty", &clean),
        ("clean_minified", &minified),
        ("with_warnings", &broken),
    ] {
        group.throughput(Throughput::Bytes(text.len() as u64));
        group.bench_with_input(BenchmarkId::new(name, text.len()), text, |b, text| {
            b.iter(|| caption::verify(black_box(text)))
        });
    }
    group.finish();

    let mut group = c.benchmark_group("tooling");
    group.throughput(Throughput::Bytes(broken.len() as u64));
    group.bench_function("pretty", |b| b.iter(|| format::pretty(black_box(&broken))));
    group.bench_function("minify", |b| b.iter(|| format::minify(black_box(&broken))));
    group.bench_function("apply_fixes", |b| {
        b.iter(|| fix::apply_fixes(black_box(&broken)))
    });
    group.finish();
}

criterion_group!(benches, bench_verify);
criterion_main!(benches);
