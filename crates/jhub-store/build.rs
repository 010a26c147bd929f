//! Rebuilds the crate when a migration changes: `sqlx::migrate!` embeds the
//! files at compile time and cannot tell cargo to watch the directory itself.

fn main() {
    println!("cargo:rerun-if-changed=../../migrations");
}
