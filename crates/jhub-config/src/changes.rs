//! What a configuration change does not do to what already exists
//! (`jhub check-config --previous old.yaml`): a new
//! `singleuser.storage.capacity` only reaches PVCs created from then on.

use crate::diag::Diagnostic;
use crate::hubconfig::HubConfig;

/// Warnings for changes from `previous` to `current` that leave existing
/// objects as they are.
pub fn change_notes(previous: &HubConfig, current: &HubConfig) -> Vec<Diagnostic> {
    let mut notes = Vec::new();
    let was = previous.spawner.pod.storage_capacity.as_deref();
    let now = current.spawner.pod.storage_capacity.as_deref();
    if was != now {
        let show = |v: Option<&str>| v.map_or_else(|| "(unset)".to_string(), |v| format!("{v:?}"));
        notes.push(
            Diagnostic::warning(
                "storage-capacity-change",
                format!(
                    "singleuser.storage.capacity changes from {} to {}: this applies to new PVCs only; \
                     existing users' volumes keep their size",
                    show(was),
                    show(now)
                ),
            )
            .key("singleuser.storage.capacity")
            .help(
                "grow an existing volume with POST /hub/api/jhub/users/<name>/storage/resize {\"capacity\": \"...\"} \
                 or the admin page's Resize button (the storage class must allow volume expansion)",
            ),
        );
    }
    notes
}
