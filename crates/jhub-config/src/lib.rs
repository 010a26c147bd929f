//! Reads z2jh values.yaml files into the hub's typed configuration, with line-accurate diagnostics.
