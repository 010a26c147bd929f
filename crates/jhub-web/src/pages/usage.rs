//! `/hub/usage` for holders of `read:usage`: daily GPU-hours by profile and
//! the top users as server-rendered SVG (geometry computed here, drawn by
//! `usage.html`, no script), a table, and the CSV link. Plus the current
//! month of one user for the home page.

use super::{PageUser, base_context, error_page_for, redirect_to_login, render, sv};
use crate::api::query::QueryArgs;
use crate::api::usage::{month_start, range};
use crate::app::App;
use crate::pages::Browser;
use axum::extract::State;
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::response::Response;
use jhub_core::rbac::Scope;
use jhub_core::time::isoformat;
use jhub_core::usage::{GroupBy, UsageRow};
use minijinja::Value;
use serde::Serialize;

const CHART_W: f64 = 720.0;
const CHART_H: f64 = 220.0;
const PALETTE: [&str; 6] = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b"];

#[derive(Debug, Serialize)]
struct Bar {
    x: f64,
    y: f64,
    w: f64,
    h: f64,
    color: &'static str,
    title: String,
}

#[derive(Debug, Serialize)]
struct Legend {
    name: String,
    color: &'static str,
}

#[derive(Debug, Serialize)]
struct TopBar {
    y: f64,
    w: f64,
    label: String,
    value: String,
}

/// A table row with numbers as shown (two decimals).
#[derive(Debug, Serialize)]
pub struct TableRow {
    pub user: String,
    pub server_hours: String,
    pub gpu_hours: String,
    pub cpu_core_hours: String,
    pub gib_hours: String,
    pub sessions: u64,
}

impl From<&UsageRow> for TableRow {
    fn from(r: &UsageRow) -> Self {
        TableRow {
            user: r.key.clone(),
            server_hours: format!("{:.2}", r.server_hours),
            gpu_hours: format!("{:.2}", r.gpu_hours),
            cpu_core_hours: format!("{:.2}", r.cpu_core_hours),
            gib_hours: format!("{:.2}", r.gib_hours),
            sessions: r.sessions,
        }
    }
}

/// Whether the logged-in user may read usage reports.
pub fn may_read_usage(app: &App, user: &str) -> bool {
    let Some(id) = app.hub.read().user(user).map(|e| e.user.id) else { return false };
    let Some(scopes) = app.hub.user_scopes(id) else { return false };
    let state = app.hub.read();
    scopes.allows(Scope::ReadUsage, jhub_core::rbac::Resource::None, &*state)
}

fn hours(value: f64) -> String {
    format!("{value:.1}")
}

pub async fn usage_page(State(app): State<App>, browser: Browser, parts: Parts) -> Response {
    let Some(name) = browser.user().map(str::to_string) else {
        return browser.respond(redirect_to_login(&app, &parts.uri));
    };
    let Some(user) = PageUser::load(&app, &name) else {
        return browser.respond(redirect_to_login(&app, &parts.uri));
    };
    if !may_read_usage(&app, &name) {
        let message = "Usage reports need the read:usage permission.".to_string();
        return browser.respond(error_page_for(&app, Some(&user), StatusCode::FORBIDDEN, Some(message)));
    }
    let now = app.hub.now();
    let args = QueryArgs::from_uri(&parts.uri);
    let (start, end) = match range(&args, now) {
        Ok(range) => range,
        Err(message) => {
            return browser.respond(error_page_for(&app, Some(&user), StatusCode::BAD_REQUEST, Some(message)));
        }
    };

    // Daily GPU-hours, stacked by profile.
    let daily = app.hub.usage_daily_by_profile(start, end);
    let mut days: Vec<String> = daily.values().flatten().map(|r| r.key.clone()).collect();
    days.sort();
    days.dedup();
    let totals: Vec<f64> =
        days.iter().map(|d| daily.values().flatten().filter(|r| &r.key == d).map(|r| r.gpu_hours).sum()).collect();
    let max = totals.iter().copied().fold(0.0_f64, f64::max).max(1.0);
    let slot = if days.is_empty() { CHART_W } else { CHART_W / days.len() as f64 };
    let mut bars = Vec::new();
    let mut legend = Vec::new();
    let mut stacked = vec![0.0_f64; days.len()];
    for (i, (profile, rows)) in daily.iter().enumerate() {
        let color = PALETTE[i % PALETTE.len()];
        legend.push(Legend { name: if profile.is_empty() { "(no profile)".into() } else { profile.clone() }, color });
        for row in rows {
            let Some(d) = days.iter().position(|d| d == &row.key) else { continue };
            if row.gpu_hours <= 0.0 {
                continue;
            }
            let h = row.gpu_hours / max * CHART_H;
            stacked[d] += h;
            bars.push(Bar {
                x: d as f64 * slot + slot * 0.1,
                y: CHART_H - stacked[d],
                w: slot * 0.8,
                h,
                color,
                title: format!("{} {}: {} GPU-hours", row.key, profile, hours(row.gpu_hours)),
            });
        }
    }

    // Top users by GPU-hours (then server-hours).
    let mut by_user = app.hub.usage_report(start, end, GroupBy::User);
    by_user.sort_by(|a, b| b.gpu_hours.total_cmp(&a.gpu_hours).then(b.server_hours.total_cmp(&a.server_hours)));
    let top_max = by_user.first().map(|r| r.gpu_hours.max(r.server_hours)).unwrap_or(1.0).max(1.0);
    let top: Vec<TopBar> = by_user
        .iter()
        .take(10)
        .enumerate()
        .map(|(i, r)| TopBar {
            y: i as f64 * 24.0,
            w: (r.gpu_hours / top_max * 480.0).max(1.0),
            label: r.key.clone(),
            value: format!("{} GPU-h · {} h", hours(r.gpu_hours), hours(r.server_hours)),
        })
        .collect();
    let table: Vec<TableRow> = by_user.iter().map(TableRow::from).collect();

    let api = app.settings.layout.api_prefix();
    let (s, e) = (isoformat(start), isoformat(end));
    let csv_url = format!(
        "{api}/usage?{}",
        url::form_urlencoded::Serializer::new(String::new())
            .append_pair("start", &s)
            .append_pair("end", &e)
            .append_pair("group_by", "user")
            .append_pair("format", "csv")
            .finish()
    );
    let mut ctx = base_context(&app, Some(&user), Some(&browser.xsrf));
    ctx.insert("page".into(), Value::from("usage"));
    ctx.insert("start".into(), Value::from(s.get(..10).unwrap_or("").to_string()));
    ctx.insert("end".into(), Value::from(e.get(..10).unwrap_or("").to_string()));
    ctx.insert("chart_w".into(), Value::from(CHART_W));
    ctx.insert("chart_h".into(), Value::from(CHART_H));
    ctx.insert("max_label".into(), Value::from(hours(max)));
    ctx.insert("bars".into(), sv(&bars));
    ctx.insert("legend".into(), sv(&legend));
    ctx.insert("days".into(), sv(&days));
    ctx.insert("top".into(), sv(&top));
    ctx.insert("top_h".into(), Value::from(top.len() as f64 * 24.0 + 4.0));
    ctx.insert("rows".into(), sv(&table));
    ctx.insert("csv_url".into(), Value::from(csv_url));
    let response = render(&app, StatusCode::OK, "usage.html", ctx);
    browser.respond(response)
}

/// The user's own usage this month, for the home page.
pub fn month_of(app: &App, user: &str) -> Option<UsageRow> {
    let now = app.hub.now();
    app.hub.usage_of_user(user, month_start(now), now)
}
