//! The server event log.

use crate::{at, user};
use jhub_core::model::ServerEventKind;
use jhub_store::{EventCursor, NewServerEvent, Store};
use serde_json::json;

fn event(user_id: Option<i64>, user_name: &str, kind: ServerEventKind, secs: i64) -> NewServerEvent {
    NewServerEvent {
        user_id,
        user_name: user_name.to_string(),
        server_name: String::new(),
        kind,
        at: at(secs),
        detail: json!({"cpu": 2, "memory": "4G", "nvidia.com/gpu": 1, "secs": secs}),
    }
}

pub async fn append_page_purge(s: Store) {
    let a = user(&s, "a").await;
    // Appended out of time order, with ties on `at`.
    let plan = [
        (Some(a.id), "a", ServerEventKind::SpawnRequested, 10),
        (Some(a.id), "a", ServerEventKind::Started, 12),
        (None, "gone", ServerEventKind::Ready, 11),
        (Some(a.id), "a", ServerEventKind::Ready, 12),
        (Some(a.id), "a", ServerEventKind::Culled, 30),
        (None, "gone", ServerEventKind::Failed, 12),
        (Some(a.id), "a", ServerEventKind::Stopped, 31),
    ];
    let mut appended = Vec::new();
    for (uid, name, kind, secs) in plan {
        let e = s.append_event(&event(uid, name, kind, secs)).await.unwrap();
        assert_eq!((e.user_id, e.user_name.as_str(), e.kind, e.at), (uid, name, kind, at(secs)));
        assert_eq!(e.detail["nvidia.com/gpu"], json!(1));
        appended.push(e);
    }
    let mut expected = appended.clone();
    expected.sort_by_key(|e| (e.at, e.id));

    assert_eq!(s.events_between(at(0), at(100), 100, None).await.unwrap(), expected);
    // `to` is exclusive, `from` inclusive.
    let window = s.events_between(at(11), at(30), 100, None).await.unwrap();
    assert_eq!(window, expected[1..5].to_vec());

    // Paging two at a time walks the same order, ties included.
    let mut paged = Vec::new();
    let mut cursor: Option<EventCursor> = None;
    loop {
        let page = s.events_between(at(0), at(100), 2, cursor).await.unwrap();
        if page.is_empty() {
            break;
        }
        assert!(page.len() <= 2);
        cursor = page.last().map(EventCursor::from);
        paged.extend(page);
    }
    assert_eq!(paged, expected);

    let gone = s.events_for_user("gone", at(0), at(100), 100, None).await.unwrap();
    assert_eq!(gone.iter().map(|e| e.kind).collect::<Vec<_>>(), vec![ServerEventKind::Ready, ServerEventKind::Failed]);
    let first_a = s.events_for_user("a", at(0), at(100), 1, None).await.unwrap();
    assert_eq!(first_a[0].kind, ServerEventKind::SpawnRequested);
    let rest_a = s.events_for_user("a", at(0), at(100), 100, first_a.last().map(EventCursor::from)).await.unwrap();
    assert_eq!(rest_a.len(), 4);

    assert_eq!(s.purge_events_before(at(12)).await.unwrap(), 2);
    assert_eq!(s.events_between(at(0), at(100), 100, None).await.unwrap(), expected[2..].to_vec());
}
