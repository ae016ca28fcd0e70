//! `burrow push` and `search`: images to a registry, and finding them.

use std::sync::Mutex;

use anyhow::bail;
use clap::Args;

use crate::image::Store;
use crate::paths::Paths;
use crate::reference::Reference;
use crate::registry::{Client, ClientOptions};
use crate::text::escape_control;

#[derive(Debug, Args)]
pub struct PushArgs {
    /// Image to push (registry/name[:tag])
    #[arg(value_name = "NAME[:TAG]")]
    pub image: String,
    /// Push every tag of the repository
    #[arg(long, short = 'a')]
    pub all_tags: bool,
    /// Print nothing but errors
    #[arg(long, short = 'q')]
    pub quiet: bool,
    /// Require HTTPS with verified certificates; false allows plain HTTP
    #[arg(long, value_name = "BOOL", default_value_t = true, action = clap::ArgAction::Set,
          num_args = 0..=1, require_equals = true, default_missing_value = "true")]
    pub tls_verify: bool,
}

pub fn push(paths: &Paths, a: &PushArgs) -> anyhow::Result<i32> {
    let r = Reference::parse(&a.image)?;
    let store = Store::open(paths)?;
    let opts = ClientOptions {
        insecure: !a.tls_verify,
        conf: crate::registry::config::RegistriesConf::load()?,
    };
    let tags: Vec<String> = if a.all_tags {
        // Parsing fills in "latest": look at what was typed.
        let last = a.image.rsplit('/').next().unwrap_or("");
        if last.contains([':', '@']) {
            bail!("--all-tags takes a name without a tag");
        }
        let repo = r.name();
        let mut tags: Vec<String> = store
            .images()?
            .into_iter()
            .flat_map(|i| i.repo_tags)
            .filter(|t| t.rsplit_once(':').is_some_and(|(n, _)| n == repo))
            .collect();
        tags.sort();
        if tags.is_empty() {
            return Err(crate::image::no_such_image(&a.image));
        }
        tags
    } else {
        vec![a.image.clone()]
    };
    let out: Mutex<Box<dyn std::io::Write + Send>> = Mutex::new(if a.quiet {
        Box::new(std::io::sink())
    } else {
        Box::new(std::io::stdout())
    });
    for t in tags {
        crate::image::push::push(&store, &t, &opts, &out)?;
    }
    Ok(0)
}

#[derive(Debug, Args)]
pub struct SearchArgs {
    /// What to look for; REGISTRY/TERM searches that registry's catalog
    #[arg(value_name = "TERM")]
    pub term: String,
    /// At most this many results
    #[arg(long, default_value_t = 25, value_name = "N")]
    pub limit: usize,
    /// Keep only results that match (stars=N, is-official=true|false)
    #[arg(long, short = 'f', value_name = "FILTER")]
    pub filter: Vec<String>,
    /// Format each result with a Go template ('{{.Name}}: {{.Description}}')
    #[arg(long, value_name = "FORMAT")]
    pub format: Option<String>,
    /// Do not cut long descriptions
    #[arg(long)]
    pub no_trunc: bool,
    /// Require HTTPS with verified certificates; false allows plain HTTP
    #[arg(long, value_name = "BOOL", default_value_t = true, action = clap::ArgAction::Set,
          num_args = 0..=1, require_equals = true, default_missing_value = "true")]
    pub tls_verify: bool,
}

/// One search result, in Docker Hub's shape.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize, PartialEq)]
pub struct Found {
    #[serde(alias = "repo_name")]
    pub name: String,
    #[serde(default, alias = "short_description")]
    pub description: String,
    #[serde(default, alias = "star_count")]
    pub stars: u64,
    #[serde(default, alias = "is_official")]
    pub official: bool,
}

struct Filters {
    stars: u64,
    official: Option<bool>,
}

