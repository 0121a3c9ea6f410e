//! Update masks: copying the fields a mask names from one message to another.

/// Copies the field `path` names from `source` to `target` when it is one
/// of the listed top-level fields, and says whether it was:
/// `copy_fields!(path, target, source; title, objectives)`.
#[macro_export]
macro_rules! copy_fields {
    ($path:expr, $target:expr, $source:expr; $($field:ident),+ $(,)?) => {{
        let path: &str = $path;
        $(
            if path == stringify!($field) {
                $target.$field = $source.$field.clone();
                true
            } else
        )+
        { false }
    }};
}

#[cfg(test)]
mod tests {
    use socialloans_contracts::common::Attachment;

    #[test]
    fn only_a_listed_field_is_copied() {
        let source = Attachment { name: "a.pdf".into(), uri: "docstore://x".into(), ..Default::default() };
        let mut target = Attachment::default();
        assert!(crate::copy_fields!("name", target, source; name, media_type));
        assert!(!crate::copy_fields!("uri", target, source; name, media_type), "uri is not listed");
        assert_eq!((target.name.as_str(), target.uri.as_str()), ("a.pdf", ""));
    }
}
