//! `/hub/usage` (admins: SVG charts, table, CSV link; others: 403 and no
//! nav link) and the user's own month on `/hub/home`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod pages_support;

use jhub_hub::SpawnCommand;
use pages_support::*;
use serde_json::json;
use std::sync::Arc;
use std::time::Duration;

#[tokio::test]
async fn usage_page_and_home_month() {
    let spawner = Arc::new(jhub_hub::fakes::FakeSpawner::serving());
    *spawner.resources.lock().unwrap() = json!({"extra_resource_limits": {"nvidia.com/gpu": "2"}, "node": "n1"});
    let hub = start(Opts { spawner: Some(spawner), ..Opts::default() }).await;
    hub.hub.create_user("gina", false).await.unwrap();
    // The clock starts at the wall clock; move it to 01:00 UTC of the next day so
    // the three hours below fall on one day (and in one month) whatever the
    // time the test runs at.
    let now = hub.hub.now().as_second();
    hub.advance((86_400 - now.rem_euclid(86_400) + 3_600) as u64);
    let mut ticket = hub
        .hub
        .spawn(SpawnCommand {
            user: "gina".into(),
            server: String::new(),
            user_options: Some(json!({"profile": "a100 <x>"})),
            display_name: None,
        })
        .await
        .unwrap();
    assert!(ticket.wait(Duration::from_secs(10)).await.is_some());
    hub.advance(3 * 3600);

    let admin = hub.logged_in("admin").await;
    let page = admin.get(hub.at("/hub/usage")).send().await.unwrap();
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    assert!(html.contains("href=\"/hub/usage\" aria-current=\"page\">Usage</a>"), "nav link");
    assert!(html.contains("<svg id=\"daily-chart\""), "daily chart");
    assert!(html.contains("GPU-hours</title></rect>") && html.contains("a100 &lt;x&gt;: 6.0 GPU-hours"), "{html}");
    assert!(html.contains("<svg id=\"top-chart\"") && html.contains(">gina</text>"), "top users");
    assert!(html.contains("<th scope=\"row\" data-label=\"User\">gina</th><td data-label=\"Server-hours\">3.00</td><td data-label=\"GPU-hours\">6.00</td>"), "{html}");
    assert!(!html.contains("<script src=\"http"), "no CDN");
    // The CSV link downloads with the browser's cookie.
    let csv_url =
        html.split("id=\"usage-csv\" href=\"").nth(1).unwrap().split('"').next().unwrap().replace("&amp;", "&");
    let csv = admin.get(hub.at(&csv_url)).send().await.unwrap();
    assert_eq!(csv.status(), 200);
    assert_eq!(csv.headers()["content-type"], "text/csv; charset=utf-8");
    assert!(csv.text().await.unwrap().contains("\r\ngina,3,6,0,0,1\r\n"));

    // A plain user: no link, 403, and her own month on the home page.
    let gina = hub.logged_in("gina").await;
    let home = gina.get(hub.at("/hub/home")).send().await.unwrap().text().await.unwrap();
    assert!(!home.contains(">Usage</a>"));
    assert!(home.contains("<dt>GPU-hours</dt><dd>6.00</dd>"), "{home}");
    assert!(home.contains("<dt>Server-hours</dt><dd>3.00</dd>"));
    assert_eq!(gina.get(hub.at("/hub/usage")).send().await.unwrap().status(), 403);
    // Bad range: a clear 400 page.
    let bad = admin.get(hub.at("/hub/usage?start=2026-02-30x")).send().await.unwrap();
    assert_eq!(bad.status(), 400);
}
