//! `burrow history` (also `image history`): the build steps of an image,
//! newest first, from its config.

use clap::Args;

use super::images::since;
use super::Format;
use crate::image::Store;
use crate::paths::Paths;
use crate::text::escape_control;
use crate::units::human_size;

#[derive(Debug, Args)]
pub struct HistoryArgs {
    /// Image, by name or id prefix
    #[arg(value_name = "IMAGE")]
    pub image: String,

    /// Do not truncate the output
    #[arg(long)]
    pub no_trunc: bool,

    /// Show only image ids
    #[arg(long, short = 'q')]
    pub quiet: bool,

    /// Output format
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
}

struct Step {
    id: String,
    created: String,
    created_by: String,
    size: u64,
    comment: String,
}

pub fn run(paths: &Paths, args: &HistoryArgs) -> anyhow::Result<i32> {
    let store = Store::open(paths)?;
    let image = store
        .lookup(&args.image)?
        .ok_or_else(|| crate::image::no_such_image(&args.image))?;
    let config = store.config(&image)?;
    // Steps that made a layer take the layers' sizes in order.
    let mut layers = image.layers.iter();
    let mut steps: Vec<Step> = config
        .history()
        .iter()
        .map(|h| {
            let size = if h.empty_layer().unwrap_or(false) {
                0
            } else {
                layers.next().map(|l| l.unpacked_size).unwrap_or(0)
            };
            Step {
                id: "<missing>".into(),
                created: h.created().clone().unwrap_or_default(),
                created_by: h.created_by().clone().unwrap_or_default(),
                size,
                comment: h.comment().clone().unwrap_or_default(),
            }
        })
        .collect();
    // The images earlier steps made, where the store has them (a build's
    // intermediate images), as Docker names them; "<missing>" otherwise.
    let all = store.images()?;
    let made = crate::image::steps::Steps::of_store(&store, &all).step_images(&image);
    for (s, id) in steps.iter_mut().zip(made) {
        if let Some(id) = id {
            s.id = if args.no_trunc {
                id
            } else {
                crate::image::blobs::short(&id).to_string()
            };
        }
    }
    steps.reverse();
    if steps.is_empty() {
        steps.push(Step {
            id: String::new(),
            created: image.created.clone().unwrap_or_default(),
            created_by: String::new(),
            size: image.size(),
            comment: String::new(),
        });
    }
    steps[0].id = if args.no_trunc {
        image.id.clone()
    } else {
        image.short_id().to_string()
    };
    if args.quiet {
        for s in &steps {
            println!("{}", s.id);
        }
        return Ok(0);
    }
    if args.format == Format::Json {
        for s in &steps {
            let v = serde_json::json!({
                "Comment": s.comment,
                "CreatedAt": s.created,
                "CreatedBy": s.created_by,
                "CreatedSince": since(Some(&s.created).filter(|c| !c.is_empty()).map(|c| c.as_str())),
                "ID": s.id,
                "Size": human_size(s.size),
            });
            println!("{v}");
        }
        return Ok(0);
    }
    let trunc = |s: &str, n: usize| -> String {
        let s = escape_control(s);
        if args.no_trunc || s.chars().count() <= n {
            s
        } else {
            format!("{}…", s.chars().take(n - 1).collect::<String>())
        }
    };
    let rows: Vec<[String; 5]> = steps
        .iter()
        .map(|s| {
            [
                s.id.clone(),
                since(Some(s.created.as_str()).filter(|c| !c.is_empty())),
                trunc(&s.created_by, 45),
                human_size(s.size),
                trunc(&s.comment, 45),
            ]
        })
        .collect();
    let head = ["IMAGE", "CREATED", "CREATED BY", "SIZE", "COMMENT"].map(String::from);
    let all: Vec<&[String; 5]> = std::iter::once(&head).chain(rows.iter()).collect();
    let widths: Vec<usize> = (0..5)
        .map(|c| all.iter().map(|r| r[c].chars().count()).max().unwrap_or(0))
        .collect();
    for r in all {
        let line: Vec<String> = (0..5)
            .map(|c| format!("{:<w$}", r[c], w = widths[c]))
            .collect();
        println!("{}", line.join("   ").trim_end());
    }
    Ok(0)
}
