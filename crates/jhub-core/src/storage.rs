//! Storage decisions without I/O: whether a resize is a grow, a no-op or a
//! refused shrink; snapshot names; which scheduled snapshots retention
//! deletes; when the next scheduled snapshot is due.

use crate::Timestamp;
use crate::ports::{SnapshotKind, StorageError, VolumeSnapshot};
use std::time::Duration;

/// A storage quantity in bytes (`10Gi`, `500M`, `1073741824`). Fractions of
/// a byte and milli-units are refused: they are not sizes anyone means.
pub fn capacity_bytes(text: &str) -> Result<f64, StorageError> {
    let trimmed = text.trim();
    let bad = || {
        StorageError::Invalid(format!(
            "capacity {text:?} is not a storage size: use a Kubernetes quantity such as 20Gi, 500Mi or 1Ti"
        ))
    };
    if trimmed.is_empty() || trimmed.ends_with(['m', 'u', 'n']) || trimmed.starts_with(['-', '+']) {
        return Err(bad());
    }
    if !trimmed.chars().next().is_some_and(|c| c.is_ascii_digit()) {
        return Err(bad());
    }
    let bytes = crate::usage::quantity(&serde_json::Value::String(trimmed.to_string())).ok_or_else(bad)?;
    if bytes < 1.0 || !bytes.is_finite() {
        return Err(bad());
    }
    Ok(bytes)
}

/// What a resize request amounts to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResizeDecision {
    /// Patch the claim's request.
    Grow,
    /// Already that size: nothing to do.
    Unchanged,
}

/// Checks a resize of a claim that requests `current` to `wanted`.
/// Kubernetes never shrinks a volume, and grows one only when its class
/// allows expansion; both are refused here with a message that says so,
/// before the API server's terser answer.
pub fn check_resize(
    current: &str,
    wanted: &str,
    class: Option<&str>,
    expandable: bool,
) -> Result<ResizeDecision, StorageError> {
    let want = capacity_bytes(wanted)?;
    let have = capacity_bytes(current)
        .map_err(|_| StorageError::Backend(format!("the claim requests {current:?}, which is not a storage size")))?;
    if want < have {
        return Err(StorageError::Invalid(format!(
            "cannot shrink the volume from {current} to {wanted}: Kubernetes volumes can only grow"
        )));
    }
    if want == have {
        return Ok(ResizeDecision::Unchanged);
    }
    if !expandable {
        return Err(StorageError::Refused(match class {
            Some(class) => format!(
                "storage class {class:?} does not allow volume expansion (allowVolumeExpansion is not true); \
                 ask the cluster admin to enable it, or move the data to a new volume"
            ),
            None => "the volume has no storage class, so it cannot be expanded".to_string(),
        }));
    }
    Ok(ResizeDecision::Grow)
}

/// The name of a snapshot of `pvc` taken at `at`: `<pvc>-<kind>-<YYYYMMDDhhmmss>`,
/// cut so the whole stays a valid object name (253 characters).
pub fn snapshot_name(pvc: &str, kind: SnapshotKind, at: Timestamp) -> String {
    let stamp = at.strftime("%Y%m%d%H%M%S").to_string();
    let suffix = format!("-{}-{stamp}", kind.as_str());
    let room = 253usize.saturating_sub(suffix.len());
    let mut base: String = pvc.chars().take(room).collect();
    while base.ends_with(['-', '.']) {
        base.pop();
    }
    format!("{base}{suffix}")
}

/// Scheduled snapshots beyond the newest `keep`, to delete. Manual and
/// pre-restore snapshots are never chosen; snapshots without a creation
/// time count as newest (they were just made).
pub fn expired_snapshots(snapshots: &[VolumeSnapshot], keep: usize) -> Vec<String> {
    let mut scheduled: Vec<&VolumeSnapshot> =
        snapshots.iter().filter(|s| s.kind == Some(SnapshotKind::Scheduled)).collect();
    scheduled.sort_by(|a, b| {
        let key = |s: &VolumeSnapshot| s.created.as_deref().and_then(|t| crate::time::parse(t).ok());
        match (key(a), key(b)) {
            (Some(x), Some(y)) => y.cmp(&x),
            (None, Some(_)) => std::cmp::Ordering::Less,
            (Some(_), None) => std::cmp::Ordering::Greater,
            (None, None) => b.name.cmp(&a.name),
        }
    });
    scheduled.into_iter().skip(keep).map(|s| s.name.clone()).collect()
}