fn filters(list: &[String]) -> anyhow::Result<Filters> {
    let mut f = Filters {
        stars: 0,
        official: None,
    };
    for item in list {
        match item.split_once('=') {
            Some(("stars", n)) => {
                f.stars = n
                    .parse()
                    .map_err(|_| anyhow::anyhow!("invalid filter 'stars={}'", escape_control(n)))?
            }
            Some(("is-official", v)) => {
                f.official = Some(v.parse().map_err(|_| {
                    anyhow::anyhow!("invalid filter 'is-official={}'", escape_control(v))
                })?)
            }
            _ => bail!("invalid filter {:?}", escape_control(item)),
        }
    }
    Ok(f)
}

pub fn search(a: &SearchArgs) -> anyhow::Result<i32> {
    let f = filters(&a.filter)?;
    let (registry, term) = match a.term.split_once('/') {
        Some((host, rest)) if host.contains(['.', ':']) || host == "localhost" => (host, rest),
        _ => ("docker.io", a.term.as_str()),
    };
    let mut found = if registry == "docker.io" {
        hub_search(term, a.limit, a.tls_verify)?
    } else {
        catalog_search(registry, term, a.limit, a.tls_verify)?
    };
    found.retain(|x| x.stars >= f.stars && f.official.is_none_or(|o| x.official == o));
    found.truncate(a.limit);
    print(&found, a)?;
    Ok(0)
}

/// A registry's `/v2/_catalog`, filtered by the term.
fn catalog_search(
    registry: &str,
    term: &str,
    limit: usize,
    tls_verify: bool,
) -> anyhow::Result<Vec<Found>> {
    let r = Reference::parse(&format!("{registry}/x"))?;
    let opts = ClientOptions {
        insecure: !tls_verify,
        conf: crate::registry::config::RegistriesConf::load()?,
    };
    let client = Client::new(&r, &opts)?;
    let repos = client.catalog(1000.max(limit))?;
    Ok(repos
        .into_iter()
        .filter(|n| n.contains(term))
        .map(|n| Found {
            name: format!("{registry}/{n}"),
            description: String::new(),
            stars: 0,
            official: false,
        })
        .collect())
}

/// Docker Hub's search API (`/v1/search`): results in its shape.
fn hub_search(term: &str, limit: usize, _tls_verify: bool) -> anyhow::Result<Vec<Found>> {
    let url = std::env::var("BURROW_SEARCH_URL")
        .unwrap_or_else(|_| "https://index.docker.io/v1/search".into());
    let resp = ureq::get(&url)
        .query("q", term)
        .query("n", &limit.to_string())
        .call()
        .map_err(|e| anyhow::anyhow!("search {}: {e}", escape_control(term)))?;
    #[derive(serde::Deserialize)]
    struct Answer {
        results: Vec<Found>,
    }
    let mut body = String::new();
    std::io::Read::read_to_string(
        &mut std::io::Read::take(resp.into_reader(), 16 << 20),
        &mut body,
    )?;
    let a: Answer = serde_json::from_str(&body)
        .map_err(|e| anyhow::anyhow!("the search answer is not valid: {e}"))?;
    Ok(a.results)
}

fn print(found: &[Found], a: &SearchArgs) -> anyhow::Result<()> {
    let desc = |d: &str| -> String {
        let d = escape_control(d).replace(['\n', '\t'], " ");
        if !a.no_trunc && d.chars().count() > 45 {
            format!("{}...", d.chars().take(42).collect::<String>())
        } else {
            d
        }
    };
    let rows: Vec<serde_json::Value> = found
        .iter()
        .map(|x| {
            serde_json::json!({"Name": escape_control(&x.name), "Description": desc(&x.description),
                "StarCount": x.stars, "IsOfficial": if x.official { "[OK]" } else { "" },
                "IsAutomated": ""})
        })
        .collect();
    let text = super::format::rows(
        a.format.as_deref(),
        "table {{.Name}}\t{{.Description}}\t{{.StarCount}}\t{{.IsOfficial}}",
        &[
            ("Name", "NAME"),
            ("Description", "DESCRIPTION"),
            ("StarCount", "STARS"),
            ("IsOfficial", "OFFICIAL"),
            ("IsAutomated", "AUTOMATED"),
        ],
        &rows,
    )?;
    print!("{text}");
    Ok(())
}
