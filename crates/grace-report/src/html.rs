//! Assembling the self-contained report page (inline CSS, no scripts, no network) and checking
//! that a written page is well formed and that every image it references exists and decodes.

use anyhow::{bail, Context};
use std::path::{Path, PathBuf};

pub fn esc(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '"' => o.push_str("&quot;"),
            '\'' => o.push_str("&#39;"),
            c => o.push(c),
        }
    }
    o
}

#[derive(Debug, Clone)]
pub enum Block {
    /// Plain text, escaped on output.
    P(String),
    /// A highlighted warning (e.g. the SYNTHETIC fleet).
    Warn(String),
    /// Figure: image paths relative to the page.
    Figure {
        png: String,
        svg: String,
        title: String,
        caption: String,
    },
    Table {
        headers: Vec<String>,
        rows: Vec<Vec<String>>,
    },
    /// Items with an optional link (relative to the page).
    Links(Vec<(String, Option<String>)>),
}

#[derive(Debug, Clone)]
pub struct Section {
    pub title: String,
    pub blocks: Vec<Block>,
}

#[derive(Debug, Clone)]
pub struct Page {
    pub title: String,
    pub sections: Vec<Section>,
}

const CSS: &str = "body{font-family:sans-serif;max-width:1280px;margin:1.5em auto;padding:0 1em;color:#222;line-height:1.45}\
h1{font-size:1.6em}h2{border-bottom:1px solid #ccc;padding-bottom:.2em;margin-top:1.8em}\
.warn{background:#fff3cd;border:2px solid #e0a800;padding:.6em 1em;font-weight:bold}\
table{border-collapse:collapse;margin:.8em 0;font-size:.92em}th,td{border:1px solid #ccc;padding:.3em .6em;text-align:right}\
th{background:#f2f2f2}td:first-child,td:nth-child(2),th:first-child{text-align:left}\
figure{margin:1.2em 0}figure img{max-width:100%;border:1px solid #ddd}figcaption{font-size:.9em;color:#444}";

impl Page {
    pub fn render(&self) -> String {
        let mut h = String::new();
        h.push_str("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\"/>\n");
        h.push_str(&format!(
            "<title>{}</title>\n<style>{CSS}</style>\n</head>\n<body>\n<h1>{}</h1>\n",
            esc(&self.title),
            esc(&self.title)
        ));
        for s in &self.sections {
            if !s.title.is_empty() {
                h.push_str(&format!("<h2>{}</h2>\n", esc(&s.title)));
            }
            for b in &s.blocks {
                render_block(&mut h, b);
            }
        }
        h.push_str("</body>\n</html>\n");
        h
    }
}

fn render_block(h: &mut String, b: &Block) {
    match b {
        Block::P(t) => h.push_str(&format!("<p>{}</p>\n", esc(t))),
        Block::Warn(t) => h.push_str(&format!("<p class=\"warn\">{}</p>\n", esc(t))),
        Block::Figure { png, svg, title, caption } => h.push_str(&format!(
            "<figure>\n<a href=\"{svg}\"><img src=\"{png}\" alt=\"{}\"/></a>\n<figcaption>{} (<a href=\"{svg}\">SVG</a>, <a href=\"{png}\">PNG</a>)</figcaption>\n</figure>\n",
            esc(title),
            esc(caption),
            svg = esc(svg),
            png = esc(png)
        )),
        Block::Table { headers, rows } => {
            h.push_str("<table>\n<tr>");
            for c in headers {
                h.push_str(&format!("<th>{}</th>", esc(c)));
            }
            h.push_str("</tr>\n");
            for r in rows {
                h.push_str("<tr>");
                for c in r {
                    h.push_str(&format!("<td>{}</td>", esc(c)));
                }
                h.push_str("</tr>\n");
            }
            h.push_str("</table>\n");
        }
        Block::Links(items) => {
            h.push_str("<ul>\n");
            for (t, href) in items {
                match href {
                    Some(u) => h.push_str(&format!("<li><a href=\"{}\">{}</a></li>\n", esc(u), esc(t))),
                    None => h.push_str(&format!("<li>{}</li>\n", esc(t))),
                }
            }
            h.push_str("</ul>\n");
        }
    }
}

const VOID: &[&str] = &["img", "br", "meta", "link", "hr", "input", "source"];

