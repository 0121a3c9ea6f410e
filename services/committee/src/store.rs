//! Reading and writing the `committee` schema: every statement the service
//! runs, and the rows they read and write. Every statement is
//! schema-qualified; the role's search_path is a second line of defence.

pub mod cases;
pub mod chain;
pub mod history;
pub mod meetings;
pub mod members;
pub mod votes;

/// A row of a list in sequence order: the chain, the history.
pub trait Sequenced {
    /// Its position in the list.
    fn sequence(&self) -> i64;
}
