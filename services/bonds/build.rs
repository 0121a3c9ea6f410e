//! Rebuilds the service when a migration is added or changed: `sqlx::migrate!`
//! embeds the migrations at compile time and does not watch the folder.

fn main() {
    println!("cargo:rerun-if-changed=migrations");
}
