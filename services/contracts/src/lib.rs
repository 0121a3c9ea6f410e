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

pub use socialloans::{applications::v1 as applications, committee::v1 as committee, monitoring::v1 as monitoring};