/// Whether a scheduled snapshot is due, given the newest scheduled one.
pub fn snapshot_due(newest: Option<Timestamp>, now: Timestamp, every: Duration) -> bool {
    match newest {
        None => true,
        Some(t) => {
            let since = now.duration_since(t);
            since.is_positive() && since.unsigned_abs() >= every
        }
    }
}

/// The creation time of the newest scheduled snapshot.
pub fn newest_scheduled(snapshots: &[VolumeSnapshot]) -> Option<Timestamp> {
    snapshots
        .iter()
        .filter(|s| s.kind == Some(SnapshotKind::Scheduled))
        .filter_map(|s| s.created.as_deref().and_then(|t| crate::time::parse(t).ok()))
        .max()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn snap(name: &str, kind: SnapshotKind, created: Option<&str>) -> VolumeSnapshot {
        VolumeSnapshot {
            name: name.into(),
            created: created.map(String::from),
            ready_to_use: true,
            size: None,
            kind: Some(kind),
            error: None,
        }
    }

    #[test]
    fn grow_unchanged_shrink_and_classes() {
        assert_eq!(check_resize("10Gi", "20Gi", Some("fast"), true), Ok(ResizeDecision::Grow));
        assert_eq!(check_resize("10Gi", "10240Mi", Some("fast"), true), Ok(ResizeDecision::Unchanged));
        let shrink = check_resize("10Gi", "5Gi", Some("fast"), true).unwrap_err();
        assert!(matches!(&shrink, StorageError::Invalid(m) if m.contains("cannot shrink")), "{shrink:?}");
        let fixed = check_resize("10Gi", "20Gi", Some("nfs"), false).unwrap_err();
        assert!(matches!(&fixed, StorageError::Refused(m) if m.contains("allowVolumeExpansion")), "{fixed:?}");
        for bad in ["", "lots", "-5Gi", "500m", "0", "Gi"] {
            assert!(matches!(check_resize("10Gi", bad, None, true), Err(StorageError::Invalid(_))), "{bad}");
        }
    }

    #[test]
    fn snapshot_names_stay_valid() {
        let at = crate::time::parse("2026-03-01T04:05:06Z").unwrap();
        assert_eq!(snapshot_name("claim-alice", SnapshotKind::Scheduled, at), "claim-alice-scheduled-20260301040506");
        let long = "a".repeat(300);
        let name = snapshot_name(&long, SnapshotKind::PreRestore, at);
        assert_eq!(name.len(), 253);
        assert!(name.ends_with("-pre-restore-20260301040506"));
    }

    #[test]
    fn retention_keeps_newest_scheduled_only() {
        let list = vec![
            snap("s1", SnapshotKind::Scheduled, Some("2026-03-01T00:00:00Z")),
            snap("s3", SnapshotKind::Scheduled, Some("2026-03-03T00:00:00Z")),
            snap("m0", SnapshotKind::Manual, Some("2026-02-01T00:00:00Z")),
            snap("s2", SnapshotKind::Scheduled, Some("2026-03-02T00:00:00Z")),
            snap("p0", SnapshotKind::PreRestore, Some("2026-01-01T00:00:00Z")),
        ];
        assert_eq!(expired_snapshots(&list, 2), vec!["s1".to_string()]);
        assert_eq!(expired_snapshots(&list, 0), vec!["s3".to_string(), "s2".into(), "s1".into()]);
        assert!(expired_snapshots(&list, 5).is_empty());
    }

    #[test]
    fn due_after_the_period() {
        let t = crate::time::parse("2026-03-01T00:00:00Z").unwrap();
        let day = Duration::from_secs(86_400);
        assert!(snapshot_due(None, t, day));
        assert!(!snapshot_due(Some(t), t + Duration::from_secs(3600), day));
        assert!(snapshot_due(Some(t), t + day, day));
        let list = vec![snap("s1", SnapshotKind::Scheduled, Some("2026-03-01T00:00:00Z"))];
        assert_eq!(newest_scheduled(&list), Some(t));
    }
}
