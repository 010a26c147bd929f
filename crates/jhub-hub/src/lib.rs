//! The hub application: in-memory state with write-through persistence, spawn orchestration, culler, proxy reconciliation, activity.
