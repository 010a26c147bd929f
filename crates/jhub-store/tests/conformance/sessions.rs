//! Browser sessions.

use crate::{assert_conflict, assert_not_found, at, user};
use jhub_core::model::BrowserSession;
use jhub_store::Store;

pub async fn lifecycle(s: Store) {
    let a = user(&s, "a").await;
    let created = s.create_session("sid-1", a.id, at(10)).await.unwrap();
    assert_eq!(created, BrowserSession { id: "sid-1".into(), user_id: a.id, created: at(10), last_seen: at(10) });
    assert_conflict(s.create_session("sid-1", a.id, at(11)).await);
    assert_not_found(s.create_session("sid-2", a.id + 1000, at(11)).await);
    s.create_session("sid-old", a.id, at(1)).await.unwrap();

    assert!(s.touch_session("sid-1", at(20)).await.unwrap());
    assert!(s.touch_session("sid-1", at(15)).await.unwrap(), "an older touch still finds the session");
    assert_eq!(s.session("sid-1").await.unwrap().unwrap().last_seen, at(20), "last_seen never moves back");
    assert!(!s.touch_session("missing", at(20)).await.unwrap());
    assert_eq!(s.session("missing").await.unwrap(), None);

    assert_eq!(s.purge_idle_sessions(at(5)).await.unwrap(), 1);
    assert_eq!(s.session("sid-old").await.unwrap(), None);

    // A session is ended only by (id, its user): the id is an unsigned cookie.
    assert!(!s.delete_session("sid-1", a.id + 1000).await.unwrap(), "another user's id does not end it");
    assert!(s.session("sid-1").await.unwrap().is_some());
    assert!(s.delete_session("sid-1", a.id).await.unwrap());
    assert!(!s.delete_session("sid-1", a.id).await.unwrap());
    assert_eq!(s.session("sid-1").await.unwrap(), None);
}