/// Checks that tags are balanced and returns the values of every `src` and `href` attribute.
/// Enough to catch a broken page from this writer; not a general HTML5 parser.
pub fn check_well_formed(text: &str) -> anyhow::Result<Vec<String>> {
    let mut stack: Vec<String> = Vec::new();
    let mut refs = Vec::new();
    let mut rest = text;
    while let Some(i) = rest.find('<') {
        rest = &rest[i..];
        if rest.starts_with("<!--") {
            let end = rest.find("-->").context("unterminated comment")?;
            rest = &rest[end + 3..];
            continue;
        }
        let end = rest.find('>').context("unterminated tag")?;
        let tag = &rest[1..end];
        rest = &rest[end + 1..];
        if tag.starts_with('!') || tag.starts_with('?') {
            continue;
        }
        if let Some(name) = tag.strip_prefix('/') {
            let name = name.trim().to_ascii_lowercase();
            match stack.pop() {
                Some(open) if open == name => {}
                other => bail!("closing </{name}> does not match the open <{}>", other.unwrap_or_default()),
            }
            continue;
        }
        let name: String = tag
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == ':')
            .collect::<String>()
            .to_ascii_lowercase();
        if name.is_empty() {
            bail!("malformed tag <{tag}>");
        }
        for attr in ["src", "href"] {
            let mut t = tag;
            let pat = format!(" {attr}=\"");
            while let Some(j) = t.find(&pat) {
                t = &t[j + pat.len()..];
                let k = t.find('"').with_context(|| format!("unterminated {attr} in <{tag}>"))?;
                refs.push(t[..k].replace("&amp;", "&"));
                t = &t[k..];
            }
        }
        if tag.ends_with('/') || VOID.contains(&name.as_str()) {
            continue;
        }
        if name == "style" || name == "script" {
            let close = format!("</{name}>");
            let e = rest.find(&close).with_context(|| format!("unterminated <{name}>"))?;
            rest = &rest[e + close.len()..];
            continue;
        }
        stack.push(name);
    }
    if let Some(open) = stack.pop() {
        bail!("<{open}> is never closed");
    }
    Ok(refs)
}

/// Decodes a PNG completely (so truncation is caught) and returns its size.
pub fn check_png(path: &Path) -> anyhow::Result<(u32, u32)> {
    let f = std::fs::File::open(path).with_context(|| format!("opening {}", path.display()))?;
    let mut r = png::Decoder::new(std::io::BufReader::new(f))
        .read_info()
        .with_context(|| format!("{}: not a PNG", path.display()))?;
    let mut buf = vec![0; r.output_buffer_size()];
    let info = r.next_frame(&mut buf).with_context(|| format!("{}: PNG data does not decode", path.display()))?;
    Ok((info.width, info.height))
}

/// An SVG document: an `<svg>` root with balanced tags.
pub fn check_svg(path: &Path) -> anyhow::Result<()> {
    let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    if !text.contains("<svg") || !text.trim_end().ends_with("</svg>") {
        bail!("{}: not an SVG document", path.display());
    }
    check_well_formed(&text).with_context(|| format!("{}: malformed SVG", path.display()))?;
    Ok(())
}

/// Checks a written page: well formed, and every local .png/.svg/.html it references exists
/// (images must also decode). Returns the checked files.
pub fn check_page(page: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let text = std::fs::read_to_string(page).with_context(|| format!("reading {}", page.display()))?;
    let refs = check_well_formed(&text).with_context(|| format!("{}: malformed HTML", page.display()))?;
    let base = page.parent().unwrap_or(Path::new("."));
    let mut out = Vec::new();
    for r in refs {
        if r.contains("://") || r.starts_with('#') {
            continue;
        }
        let p = base.join(&r);
        if !p.is_file() {
            bail!("{} references {r}, which does not exist", page.display());
        }
        match p.extension().and_then(|e| e.to_str()) {
            Some("png") => {
                check_png(&p)?;
            }
            Some("svg") => check_svg(&p)?,
            _ => {}
        }
        if !out.contains(&p) {
            out.push(p);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rendered_page_is_well_formed_and_escaped() {
        let page = Page {
            title: "run <a&b>".into(),
            sections: vec![Section {
                title: "s".into(),
                blocks: vec![
                    Block::Warn("SYNTHETIC".into()),
                    Block::P("x < y".into()),
                    Block::Figure {
                        png: "figures/a.png".into(),
                        svg: "figures/a.svg".into(),
                        title: "t".into(),
                        caption: "c".into(),
                    },
                    Block::Table { headers: vec!["h".into()], rows: vec![vec!["1 ± 2".into()]] },
                    Block::Links(vec![("r".into(), Some("runs/r/index.html".into())), ("q".into(), None)]),
                ],
            }],
        };
        let h = page.render();
        assert!(h.contains("run &lt;a&amp;b&gt;") && h.contains("x &lt; y"));
        let refs = check_well_formed(&h).unwrap();
        assert_eq!(refs, vec!["figures/a.svg", "figures/a.png", "figures/a.svg", "figures/a.png", "runs/r/index.html"]);
    }

    #[test]
    fn unbalanced_tags_are_caught() {
        assert!(check_well_formed("<p><b>x</p></b>").is_err());
        assert!(check_well_formed("<div>").is_err());
        assert!(check_well_formed("<p>a<br>b<img src=\"x\"/></p>").is_ok());
    }
}
