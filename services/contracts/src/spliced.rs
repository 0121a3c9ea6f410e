//! The two read answers of the applications service, written by hand so that
//! a server can answer with an application's stored encoding spliced in
//! unchanged instead of decoding it only to encode it again.
//!
//! On the wire they are exactly the generated messages (`build.rs` maps
//! their protobuf names here): a client decodes them into `application(s)`
//! as ever, and a server may set either the decoded form or, through
//! [`GetApplicationResponse::spliced`] and
//! [`ListApplicationsResponse::spliced`], the encoded one. An encoded
//! application is a valid `Application` encoding; protobuf lets a server
//! append fields to it (a later scalar wins, a later message merges), which
//! is how the stored bytes get the fields the server sets.

use prost::{
    DecodeError, Message,
    bytes::{Buf, BufMut},
    encoding::{DecodeContext, WireType, bytes as raw, message, skip_field, string},
};

use crate::applications::Application;

/// Response of `GetApplication`.
#[derive(Clone, PartialEq, Default, Debug)]
pub struct GetApplicationResponse {
    /// The application (decoded; `None` in an answer made by
    /// [`GetApplicationResponse::spliced`] — see [`Self::application`]).
    pub application: Option<Application>,
    encoded: Option<Vec<u8>>,
}

impl GetApplicationResponse {
    /// An answer with `application`.
    pub fn new(application: Application) -> Self {
        Self { application: Some(application), encoded: None }
    }

    /// An answer with an application already encoded (`Application`'s wire
    /// form).
    pub fn spliced(encoded: Vec<u8>) -> Self {
        Self { application: None, encoded: Some(encoded) }
    }

    /// The application, decoded from its encoding if it was spliced.
    pub fn application(&self) -> Result<Option<Application>, DecodeError> {
        match &self.encoded {
            Some(encoded) => Application::decode(encoded.as_slice()).map(Some),
            None => Ok(self.application.clone()),
        }
    }
}

impl Message for GetApplicationResponse {
    fn encode_raw(&self, buf: &mut impl BufMut) {
        match (&self.encoded, &self.application) {
            (Some(encoded), _) => raw::encode(1, encoded, buf),
            (None, Some(application)) => message::encode(1, application, buf),
            (None, None) => {}
        }
    }

    fn merge_field(
        &mut self,
        tag: u32,
        wire_type: WireType,
        buf: &mut impl Buf,
        ctx: DecodeContext,
    ) -> Result<(), DecodeError> {
        match tag {
            1 => {
                let application = self.application.get_or_insert_with(Default::default);
                message::merge(wire_type, application, buf, ctx).map_err(|mut e| {
                    e.push("GetApplicationResponse", "application");
                    e
                })
            }
            _ => skip_field(wire_type, tag, buf, ctx),
        }
    }

    fn encoded_len(&self) -> usize {
        match (&self.encoded, &self.application) {
            (Some(encoded), _) => raw::encoded_len(1, encoded),
            (None, Some(application)) => message::encoded_len(1, application),
            (None, None) => 0,
        }
    }

    fn clear(&mut self) {
        *self = Self::default();
    }
}

impl prost::Name for GetApplicationResponse {
    const NAME: &'static str = "GetApplicationResponse";
    const PACKAGE: &'static str = "socialloans.applications.v1";
}

impl prost::Name for ListApplicationsResponse {
    const NAME: &'static str = "ListApplicationsResponse";
    const PACKAGE: &'static str = "socialloans.applications.v1";
}

/// Response of `ListApplications`.
#[derive(Clone, PartialEq, Default, Debug)]
pub struct ListApplicationsResponse {
    /// The page of applications (decoded; empty in an answer made by
    /// [`ListApplicationsResponse::spliced`] — see [`Self::applications`]).
    pub applications: Vec<Application>,
    /// Token for the next page; empty when this is the last page.
    pub next_page_token: String,
    encoded: Vec<Vec<u8>>,
}

impl ListApplicationsResponse {
    /// A page of `applications`.
    pub fn new(applications: Vec<Application>, next_page_token: String) -> Self {
        Self { applications, next_page_token, encoded: Vec::new() }
    }

    /// A page of applications already encoded, in order.
    pub fn spliced(encoded: Vec<Vec<u8>>, next_page_token: String) -> Self {
        Self { applications: Vec::new(), next_page_token, encoded }
    }

