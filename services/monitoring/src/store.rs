//! Reading and writing the `monitoring` schema: every statement the service
//! runs, and the rows they read and write. Every statement is
//! schema-qualified; the role's search_path is a second line of defence.
//! The rest of the service decides what to write and what the rows mean.

pub mod audit;
pub mod catalogue;
pub mod overdue;
pub mod plans;
pub mod portfolio;
pub mod reports;
