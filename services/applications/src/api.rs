//! The gRPC handlers: request → domain call → response, nothing more.

use socialloans_contracts::applications::{
    Application, ApplicationState, Borrower, GetApplicationRequest, GetApplicationResponse, ListApplicationsRequest,
    ListApplicationsResponse, StreamEventsRequest, StreamEventsResponse,
    applications_service_server::ApplicationsService,
};
use socialloans_platform::{
    Caller,
    error::FieldViolation,
    events::{Feed, ServiceStream},
    pagination::{decode_token, encode_token, page_size},
};
use sqlx::PgPool;
use tonic::{Request, Response, Status};
use uuid::Uuid;

use crate::{
    error::Error,
    store::{self, ApplicationRow, Cursor, ListFilter},
};

/// The applications service's handlers.
#[derive(Debug, Clone)]
pub struct Api {
    pool: PgPool,
    feed: Feed,
}

impl Api {
    /// Handlers over `pool`, serving `feed`.
    pub fn new(pool: PgPool, feed: Feed) -> Self {
        Self { pool, feed }
    }
}

/// The authenticated caller; the call guard always puts one in.
fn caller<T>(request: &Request<T>) -> Result<&Caller, Status> {
    request.extensions().get::<Caller>().ok_or_else(|| Status::unauthenticated("no authenticated caller"))
}

/// Parses `applications/{uuid}`.
fn parse_name(field: &str, name: &str) -> Result<Uuid, FieldViolation> {
    name.strip_prefix("applications/")
        .and_then(|id| Uuid::parse_str(id).ok())
        .ok_or_else(|| FieldViolation::new(field, "must be applications/{uuid}"))
}

fn state_to_proto(state: &str) -> ApplicationState {
    ApplicationState::from_str_name(&format!("APPLICATION_STATE_{state}")).unwrap_or(ApplicationState::Unspecified)
}

fn timestamp(time: chrono::DateTime<chrono::Utc>) -> prost_types::Timestamp {
    prost_types::Timestamp { seconds: time.timestamp(), nanos: time.timestamp_subsec_nanos() as i32 }
}

fn to_proto(row: ApplicationRow) -> Application {
    Application {
        name: format!("applications/{}", row.id),
        state: state_to_proto(&row.state) as i32,
        etag: format!("\"{}\"", row.revision),
        borrower: Some(Borrower { organization_number: row.organization_number, ..Default::default() }),
        create_time: Some(timestamp(row.create_time)),
        update_time: Some(timestamp(row.update_time)),
        ..Default::default()
    }
}

fn encode_cursor(row: &ApplicationRow) -> String {
    format!("{}|{}", row.create_time.timestamp_micros(), row.id)
}

fn decode_cursor(cursor: &str) -> Option<Cursor> {
    let (micros, id) = cursor.split_once('|')?;
    Some(Cursor {
        create_time: chrono::DateTime::from_timestamp_micros(micros.parse().ok()?)?,
        id: Uuid::parse_str(id).ok()?,
    })
}

#[tonic::async_trait]
impl ApplicationsService for Api {
    async fn stream_events(
        &self,
        request: Request<StreamEventsRequest>,
    ) -> Result<Response<ServiceStream<StreamEventsResponse>>, Status> {
        Ok(Response::new(self.feed.serve(request.get_ref()).await?))
    }

    async fn get_application(
        &self,
        request: Request<GetApplicationRequest>,
    ) -> Result<Response<GetApplicationResponse>, Status> {
        let organization = caller(&request)?.confined_to().map(str::to_owned);
        let name = &request.get_ref().name;
        let id = parse_name("name", name).map_err(Error::from)?;
        let row = store::get(&self.pool, id, organization.as_deref())
            .await
            .map_err(Error::from)?
            .ok_or_else(|| Error::NotFound(name.clone()))?;
        Ok(Response::new(GetApplicationResponse { application: Some(to_proto(row)) }))
    }

    async fn list_applications(
        &self,
        request: Request<ListApplicationsRequest>,
    ) -> Result<Response<ListApplicationsResponse>, Status> {
        let confined = caller(&request)?.confined_to().map(str::to_owned);
        let req = request.into_inner();
        let mut violations = Vec::new();
        let size = page_size(req.page_size).map_err(|v| violations.push(v)).unwrap_or_default();
        let state = match ApplicationState::try_from(req.state) {
            Ok(ApplicationState::Unspecified) => None,
            Ok(state) => Some(state.as_str_name().trim_start_matches("APPLICATION_STATE_").to_owned()),
            Err(_) => {
                violations.push(FieldViolation::new("state", "is not an ApplicationState"));
                None
            }
        };
        if req.category != 0 {
            violations.push(FieldViolation::new("category", "filtering by category is not supported yet"));
        }
        // A borrower sees only its own organisation, whatever it asks for.
        let organization = match (confined, req.organization_number.is_empty()) {
            (Some(own), true) => Some(own),
            (Some(own), false) if own == req.organization_number => Some(own),
            (Some(_), false) => {
                violations
                    .push(FieldViolation::new("organization_number", "a borrower may list only its own organisation"));
                None
            }
            (None, empty) => (!empty).then_some(req.organization_number.clone()),
        };
        let filter = ListFilter { organization_number: organization, state };
        let query = format!("{:?}|{:?}", filter.organization_number, filter.state);
        let after = match decode_token(&query, &req.page_token) {
            Ok(Some(cursor)) => match decode_cursor(&cursor) {
                Some(cursor) => Some(cursor),
                None => {
                    violations.push(FieldViolation::new("page_token", "is not a token this list returned"));
                    None
                }
            },
            Ok(None) => None,
            Err(v) => {
                violations.push(v);
                None
            }
        };
        if !violations.is_empty() {
            return Err(Error::InvalidArgument(violations).into());
        }

        let mut rows = store::list(&self.pool, &filter, after, size).await.map_err(Error::from)?;
        let next_page_token = if rows.len() > size as usize {
            rows.truncate(size as usize);
            rows.last().map(|last| encode_token(&query, &encode_cursor(last))).unwrap_or_default()
        } else {
            String::new()
        };
        Ok(Response::new(ListApplicationsResponse {
            applications: rows.into_iter().map(to_proto).collect(),
            next_page_token,
        }))
    }
}
