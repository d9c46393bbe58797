//! The README's configuration block documents exactly the keys `Config` reads (issue 9.15): every key there
//! parses, and every key of `Config` is there (optional ones commented out with their meaning).

use std::collections::BTreeSet;

/// `section.key` for every `key = value` line (also `# key = value`) of the README's `toml` block under
/// "## Configuration".
fn readme_keys() -> (BTreeSet<String>, String) {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    let section = readme
        .split("## Configuration")
        .nth(1)
        .expect("a Configuration section");
    let block = section
        .split("```toml")
        .nth(1)
        .expect("a toml block")
        .split("```")
        .next()
        .unwrap();
    let mut keys = BTreeSet::new();
    let mut table = String::new();
    let mut uncommented = String::new();
    for line in block.lines() {
        let line = line.trim();
        if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            table = name.to_owned();
            uncommented.push_str(line);
            uncommented.push('\n');
            continue;
        }
        let setting = line.strip_prefix("# ").unwrap_or(line);
        if let Some((key, _)) = setting.split_once(" = ") {
            if key.chars().all(|c| c.is_ascii_lowercase() || c == '_') {
                keys.insert(format!("{table}.{key}"));
                uncommented.push_str(setting);
                uncommented.push('\n');
            }
        }
    }
    (keys, uncommented)
}

/// Every key `Config` has, from its TOML form with every optional value set.
fn config_keys() -> BTreeSet<String> {
    let mut config = rag::Config::default();
    config.models.cache_dir = Some("/c".into());
    config.ingest.workers = Some(1);
    config.embed.model = Some("/m".into());
    config.embed.threads = Some(1);
    config.generate.model = Some("/g.gguf".into());
    config.generate.threads = Some(1);
    config.serve.api_keys_file = Some("/k".into());
    let value: toml::Value = toml::from_str(&config.to_toml().unwrap()).unwrap();
    let mut keys = BTreeSet::new();
    for (table, entries) in value.as_table().unwrap() {
        for key in entries.as_table().unwrap().keys() {
            keys.insert(format!("{table}.{key}"));
        }
    }
    keys
}

#[test]
fn the_readme_documents_every_config_key_and_only_those() {
    let (documented, block) = readme_keys();
    let actual = config_keys();
    let missing: Vec<_> = actual.difference(&documented).collect();
    let unknown: Vec<_> = documented.difference(&actual).collect();
    assert!(missing.is_empty(), "keys of Config missing from README: {missing:?}");
    assert!(
        unknown.is_empty(),
        "README documents keys Config does not have: {unknown:?}"
    );
    // The block, comments removed, is a valid configuration.
    rag::Config::from_toml(&block).unwrap_or_else(|e| panic!("README's config does not parse: {e}\n{block}"));
}
