//! The Social Loans gRPC contracts, generated from `proto/` at build time.
//!
//! One module per protobuf package, plus the encoded descriptor set of every
//! file, which each service hands to gRPC server reflection.

#![allow(missing_docs, clippy::all)]

/// The encoded `google.protobuf.FileDescriptorSet` of all contracts.
pub const FILE_DESCRIPTOR_SET: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/descriptor_set.bin"));

/// `socialloans.*` packages.
pub mod socialloans {
    /// `socialloans.applications.*`.
    pub mod applications {
        /// `socialloans.applications.v1`: loan applications and their life cycle.
        pub mod v1 {
            tonic::include_proto!("socialloans.applications.v1");
        }
    }
    /// `socialloans.common.*`.
    pub mod common {
        /// `socialloans.common.v1`: the value types every contract uses.
        pub mod v1 {
            tonic::include_proto!("socialloans.common.v1");
        }
    }
    /// `socialloans.events.*`.
    pub mod events {
        /// `socialloans.events.v1`: the event envelope and the messages of every feed.
        pub mod v1 {
            tonic::include_proto!("socialloans.events.v1");
        }
    }
    /// `socialloans.committee.*`.
    pub mod committee {
        /// `socialloans.committee.v1`: the expert committee's cases and decisions.
        pub mod v1 {
            tonic::include_proto!("socialloans.committee.v1");
        }
    }
    /// `socialloans.monitoring.*`.
    pub mod monitoring {
        /// `socialloans.monitoring.v1`: outcome monitoring and impact reporting.
        pub mod v1 {
            tonic::include_proto!("socialloans.monitoring.v1");
        }
    }
}

pub use socialloans::{
    applications::v1 as applications, committee::v1 as committee, common::v1 as common, events::v1 as events,
    monitoring::v1 as monitoring,
};

/// Whether `path` names a field of the message `message` (fully qualified,
/// e.g. `socialloans.applications.v1.Application`), as comments and field
/// masks name them: dot-separated field names, each list field optionally
/// indexed (`objectives[2].description`). Only the names are checked, from the
/// contracts' own descriptors; whether an index is within a list is the
/// caller's to check against the resource.
pub fn field_path_exists(message: &str, path: &str) -> bool {
    use prost::Message;
    use prost_types::field_descriptor_proto::{Label, Type};
    static MESSAGES: std::sync::OnceLock<std::collections::HashMap<String, Vec<prost_types::FieldDescriptorProto>>> =
        std::sync::OnceLock::new();
    let messages = MESSAGES.get_or_init(|| {
        let set = prost_types::FileDescriptorSet::decode(FILE_DESCRIPTOR_SET).unwrap_or_default();
        let mut messages = std::collections::HashMap::new();
        fn walk(
            prefix: &str,
            list: &[prost_types::DescriptorProto],
            out: &mut std::collections::HashMap<String, Vec<prost_types::FieldDescriptorProto>>,
        ) {
            for m in list {
                let name = format!("{prefix}.{}", m.name());
                walk(&name, &m.nested_type, out);
                out.insert(name, m.field.clone());
            }
        }
        for file in &set.file {
            walk(file.package(), &file.message_type, &mut messages);
        }
        messages
    });
    if path.is_empty() || path.len() > 300 {
        return false;
    }
    let mut current = message.trim_start_matches('.').to_owned();
    let mut segments = path.split('.').peekable();
    while let Some(segment) = segments.next() {
        let (name, index) = match segment.split_once('[') {
            Some((name, rest)) => match rest.strip_suffix(']').and_then(|i| i.parse::<u32>().ok()) {
                Some(i) => (name, Some(i)),
                None => return false,
            },
            None => (segment, None),
        };
        let Some(field) = messages.get(&current).and_then(|fields| fields.iter().find(|f| f.name() == name)) else {
            return false;
        };
        if index.is_some() && field.label() != Label::Repeated {
            return false;
        }
        if segments.peek().is_some() {
            if field.r#type() != Type::Message || (field.label() == Label::Repeated && index.is_none()) {
                return false;
            }
            current = field.type_name().trim_start_matches('.').to_owned();
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::field_path_exists;

    #[test]
    fn field_paths_are_checked_against_the_contracts_own_descriptors() {
        let app = "socialloans.applications.v1.Application";
        for good in ["title", "objectives", "objectives[2]", "objectives[2].description", "investment.total_amount"] {
            assert!(field_path_exists(app, good), "{good}");
        }
        for bad in ["", "nosuch", "title[0]", "objectives[x]", "objectives.description", "title.x", "objectives[1]."] {
            assert!(!field_path_exists(app, bad), "{bad}");
        }
        assert!(field_path_exists("socialloans.monitoring.v1.OutcomeReport", "indicator_values[0].value"));
        assert!(!field_path_exists("socialloans.monitoring.v1.NoSuchMessage", "x"));
    }
}
