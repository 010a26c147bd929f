//! The resources the simulator serves (core/v1, plus `storage.k8s.io/v1` StorageClasses and
//! `snapshot.storage.k8s.io/v1` VolumeSnapshots and VolumeSnapshotClasses) and the API verbs it
//! counts.

use std::fmt;

use serde::{Deserialize, Serialize};

/// A core/v1 resource type served by the simulator.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Resource {
    /// `pods`
    Pods,
    /// `persistentvolumeclaims`
    PersistentVolumeClaims,
    /// `events` (core/v1)
    Events,
    /// `services`
    Services,
    /// `secrets`
    Secrets,
    /// `nodes` (cluster-scoped)
    Nodes,
    /// `namespaces` (cluster-scoped)
    Namespaces,
    /// `persistentvolumes` (cluster-scoped; created by the simulated provisioner)
    PersistentVolumes,
    /// `storageclasses` (`storage.k8s.io/v1`, cluster-scoped)
    StorageClasses,
    /// `volumesnapshotclasses` (`snapshot.storage.k8s.io/v1`, cluster-scoped; a CRD on real clusters)
    VolumeSnapshotClasses,
    /// `volumesnapshots` (`snapshot.storage.k8s.io/v1`; a CRD on real clusters)
    VolumeSnapshots,
}

impl Resource {
    /// Every resource, in table order.
    pub const ALL: [Resource; 11] = [
        Resource::Pods,
        Resource::PersistentVolumeClaims,
        Resource::Events,
        Resource::Services,
        Resource::Secrets,
        Resource::Nodes,
        Resource::Namespaces,
        Resource::PersistentVolumes,
        Resource::StorageClasses,
        Resource::VolumeSnapshotClasses,
        Resource::VolumeSnapshots,
    ];

    /// The URL plural, e.g. `persistentvolumeclaims`.
    pub fn plural(self) -> &'static str {
        match self {
            Resource::Pods => "pods",
            Resource::PersistentVolumeClaims => "persistentvolumeclaims",
            Resource::Events => "events",
            Resource::Services => "services",
            Resource::Secrets => "secrets",
            Resource::Nodes => "nodes",
            Resource::Namespaces => "namespaces",
            Resource::PersistentVolumes => "persistentvolumes",
            Resource::StorageClasses => "storageclasses",
            Resource::VolumeSnapshotClasses => "volumesnapshotclasses",
            Resource::VolumeSnapshots => "volumesnapshots",
        }
    }

    /// The API group (`""` for core).
    pub fn group(self) -> &'static str {
        match self {
            Resource::StorageClasses => "storage.k8s.io",
            Resource::VolumeSnapshotClasses | Resource::VolumeSnapshots => "snapshot.storage.k8s.io",
            _ => "",
        }
    }

    /// The `apiVersion` of its objects, e.g. `v1` or `storage.k8s.io/v1`.
    pub fn api_version(self) -> &'static str {
        match self.group() {
            "storage.k8s.io" => "storage.k8s.io/v1",
            "snapshot.storage.k8s.io" => "snapshot.storage.k8s.io/v1",
            _ => "v1",
        }
    }

    /// The object kind, e.g. `PersistentVolumeClaim`.
    pub fn kind(self) -> &'static str {
        match self {
            Resource::Pods => "Pod",
            Resource::PersistentVolumeClaims => "PersistentVolumeClaim",
            Resource::Events => "Event",
            Resource::Services => "Service",
            Resource::Secrets => "Secret",
            Resource::Nodes => "Node",
            Resource::Namespaces => "Namespace",
            Resource::PersistentVolumes => "PersistentVolume",
            Resource::StorageClasses => "StorageClass",
            Resource::VolumeSnapshotClasses => "VolumeSnapshotClass",
            Resource::VolumeSnapshots => "VolumeSnapshot",
        }
    }

    /// The singular name used in discovery.
    pub fn singular(self) -> &'static str {
        match self {
            Resource::Pods => "pod",
            Resource::PersistentVolumeClaims => "persistentvolumeclaim",
            Resource::Events => "event",
            Resource::Services => "service",
            Resource::Secrets => "secret",
            Resource::Nodes => "node",
            Resource::Namespaces => "namespace",
            Resource::PersistentVolumes => "persistentvolume",
            Resource::StorageClasses => "storageclass",
            Resource::VolumeSnapshotClasses => "volumesnapshotclass",
            Resource::VolumeSnapshots => "volumesnapshot",
        }
    }

    /// Whether objects live in a namespace.
    pub fn namespaced(self) -> bool {
        !matches!(
            self,
            Resource::Nodes
                | Resource::Namespaces
                | Resource::PersistentVolumes
                | Resource::StorageClasses
                | Resource::VolumeSnapshotClasses
        )
    }

    /// Looks a core/v1 resource up by its URL plural.
    pub fn from_plural(s: &str) -> Option<Self> {
        Self::from_group_plural("", s)
    }

    /// Looks a resource of an API group up by its URL plural.
    pub fn from_group_plural(group: &str, s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|r| r.group() == group && r.plural() == s)
    }

    /// Index into per-resource tables.
    pub(crate) fn index(self) -> usize {
        self as usize
    }
}

impl fmt::Display for Resource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.plural())
    }
}

/// An API verb as RBAC names it; requests are counted per verb and resource.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Verb {
    /// GET of one object
    Get,
    /// GET of a collection
    List,
    /// GET of a collection with `watch=true`
    Watch,
    /// POST
    Create,
    /// PUT
    Update,
    /// PATCH
    Patch,
    /// DELETE of one object
    Delete,
    /// DELETE of a collection
    #[serde(rename = "deletecollection")]
    DeleteCollection,
}

impl Verb {
    /// The RBAC spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Verb::Get => "get",
            Verb::List => "list",
            Verb::Watch => "watch",
            Verb::Create => "create",
            Verb::Update => "update",
            Verb::Patch => "patch",
            Verb::Delete => "delete",
            Verb::DeleteCollection => "deletecollection",
        }
    }
}

impl fmt::Display for Verb {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
