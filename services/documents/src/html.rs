//! A Markdown document as a complete HTML page that is safe to open: HTML
//! written into the Markdown (by a template, or inside a text a user typed)
//! is shown as text, and links and images become their text, so nothing a
//! borrower or member typed can run script or point the reader elsewhere.

use pulldown_cmark::{Event, Options, Parser, Tag, TagEnd};

use crate::Language;

/// The page: `markdown` rendered, titled `title`, in `language`.
pub fn page(markdown: &str, title: &str, language: Language) -> String {
    let mut body = String::with_capacity(markdown.len() * 3 / 2);
    pulldown_cmark::html::push_html(&mut body, safe(markdown));
    format!(
        "<!DOCTYPE html>\n<html lang=\"{}\">\n<head>\n<meta charset=\"utf-8\">\n<title>{}</title>\n\
         <style>body{{font-family:sans-serif;max-width:48em;margin:2em auto;line-height:1.45}}\
         h2{{margin-top:1.6em}}</style>\n</head>\n<body>\n{body}</body>\n</html>\n",
        language.tag(),
        escape(title),
    )
}

/// The events of `markdown` with raw HTML turned into text and links and
/// images into what they say.
fn safe(markdown: &str) -> impl Iterator<Item = Event<'_>> {
    let options = Options::ENABLE_TABLES | Options::ENABLE_STRIKETHROUGH;
    Parser::new_ext(markdown, options).filter_map(|event| match event {
        Event::Html(html) | Event::InlineHtml(html) => Some(Event::Text(html)),
        Event::Start(Tag::Link { .. } | Tag::Image { .. }) | Event::End(TagEnd::Link | TagEnd::Image) => None,
        other => Some(other),
    })
}

/// `text` with the characters HTML gives meaning to escaped.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markdown_becomes_a_page_in_the_readers_language() {
        let page = page("# Protokoll\n\n## § 1 Val av justerare\n\n- Anna\n", "Protokoll <Q2>", Language::Swedish);
        assert!(page.starts_with("<!DOCTYPE html>\n<html lang=\"sv\">"), "{page}");
        assert!(page.contains("<title>Protokoll &lt;Q2&gt;</title>"), "{page}");
        assert!(page.contains("<h2>§ 1 Val av justerare</h2>") && page.contains("<li>Anna</li>"), "{page}");
    }

    #[test]
    fn html_and_links_typed_into_a_text_stay_text() {
        let typed = "Villkor <script>alert(1)</script> och <img src=x onerror=alert(2)>\n\n\
                     <div onclick=\"x()\">block</div>\n\n[klicka](javascript:alert(3)) ![bild](http://evil/x.png)\n";
        let page = page(typed, "t", Language::English);
        for danger in ["<script", "<img", "<div", "<a ", "href="] {
            assert!(!page.contains(danger), "{danger} in {page}");
        }
        assert!(page.contains("&lt;script&gt;alert(1)&lt;/script&gt;"), "{page}");
        assert!(page.contains("klicka") && page.contains("bild"), "a link's text is kept: {page}");
    }
}
