//! Groups with membership, roles with holders.

use crate::{assert_conflict, assert_not_found, user};
use jhub_core::model::RoleHolder;
use jhub_store::{NewService, Store};
use serde_json::json;

pub async fn groups_lifecycle(s: Store) {
    let a = user(&s, "a").await;
    let b = user(&s, "b").await;
    let c = user(&s, "c").await;
    let ghost = c.id + 1000;

    let props = json!({"course": "stats101", "nested": {"k": [1, 2]}});
    let g = s.create_group("students", &props, &[a.id, b.id]).await.unwrap();
    assert_eq!((g.name.as_str(), &g.properties), ("students", &props));
    assert_conflict(s.create_group("students", &json!({}), &[]).await);
    // A missing member fails the creation as a whole.
    assert_not_found(s.create_group("broken", &json!({}), &[a.id, ghost]).await);
    let empty = s.create_group("empty", &json!({}), &[]).await.unwrap();

    s.add_group_members(g.id, &[b.id, c.id]).await.unwrap();
    assert_not_found(s.add_group_members(g.id, &[ghost]).await);
    assert_not_found(s.add_group_members(empty.id + 1000, &[a.id]).await);
    assert_eq!(s.remove_group_members(g.id, &[a.id, ghost]).await.unwrap(), 1);
    assert_eq!(s.remove_group_members(g.id, &[a.id]).await.unwrap(), 0);

    let new_props = json!({"course": "stats102"});
    s.set_group_properties(g.id, &new_props).await.unwrap();
    assert_not_found(s.set_group_properties(empty.id + 1000, &new_props).await);

    let snap = s.load_snapshot().await.unwrap();
    assert_eq!(snap.groups.iter().map(|x| x.name.as_str()).collect::<Vec<_>>(), vec!["students", "empty"]);
    assert_eq!(snap.groups[0].properties, new_props);
    let mut members = snap.user_groups.clone();
    members.sort();
    assert_eq!(members, vec![(b.id, g.id), (c.id, g.id)]);

    assert!(s.delete_group(g.id).await.unwrap());
    assert!(!s.delete_group(g.id).await.unwrap());
    let snap = s.load_snapshot().await.unwrap();
    assert!(snap.user_groups.is_empty());
    assert_eq!(snap.groups, vec![empty]);
    assert_eq!(snap.users.len(), 3, "deleting a group keeps its members");
}

pub async fn roles_lifecycle(s: Store) {
    let u = user(&s, "u").await;
    let v = user(&s, "v").await;
    let g = s.create_group("g", &json!({}), &[]).await.unwrap();
    let svc = s
        .upsert_service(&NewService {
            name: "svc".into(),
            admin: false,
            url: None,
            display: true,
            info: json!({}),
            oauth_client_id: None,
            oauth_no_confirm: false,
            from_config: true,
        })
        .await
        .unwrap();

    let scopes = vec!["read:users".to_string(), "list:servers".to_string()];
    let role = s.upsert_role("viewer", Some("reads"), &scopes).await.unwrap();
    assert_eq!((role.name.as_str(), role.description.as_deref(), &role.scopes), ("viewer", Some("reads"), &scopes));
    let updated = s.upsert_role("viewer", None, &["admin:users".to_string()]).await.unwrap();
    assert_eq!(updated.id, role.id, "upsert keeps the id");
    assert_eq!((updated.description, updated.scopes), (None, vec!["admin:users".to_string()]));
    let other = s.upsert_role("other", Some(""), &[]).await.unwrap();

    for holder in [RoleHolder::User(u.id), RoleHolder::Group(g.id), RoleHolder::Service(svc.id), RoleHolder::User(u.id)]
    {
        s.grant_role(role.id, holder).await.unwrap();
    }
    s.grant_role(other.id, RoleHolder::User(v.id)).await.unwrap();
    assert_not_found(s.grant_role(role.id, RoleHolder::User(v.id + 1000)).await);
    assert_not_found(s.grant_role(other.id + 1000, RoleHolder::User(u.id)).await);

    let mut holders = s.load_snapshot().await.unwrap().role_holders;
    holders.sort();
    let mut expected = vec![
        (role.id, RoleHolder::User(u.id)),
        (role.id, RoleHolder::Group(g.id)),
        (role.id, RoleHolder::Service(svc.id)),
        (other.id, RoleHolder::User(v.id)),
    ];
    expected.sort();
    assert_eq!(holders, expected);

    assert!(s.revoke_role(role.id, RoleHolder::Group(g.id)).await.unwrap());
    assert!(!s.revoke_role(role.id, RoleHolder::Group(g.id)).await.unwrap());

    s.set_role_holders(role.id, &[RoleHolder::User(v.id), RoleHolder::Group(g.id)]).await.unwrap();
    assert_not_found(s.set_role_holders(other.id + 1000, &[]).await);
    // A missing holder leaves the previous holder list untouched.
    assert_not_found(s.set_role_holders(role.id, &[RoleHolder::Service(svc.id + 1000)]).await);
    let mut holders = s.load_snapshot().await.unwrap().role_holders;
    holders.sort();
    let mut expected =
        vec![(role.id, RoleHolder::User(v.id)), (role.id, RoleHolder::Group(g.id)), (other.id, RoleHolder::User(v.id))];
    expected.sort();
    assert_eq!(holders, expected);

    // Deleting a holder removes its grants; deleting the role removes the rest.
    assert!(s.delete_group(g.id).await.unwrap());
    assert!(s.delete_role(other.id).await.unwrap());
    assert!(!s.delete_role(other.id).await.unwrap());
    let snap = s.load_snapshot().await.unwrap();
    assert_eq!(snap.role_holders, vec![(role.id, RoleHolder::User(v.id))]);
    assert_eq!(snap.roles.iter().map(|r| r.name.as_str()).collect::<Vec<_>>(), vec!["viewer"]);
}
