//! What a person reads, in Swedish by default and English on request:
//! documents written from Markdown templates ([`Templates`]), given as
//! Markdown or as a safe HTML page ([`html`]), and the Swedish ways of
//! writing money and numbers ([`numbers`]).
//!
//! One template set serves both formats: a template writes Markdown, and
//! HTML is rendered from that Markdown, so the two never say different
//! things.

pub mod html;
pub mod names;
pub mod numbers;

use socialloans_contracts::common::{self, DocumentFormat};

/// A reader's language.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Language {
    /// Swedish: the language of the record.
    #[default]
    Swedish,
    /// English.
    English,
}

impl Language {
    /// The language a request's `language` field asks for (unset: Swedish);
    /// `None` for a value the contract does not have.
    pub fn asked(value: i32) -> Option<Language> {
        match common::Language::try_from(value).ok()? {
            common::Language::Unspecified | common::Language::Swedish => Some(Language::Swedish),
            common::Language::English => Some(Language::English),
        }
    }

    /// The language whose [`Language::tag`] is `tag`; Swedish for any other.
    pub fn from_tag(tag: &str) -> Language {
        if tag == Language::English.tag() { Language::English } else { Language::Swedish }
    }

    /// The language as a BCP 47 tag, which also names its templates' folder.
    pub fn tag(self) -> &'static str {
        match self {
            Language::Swedish => "sv",
            Language::English => "en",
        }
    }

    /// The contract's value for it.
    pub fn contract(self) -> common::Language {
        match self {
            Language::Swedish => common::Language::Swedish,
            Language::English => common::Language::English,
        }
    }
}

/// The format a request's `format` field asks for (unset: Markdown); `None`
/// for a value the contract does not have.
pub fn format_asked(value: i32) -> Option<DocumentFormat> {
    match DocumentFormat::try_from(value).ok()? {
        DocumentFormat::Unspecified | DocumentFormat::Markdown => Some(DocumentFormat::Markdown),
        DocumentFormat::Html => Some(DocumentFormat::Html),
    }
}

/// The document `markdown` (titled `title` when a page) in `format`.
pub fn document(markdown: String, title: &str, language: Language, format: DocumentFormat) -> common::RenderedDocument {
    let (content, media_type, format) = match format {
        DocumentFormat::Html => (html::page(&markdown, title, language), "text/html; charset=utf-8", format),
        _ => (markdown, "text/markdown; charset=utf-8", DocumentFormat::Markdown),
    };
    common::RenderedDocument {
        content,
        media_type: media_type.to_owned(),
        language: language.contract() as i32,
        format: format as i32,
    }
}

/// A set of Markdown templates, one per document and language, each named
/// `"{tag}/{document}"` (e.g. `"sv/minutes"`).
#[derive(Debug)]
pub struct Templates {
    env: minijinja::Environment<'static>,
}

impl Templates {
    /// The set of `templates`, each `(name, source)`; a template that does
    /// not parse is a programming error, found by the crate's own tests.
    pub fn new(templates: &[(&'static str, &'static str)]) -> Result<Templates, minijinja::Error> {
        let mut env = minijinja::Environment::new();
        // Markdown is not escaped here; html::page escapes what it renders.
        env.set_auto_escape_callback(|_| minijinja::AutoEscape::None);
        env.set_undefined_behavior(minijinja::UndefinedBehavior::Strict);
        env.set_trim_blocks(true);
        env.set_lstrip_blocks(true);
        env.set_keep_trailing_newline(true);
        for (name, source) in templates {
            env.add_template(name, source)?;
        }
        Ok(Templates { env })
    }

    /// The document `document` in `language`, written from `context`: its
    /// runs of blank lines made one (in Markdown they mean no more), so that
    /// a template may leave a blank line around every optional part.
    pub fn render(
        &self,
        document: &str,
        language: Language,
        context: impl serde::Serialize,
    ) -> Result<String, minijinja::Error> {
        let template = self.env.get_template(&format!("{}/{document}", language.tag()))?;
        Ok(tidy(&template.render(context)?))
    }
}

/// `markdown` with no blank line first, runs of blank lines made one, and
/// one newline at the end.
fn tidy(markdown: &str) -> String {
    let mut out = String::with_capacity(markdown.len());
    let mut blank = true;
    for line in markdown.lines() {
        let is_blank = line.trim().is_empty();
        if is_blank && blank {
            continue;
        }
        out.push_str(if is_blank { "" } else { line });
        out.push('\n');
        blank = is_blank;
    }
    while out.ends_with("\n\n") {
        out.pop();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unset_language_is_swedish_and_an_unknown_one_is_refused() {
        assert_eq!(Language::asked(0), Some(Language::Swedish));
        assert_eq!(Language::asked(2), Some(Language::English));
        assert_eq!(Language::asked(99), None);
        assert_eq!(format_asked(0), Some(DocumentFormat::Markdown));
        assert_eq!(format_asked(-1), None);
        assert_eq!((Language::from_tag("en"), Language::from_tag("sv")), (Language::English, Language::Swedish));
    }

    #[test]
    fn a_template_is_chosen_by_language_and_strict_about_what_it_is_given() {
        let templates =
            Templates::new(&[("sv/hello", "Hej {{ name }}!\n"), ("en/hello", "Hello {{ name }}!\n")]).unwrap();
        #[derive(serde::Serialize)]
        struct Context {
            name: &'static str,
        }
        let sv = templates.render("hello", Language::Swedish, Context { name: "<Åsa>" }).unwrap();
        assert_eq!(sv, "Hej <Åsa>!\n", "Markdown is not escaped: the HTML page does it");
        assert_eq!(templates.render("hello", Language::English, Context { name: "Bo" }).unwrap(), "Hello Bo!\n");
        #[derive(serde::Serialize)]
        struct Nothing {}
        assert!(templates.render("hello", Language::Swedish, Nothing {}).is_err(), "a missing value is an error");
    }

    #[test]
    fn blank_lines_a_template_leaves_are_tidied() {
        assert_eq!(tidy("\n\n# A\n\n\n  \n- b\n\n\nc\n\n"), "# A\n\n- b\n\nc\n");
        assert_eq!(tidy(""), "");
    }

    #[test]
    fn a_document_says_its_media_type_language_and_format() {
        let md = document("# Hej\n".into(), "Hej", Language::Swedish, DocumentFormat::Markdown);
        assert_eq!((md.content.as_str(), md.media_type.as_str()), ("# Hej\n", "text/markdown; charset=utf-8"));
        let html = document("# Hej\n".into(), "Hej", Language::English, DocumentFormat::Html);
        assert!(html.content.contains("<h1>Hej</h1>"), "{}", html.content);
        assert_eq!(html.language, common::Language::English as i32);
        assert_eq!(html.format, DocumentFormat::Html as i32);
    }
}
