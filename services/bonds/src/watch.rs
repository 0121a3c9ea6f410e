//! The warning that the pool is coming close to the bonds: after every
//! change of the pool or the bonds, and on a timer as loans and bonds
//! mature, today's headroom is compared with the margin
//! (`BOND_HEADROOM_MARGIN_PERCENT` of the bonds outstanding). Falling below
//! it publishes `HeadroomLow` once; coming back above it, `HeadroomRestored`.

use socialloans_contracts::bonds as pb;
use socialloans_platform::events::outbox;
use sqlx::{PgConnection, PgPool};

use crate::{history, views};

/// The aggregate the register's own events are about.
pub const REGISTER: &str = "register";

/// Compares today's headroom with the margin, under the register's lock
/// (the caller holds it), and publishes a change of side; `cause` says what
/// moved it.
pub async fn check(conn: &mut PgConnection, margin_percent: u32, cause: &str) -> Result<(), sqlx::Error> {
    let raised: bool = sqlx::query_scalar("SELECT headroom_low FROM bonds.register").fetch_one(&mut *conn).await?;
    let known_at = history::clock(conn).await?;
    let today = socialloans_platform::stockholm_date(known_at);
    let headroom = history::headroom(conn, today, known_at).await?;
    let low = headroom.low(margin_percent);
    if low == raised {
        return Ok(());
    }
    sqlx::query("UPDATE bonds.register SET headroom_low = $1, low_since = CASE WHEN $1 THEN clock_timestamp() END")
        .bind(low)
        .execute(&mut *conn)
        .await?;
    let view = views::headroom(&headroom, today, known_at, margin_percent);
    if low {
        let event =
            pb::HeadroomLow { headroom: Some(view), shortfall: headroom.headroom() < 0, cause: cause.to_owned() };
        outbox::append(conn, "bonds", REGISTER, None, &event).await?;
        tracing::warn!(headroom = headroom.headroom(), cause, "the eligible pool is close to the bonds outstanding");
    } else {
        outbox::append(conn, "bonds", REGISTER, None, &pb::HeadroomRestored { headroom: Some(view) }).await?;
    }
    Ok(())
}

/// Checks the headroom every `every` (maturities move it as days pass)
/// until `stopping`.
pub async fn sweep(
    pool: PgPool,
    margin_percent: u32,
    every: std::time::Duration,
    mut stopping: tokio::sync::watch::Receiver<bool>,
) {
    loop {
        let result = async {
            let mut tx = pool.begin().await?;
            history::lock_for_writing(&mut tx).await?;
            check(&mut tx, margin_percent, "time: loans and bonds maturing").await?;
            tx.commit().await
        }
        .await;
        if let Err(err) = result {
            tracing::warn!(error = %err, "cannot check the headroom; trying again later");
        }
        tokio::select! {
            _ = tokio::time::sleep(every) => {}
            _ = stopping.changed() => return,
        }
    }
}
