//! What the services keep in the database in protobuf's terms: enums as
//! text columns of their own type, and aggregates as encoded documents
//! ([`document`]).
//!
//! A state is stored as its protobuf name without the enum's prefix
//! (`OPEN` for `CASE_STATE_OPEN`), readable in SQL and in `psql`. The
//! [`stored_enum!`](crate::stored_enum) macro makes, in the crate that uses
//! it, a column type for one enum that sqlx reads and binds directly: an
//! unknown text in the column is a decoding error, not a silent default.

#[doc(hidden)]
pub use sqlx as __sqlx;

/// A stored protobuf document (an application, case, meeting, plan or
/// report kept as its encoded message), decoded. Bytes that do not decode
/// are a database decoding error — the caller answers INTERNAL — never a
/// default message.
pub fn document<M: prost::Message + Default>(content: &[u8]) -> Result<M, sqlx::Error> {
    M::decode(content).map_err(|e| sqlx::Error::Decode(Box::new(e)))
}

/// A row of a table that keeps an aggregate as an encoded protobuf document:
/// the columns every such table has. `S` is the state's column type (from
/// [`stored_enum!`](crate::stored_enum)). What a table keeps beside these
/// (the borrower, the application, a start time) is there for SQL to filter,
/// order and constrain by; the code reads it from the document.
///
/// Static statements read it with `sqlx::query_as!` through a type alias
/// (`type Row = Document<CaseStateColumn>`), selecting exactly these columns;
/// dynamic ones with `sqlx::query_as`, or flattened into a larger row.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct Document<S> {
    /// The primary key.
    pub id: uuid::Uuid,
    /// The life-cycle state.
    pub state: S,
    /// Bumped on every change; the etag's source.
    pub revision: i64,
    /// The encoded aggregate.
    pub content: Vec<u8>,
    /// When it was created.
    pub create_time: chrono::DateTime<chrono::Utc>,
    /// When it last changed.
    pub update_time: chrono::DateTime<chrono::Utc>,
}

impl<S> Document<S> {
    /// The stored aggregate, decoded (see [`document`]).
    pub fn decode<M: prost::Message + Default>(&self) -> Result<M, sqlx::Error> {
        document(&self.content)
    }

    /// The entity tag clients send back to change it: the revision, quoted.
    pub fn etag(&self) -> String {
        format!("\"{}\"", self.revision)
    }

    /// Where a list ordered by creation continues after this row.
    pub fn position(&self) -> (chrono::DateTime<chrono::Utc>, uuid::Uuid) {
        (self.create_time, self.id)
    }
}

/// `stored_enum!(pub struct CaseStateColumn(CaseState, "CASE_STATE_"));`
/// makes `CaseStateColumn(pub CaseState)`, a text column of that enum.
#[macro_export]
macro_rules! stored_enum {
    ($(#[$meta:meta])* $vis:vis struct $column:ident($enum:ty, $prefix:literal);) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        $vis struct $column(pub $enum);

        impl $column {
            /// The stored text: the protobuf name without its prefix.
            pub fn stored(self) -> &'static str {
                let name = self.0.as_str_name();
                name.strip_prefix($prefix).unwrap_or(name)
            }

            /// The value a stored text names, if it names one.
            pub fn from_stored(text: &str) -> Option<Self> {
                <$enum>::from_str_name(&[$prefix, text].concat()).map(Self)
            }
        }

        impl $crate::stored::__sqlx::Type<$crate::stored::__sqlx::Postgres> for $column {
            fn type_info() -> $crate::stored::__sqlx::postgres::PgTypeInfo {
                <&str as $crate::stored::__sqlx::Type<$crate::stored::__sqlx::Postgres>>::type_info()
            }

            fn compatible(ty: &$crate::stored::__sqlx::postgres::PgTypeInfo) -> bool {
                <&str as $crate::stored::__sqlx::Type<$crate::stored::__sqlx::Postgres>>::compatible(ty)
            }
        }

        impl<'r> $crate::stored::__sqlx::Decode<'r, $crate::stored::__sqlx::Postgres> for $column {
            fn decode(
                value: $crate::stored::__sqlx::postgres::PgValueRef<'r>,
            ) -> Result<Self, $crate::stored::__sqlx::error::BoxDynError> {
                let text = <&str as $crate::stored::__sqlx::Decode<$crate::stored::__sqlx::Postgres>>::decode(value)?;
                Self::from_stored(text)
                    .ok_or_else(|| format!("{text:?} is not a stored {}", stringify!($enum)).into())
            }
        }

        impl $crate::stored::__sqlx::Encode<'_, $crate::stored::__sqlx::Postgres> for $column {
            fn encode_by_ref(
                &self,
                buf: &mut $crate::stored::__sqlx::postgres::PgArgumentBuffer,
            ) -> Result<$crate::stored::__sqlx::encode::IsNull, $crate::stored::__sqlx::error::BoxDynError> {
                <&str as $crate::stored::__sqlx::Encode<$crate::stored::__sqlx::Postgres>>::encode_by_ref(
                    &self.stored(),
                    buf,
                )
            }
        }
    };
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_stored_document_decodes_and_corrupt_bytes_are_a_decoding_error_not_a_default() {
        use prost::Message;
        let stamp = prost_types::Timestamp { seconds: 1_790_000_000, nanos: 7 };
        let back: prost_types::Timestamp = super::document(&stamp.encode_to_vec()).unwrap();
        assert_eq!(back, stamp);
        let corrupt = super::document::<prost_types::Timestamp>(&[0x08, 0xff]);
        assert!(matches!(corrupt, Err(sqlx::Error::Decode(_))), "{corrupt:?}");
    }
}
