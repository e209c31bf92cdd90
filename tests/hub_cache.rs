//! Cache lookup against a fake `HF_HOME` laid out the way Python's `huggingface_hub` leaves
//! it: `hub/models--org--name/{refs/main, snapshots/<commit>/... -> ../../blobs/<id>, blobs/}`.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use ideogram4::weights::hub::{cache, resolve, HubEnv, HubError, Source};
use ideogram4::weights::{Checkpoint, CheckpointFormat};

const COMMIT: &str = "ee79a7237b519f1402ceacf952f30c8a31ec5073";

fn fixture(flavour: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("tests/fixtures/tiny-ideogram4-{flavour}"))
}

/// Lays a fixture repo into `hub` as `repo_id` at COMMIT, one blob per file, relative links.
fn install(hub: &Path, repo_id: &str, flavour: &str) -> PathBuf {
    let repo = hub.join(cache::repo_folder_name(repo_id));
    let snap = repo.join("snapshots").join(COMMIT);
    std::fs::create_dir_all(repo.join("blobs")).unwrap();
    std::fs::create_dir_all(repo.join("refs")).unwrap();
    std::fs::write(repo.join("refs/main"), COMMIT).unwrap();
    let mut n = 0;
    let mut stack = vec![(fixture(flavour), PathBuf::new())];
    while let Some((dir, rel)) = stack.pop() {
        for e in std::fs::read_dir(&dir).unwrap().flatten() {
            let rel = rel.join(e.file_name());
            if e.file_type().unwrap().is_dir() {
                stack.push((e.path(), rel));
                continue;
            }
            n += 1;
            let blob = format!("{n:064x}");
            std::fs::copy(e.path(), repo.join("blobs").join(&blob)).unwrap();
            let link = snap.join(&rel);
            std::fs::create_dir_all(link.parent().unwrap()).unwrap();
            let ups = "../".repeat(rel.components().count() + 1);
            std::os::unix::fs::symlink(format!("{ups}blobs/{blob}"), &link).unwrap();
        }
    }
    snap
}

fn env(home: &Path, extra: &[(&str, &str)]) -> HubEnv {
    let mut vars: HashMap<String, String> = extra
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    vars.insert("HF_HOME".into(), home.to_string_lossy().into_owned());
    HubEnv::from_lookup(|k| vars.get(k).cloned(), None)
}

#[test]
fn finds_and_opens_a_python_style_cache() {
    let home = tempfile::tempdir().unwrap();
    let env = env(home.path(), &[]);
    let snap = install(&env.hub_cache, "ideogram-ai/ideogram-4-nf4", "nf4");
    install(&env.hub_cache, "ideogram-ai/ideogram-4-fp8", "fp8");
    // An unrelated model in the same cache.
    std::fs::create_dir_all(env.hub_cache.join("models--gpt2--gpt2/snapshots/abc")).unwrap();

    let src = Source::parse("ideogram-ai/ideogram-4-nf4").unwrap();
    assert_eq!(resolve(&src, &env).unwrap(), snap);
    let at_commit = Source::parse(&format!("ideogram-ai/ideogram-4-nf4@{COMMIT}")).unwrap();
    assert_eq!(resolve(&at_commit, &env).unwrap(), snap);
    let ckpt = Checkpoint::open(&resolve(&src, &env).unwrap()).unwrap();
    assert_eq!(ckpt.format(), CheckpointFormat::Nf4);

    let repos = cache::scan(&env.hub_cache).unwrap();
    let ids: Vec<&str> = repos.iter().map(|r| r.repo_id.as_str()).collect();
    assert_eq!(
        ids,
        [
            "gpt2/gpt2",
            "ideogram-ai/ideogram-4-fp8",
            "ideogram-ai/ideogram-4-nf4"
        ]
    );
    let ideogram: Vec<_> = repos
        .iter()
        .filter(|r| cache::looks_like_ideogram4(r))
        .collect();
    assert_eq!(ideogram.len(), 2);
    let nf4 = ideogram[1];
    let rev = &nf4.revisions[0];
    assert_eq!(
        (rev.commit.as_str(), rev.refs.clone()),
        (COMMIT, vec!["main".to_string()])
    );
    assert!(rev.is_complete(), "{:?}", rev.missing());
    let on_disk: u64 = walk_sizes(&fixture("nf4"));
    assert_eq!(rev.size_on_disk, on_disk);
}

fn walk_sizes(dir: &Path) -> u64 {
    std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .map(|e| {
            if e.file_type().unwrap().is_dir() {
                walk_sizes(&e.path())
            } else {
                e.metadata().unwrap().len()
            }
        })
        .sum()
}

#[test]
fn hub_cache_variable_wins_and_missing_files_are_listed() {
    let home = tempfile::tempdir().unwrap();
    let elsewhere = tempfile::tempdir().unwrap();
    let env = env(
        home.path(),
        &[("HF_HUB_CACHE", &elsewhere.path().to_string_lossy())],
    );
    assert_eq!(env.hub_cache, elsewhere.path());
    let snap = install(&env.hub_cache, "ideogram-ai/ideogram-4-fp8", "fp8");
    // An interrupted download: one shard's blob never finished (Python names it .incomplete).
    let shard = snap.join("transformer/diffusion_pytorch_model-00002-of-00003.safetensors");
    let blob = std::fs::canonicalize(&shard).unwrap();
    std::fs::rename(&blob, blob.with_extension("incomplete")).unwrap();

    let repos = cache::scan(&env.hub_cache).unwrap();
    let rev = &repos[0].revisions[0];
    assert!(!rev.is_complete());
    assert_eq!(
        rev.missing(),
        ["transformer/diffusion_pytorch_model-00002-of-00003.safetensors"]
    );
    assert_eq!(
        repos[0].partial_bytes,
        std::fs::metadata(blob.with_extension("incomplete"))
            .unwrap()
            .len()
    );
}

#[test]
fn not_downloaded_and_bad_sources() {
    let home = tempfile::tempdir().unwrap();
    let env = env(home.path(), &[]);
    let src = Source::parse("ideogram-ai/ideogram-4-fp8").unwrap();
    let err = resolve(&src, &env).unwrap_err();
    assert!(matches!(err, HubError::NotDownloaded { .. }));
    assert!(
        err.to_string()
            .contains("models download ideogram-ai/ideogram-4-fp8"),
        "{err}"
    );
    assert_eq!(Source::parse("not a repo"), None);
    assert_eq!(Source::parse("a/b@../../x"), None);
    let here = env!("CARGO_MANIFEST_DIR");
    assert_eq!(
        Source::parse(here),
        Some(Source::Local(PathBuf::from(here)))
    );
    // refs/<branch> pointing nowhere useful.
    let repo = env
        .hub_cache
        .join(cache::repo_folder_name("ideogram-ai/ideogram-4-fp8"));
    std::fs::create_dir_all(repo.join("refs")).unwrap();
    std::fs::write(repo.join("refs/main"), "garbage").unwrap();
    assert!(resolve(&src, &env).is_err());
}