    /// The applications, decoded from their encodings if they were spliced.
    pub fn applications(&self) -> Result<Vec<Application>, DecodeError> {
        let decoded = self.encoded.iter().map(|e| Application::decode(e.as_slice()));
        decoded.chain(self.applications.iter().cloned().map(Ok)).collect()
    }
}

impl Message for ListApplicationsResponse {
    fn encode_raw(&self, buf: &mut impl BufMut) {
        for encoded in &self.encoded {
            raw::encode(1, encoded, buf);
        }
        for application in &self.applications {
            message::encode(1, application, buf);
        }
        if !self.next_page_token.is_empty() {
            string::encode(2, &self.next_page_token, buf);
        }
    }

    fn merge_field(
        &mut self,
        tag: u32,
        wire_type: WireType,
        buf: &mut impl Buf,
        ctx: DecodeContext,
    ) -> Result<(), DecodeError> {
        const STRUCT: &str = "ListApplicationsResponse";
        match tag {
            1 => message::merge_repeated(wire_type, &mut self.applications, buf, ctx).map_err(|mut e| {
                e.push(STRUCT, "applications");
                e
            }),
            2 => string::merge(wire_type, &mut self.next_page_token, buf, ctx).map_err(|mut e| {
                e.push(STRUCT, "next_page_token");
                e
            }),
            _ => skip_field(wire_type, tag, buf, ctx),
        }
    }

    fn encoded_len(&self) -> usize {
        let encoded: usize = self.encoded.iter().map(|e| raw::encoded_len(1, e)).sum();
        let token = if self.next_page_token.is_empty() { 0 } else { string::encoded_len(2, &self.next_page_token) };
        encoded + message::encoded_len_repeated(1, &self.applications) + token
    }

    fn clear(&mut self) {
        *self = Self::default();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn application(title: &str) -> Application {
        Application { name: format!("applications/{title}"), title: title.into(), ..Default::default() }
    }

    #[test]
    fn a_spliced_answer_decodes_as_the_one_made_of_the_decoded_application() {
        let app = application("Trygga hem");
        let spliced = GetApplicationResponse::spliced(app.encode_to_vec());
        let plain = GetApplicationResponse::new(app.clone());
        assert_eq!(spliced.encode_to_vec(), plain.encode_to_vec());
        assert_eq!(spliced.encoded_len(), spliced.encode_to_vec().len());
        let received = GetApplicationResponse::decode(spliced.encode_to_vec().as_slice()).unwrap();
        assert_eq!(received, plain);
        assert_eq!(spliced.application().unwrap(), Some(app));
        assert_eq!(GetApplicationResponse::default().encode_to_vec(), Vec::<u8>::new());
    }

    #[test]
    fn a_spliced_page_keeps_its_order_and_its_token() {
        let apps = vec![application("a"), application("b"), application("c")];
        let spliced =
            ListApplicationsResponse::spliced(apps.iter().map(Message::encode_to_vec).collect(), "next".into());
        let plain = ListApplicationsResponse::new(apps.clone(), "next".into());
        assert_eq!(spliced.encode_to_vec(), plain.encode_to_vec());
        assert_eq!(spliced.encoded_len(), plain.encoded_len());
        let received = ListApplicationsResponse::decode(spliced.encode_to_vec().as_slice()).unwrap();
        assert_eq!(received, plain);
        assert_eq!(spliced.applications().unwrap(), apps);
        let last = ListApplicationsResponse::new(Vec::new(), String::new());
        assert_eq!(last.encode_to_vec(), Vec::<u8>::new());
    }

    #[test]
    fn the_hand_written_answers_read_what_the_generated_encoding_of_the_contract_writes() {
        // The descriptor's field numbers and types, not this file's, say what is on the wire.
        let set = prost_types::FileDescriptorSet::decode(crate::FILE_DESCRIPTOR_SET).unwrap();
        let fields = |name: &str| {
            set.file
                .iter()
                .filter(|f| f.package() == "socialloans.applications.v1")
                .flat_map(|f| &f.message_type)
                .find(|m| m.name() == name)
                .map(|m| m.field.iter().map(|f| (f.name().to_owned(), f.number(), f.type_name().to_owned())).collect())
                .unwrap_or_else(Vec::new)
        };
        let application = ".socialloans.applications.v1.Application".to_owned();
        assert_eq!(fields("GetApplicationResponse"), [("application".to_owned(), 1, application.clone())]);
        assert_eq!(
            fields("ListApplicationsResponse"),
            [("applications".to_owned(), 1, application), ("next_page_token".to_owned(), 2, String::new())]
        );
    }
}
