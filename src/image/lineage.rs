//! Which images descend from which: `ps -f ancestor=`, as docker matches
//! it. An image descends from another when its layers begin with all of
//! the other's (a `FROM`, or a re-tag, shares the chain ids), so a pulled
//! image needs no parent link in its record.

use super::records::{ImageRecord, Records};

/// An image as `ancestor=` named it: found in the store, or only a name.
#[derive(Debug, Clone)]
pub enum Ancestor {
    Image {
        id: String,
        chain: Vec<String>,
    },
    /// Not in the store (removed, or never pulled): containers whose
    /// recorded reference names the same image still match.
    Name(String),
}

impl Ancestor {
    /// Resolve what the user typed (a reference in any of its spellings,
    /// an id or id prefix) against the store's records.
    pub fn resolve(records: &Records, given: &str) -> Ancestor {
        match records.find(given) {
            Ok(Some(image)) => Ancestor::Image {
                id: image.id.clone(),
                chain: chain_of(image),
            },
            _ => Ancestor::Name(normalized(given)),
        }
    }

    /// Does a container made from `image_ref` (as typed at `run`) with the
    /// image id `image_id` descend from this ancestor?
    pub fn matches(&self, records: &Records, image_ref: &str, image_id: &str) -> bool {
        match self {
            Ancestor::Image { id, chain } => {
                image_id == id
                    || records
                        .images
                        .iter()
                        .find(|i| i.id == image_id)
                        .is_some_and(|i| !chain.is_empty() && chain_of(i).starts_with(chain))
            }
            Ancestor::Name(name) => normalized(image_ref) == *name,
        }
    }
}

fn chain_of(image: &ImageRecord) -> Vec<String> {
    image.layers.iter().map(|l| l.chain_id.clone()).collect()
}

/// `busybox`, `library/busybox:latest` and `docker.io/library/busybox`
/// are one image; a string that is no reference stays as it is.
fn normalized(reference: &str) -> String {
    crate::reference::Reference::parse(reference)
        .map(|r| r.to_string())
        .unwrap_or_else(|_| reference.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_match_in_every_spelling() {
        let a = Ancestor::resolve(&Records::default(), "busybox");
        let none = Records::default();
        for spelling in [
            "busybox",
            "busybox:latest",
            "library/busybox",
            "docker.io/library/busybox:latest",
        ] {
            assert!(a.matches(&none, spelling, "sha256:x"), "{spelling}");
        }
        assert!(!a.matches(&none, "busybox:1.36", "sha256:x"));
        assert!(!a.matches(&none, "alpine", "sha256:x"));
    }
}
