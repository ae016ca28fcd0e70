//! Docker-style generated names ("adjective_animal"), ours: the animals
//! all dig burrows. Unique within a store; the caller checks for clashes
//! and asks again with a numeric suffix.

const ADJECTIVES: &[&str] = &[
    "agile", "amber", "bold", "brave", "brisk", "calm", "clever", "cosy", "curious", "dapper",
    "deep", "eager", "earnest", "fluffy", "frosty", "gentle", "glad", "hardy", "humble", "jolly",
    "keen", "kind", "lively", "lucky", "mellow", "merry", "nimble", "noble", "patient", "plucky",
    "polite", "quick", "quiet", "rapid", "ready", "sandy", "shy", "sleepy", "snug", "spry",
    "steady", "sturdy", "sunny", "swift", "tidy", "tireless", "warm", "wary", "wise", "zesty",
];

const ANIMALS: &[&str] = &[
    "aardvark",
    "armadillo",
    "badger",
    "bilby",
    "chipmunk",
    "cicada",
    "coney",
    "crab",
    "dormouse",
    "earthworm",
    "echidna",
    "ferret",
    "fox",
    "gerbil",
    "gopher",
    "groundhog",
    "hamster",
    "hare",
    "jerboa",
    "kingfisher",
    "lemming",
    "marmot",
    "meerkat",
    "mole",
    "mouse",
    "muskrat",
    "numbat",
    "otter",
    "pangolin",
    "pika",
    "platypus",
    "prairiedog",
    "puffin",
    "quokka",
    "rabbit",
    "ratel",
    "sandmartin",
    "shrew",
    "skink",
    "squirrel",
    "suricate",
    "tarantula",
    "tortoise",
    "tuco",
    "vole",
    "wombat",
    "woodchuck",
];

/// A name from a random seed (the caller passes fresh randomness, e.g. from
/// the container id, so this stays pure and testable).
pub fn generate(seed: u64) -> String {
    let adj = ADJECTIVES[(seed % ADJECTIVES.len() as u64) as usize];
    let animal = ANIMALS[((seed / ADJECTIVES.len() as u64) % ANIMALS.len() as u64) as usize];
    format!("{adj}_{animal}")
}

/// Whether a user-given name is acceptable, with Docker's rule:
/// `[a-zA-Z0-9][a-zA-Z0-9_.-]*`.
pub fn validate(name: &str) -> Result<(), String> {
    let mut chars = name.chars();
    let first_ok = chars.next().is_some_and(|c| c.is_ascii_alphanumeric());
    let rest_ok = chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'));
    if first_ok && rest_ok && name.len() <= 128 {
        Ok(())
    } else {
        Err(format!(
            "invalid container name {:?}: only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed",
            crate::text::escape_control(name)
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_names_are_valid_and_varied() {
        let names: std::collections::HashSet<String> = (0..2000u64).map(generate).collect();
        assert!(names.len() > 1000, "{}", names.len());
        for n in &names {
            validate(n).unwrap();
        }
    }

    #[test]
    fn docker_name_rule() {
        assert!(validate("web-1.prod_x").is_ok());
        assert!(validate("_web").is_err());
        assert!(validate("").is_err());
        assert!(validate("a/b").is_err());
        assert!(validate("a\u{1b}").unwrap_err().contains("\\x1b"));
    }
}
