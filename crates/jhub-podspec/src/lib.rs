//! KubeSpawner-equivalent manifest builder: trait table, profiles and user options, pod and PVC JSON, names and slugs. Pure.
