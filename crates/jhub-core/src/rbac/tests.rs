//! Cross-module RBAC tests: effective scopes of users and tokens, the
//! observed JupyterHub 6.1.1 scope lists, token-creation refusals, the
//! route decision table, model/listing visibility, OAuth, and a property
//! test that nothing panics on arbitrary input.

use super::*;

/// alice and carol are in `staff`; bob is in no group.
fn staff(user: &str, group: &str) -> bool {
    group == "staff" && matches!(user, "alice" | "carol")
}

fn rbac_with_roles(roles: &[(&str, &[&str])]) -> Rbac {
    let config = RbacConfig {
        roles: roles
            .iter()
            .map(|(name, scopes)| RoleSpec {
                name: name.to_string(),
                description: None,
                scopes: Some(scopes.iter().map(|s| s.to_string()).collect()),
            })
            .collect(),
        ..RbacConfig::default()
    };
    Rbac::new(&config).unwrap().0
}

/// Expanded scopes held directly by user alice (as if from one role).
fn alice_holding(rbac: &Rbac, scopes: &[&str]) -> ExpandedScopes {
    rbac.expand(&rbac.parse(scopes).unwrap(), &ExpandContext::owner(Owner::User("alice")))
}

const ALICE: Owner<'static> = Owner::User("alice");
const ALICE_DEFAULT_SERVER: Client<'static> = Client::Server { user: "alice", server: "" };

#[test]
fn user_scopes_include_roles_groups_and_admin() {
    let rbac = rbac_with_roles(&[("graders", &["read:users!group=staff", "list:users!group=staff"])]);
    let plain = rbac.user_scopes("alice", false, []);
    assert_eq!(plain, alice_holding(&rbac, &["self"]));
    let grader = rbac.user_scopes("alice", false, ["graders"]);
    assert!(grader.allows(Scope::ReadUsers, Resource::User("carol"), &staff));
    assert!(!plain.allows(Scope::ReadUsers, Resource::User("carol"), &staff));
    let admin = rbac.user_scopes("alice", true, []);
    assert!(admin.allows(Scope::Shutdown, Resource::None, &NoGroups));
    assert!(admin.allows(Scope::AdminServerState, Resource::Server { user: "bob", server: "" }, &NoGroups));
    // Services get no `user` role.
    assert!(rbac.service_scopes("svc", false, []).is_empty());
    let admin_raw = rbac.roles().raw_scopes(["admin"]).unwrap();
    let as_service = rbac.expand(&admin_raw, &ExpandContext::owner(Owner::Service("svc")));
    assert_eq!(rbac.service_scopes("svc", true, []), as_service);
    assert_eq!(rbac.service_raw_scopes(true, ["nope"]), admin_raw);
}

#[test]
fn extra_user_scopes_reach_every_user() {
    let config = RbacConfig { extra_user_scopes: vec!["read:hub".into(), "list:users".into()], ..Default::default() };
    let (rbac, warnings) = Rbac::new(&config).unwrap();
    assert!(warnings.is_empty());
    let bob = rbac.user_scopes("bob", false, []);
    assert!(bob.allows(Scope::ReadHub, Resource::None, &NoGroups));
    assert_eq!(bob.user_listing(), Listing::All);
    assert!(bob.allows(Scope::Servers, Resource::Server { user: "bob", server: "" }, &NoGroups));
}

#[test]
fn inherit_token_is_exactly_the_owner() {
    let rbac = Rbac::builtin();
    let owner = rbac.user_scopes("alice", true, []);
    let token = rbac.parse(["inherit"]).unwrap();
    assert_eq!(rbac.token_scopes(&token, ALICE, Client::Hub, &owner, &NoGroups), owner);
    // `inherit` wins even next to narrower scopes.
    let token = rbac.parse(["inherit", "read:hub"]).unwrap();
    assert_eq!(rbac.token_scopes(&token, ALICE, Client::Hub, &owner, &NoGroups), owner);
}

#[test]
fn token_loses_what_the_owner_loses() {
    let rbac = rbac_with_roles(&[("graders", &["read:users!group=staff"])]);
    let token = rbac.parse(["read:users!group=staff", "admin:users"]).unwrap();

    let before = rbac.user_scopes("alice", true, ["graders"]);
    let got = rbac.token_scopes(&token, ALICE, Client::Hub, &before, &staff);
    assert!(got.allows(Scope::ReadUsers, Resource::User("carol"), &staff));
    assert!(got.allows(Scope::DeleteUsers, Resource::User("bob"), &staff));

    // Admin flag cleared and the role taken away: the token shrinks at once.
    let after = rbac.user_scopes("alice", false, []);
    let got = rbac.token_scopes(&token, ALICE, Client::Hub, &after, &staff);
    assert!(!got.allows(Scope::ReadUsers, Resource::User("carol"), &staff));
    assert!(got.grant(Scope::DeleteUsers).is_none());
    assert!(got.grant(Scope::AdminUsers).is_none());
    // What alice still holds for herself survives (group-aware: alice ∈ staff).
    assert_eq!(
        got.to_strings(),
        [
            "read:users!user=alice",
            "read:users:activity!user=alice",
            "read:users:groups!user=alice",
            "read:users:name!user=alice",
            "users:activity!user=alice",
        ]
    );
}

/// compat §2.2: `GET /hub/api/user` with a user's OAuth token for her own
/// default server, after the real authorize → token flow.
#[test]
fn observed_user_scopes_of_a_server_oauth_token() {
    let rbac = Rbac::builtin();
    let client_allowed = rbac.parse(["access:servers!server=alice/"]).unwrap();
    let requested = rbac.oauth_requested_scopes([], &client_allowed, ALICE_DEFAULT_SERVER, "alice", &NoGroups).unwrap();
    let user_raw = rbac.user_raw_scopes(false, []);
    let grant = rbac.oauth_grant(&requested, &user_raw, ALICE_DEFAULT_SERVER, "alice", &NoGroups);
    assert!(grant.refused.is_empty());
    // compat §5.3: the `scope` of the token response.
    assert_eq!(
        grant.granted.to_strings().join(" "),
        "access:servers!server=alice/ read:users:groups!user read:users:name!user"
    );

    let owner = rbac.user_scopes("alice", false, []);
    let token = rbac.token_scopes(&grant.granted, ALICE, ALICE_DEFAULT_SERVER, &owner, &NoGroups);
    assert_eq!(
        token.to_strings(),
        ["access:servers!server=alice/", "read:users:groups!user=alice", "read:users:name!user=alice"]
    );
    // The single-user server intersects with its JUPYTERHUB_OAUTH_ACCESS_SCOPES.
    assert!(token.allows(Scope::AccessServers, Resource::Server { user: "alice", server: "" }, &NoGroups));
    // GET /user shows kind, name, admin, user_info, groups — not servers or roles.
    let fields: Vec<_> = token.with_identify(ALICE).user_fields("alice", &NoGroups).keys().collect();
    assert_eq!(fields, ["kind", "name", "admin", "user_info", "groups"]);
    assert!(!token.server_visible("alice", "", &NoGroups));
}

/// compat §4.5: the stored scopes of `JUPYTERHUB_API_TOKEN` and what they allow.
#[test]
fn server_token_scopes() {
    let rbac = Rbac::builtin();
    let user_raw = rbac.user_raw_scopes(false, []);
    let resolved = rbac.server_token_scopes(None, "alice", "", &user_raw, &NoGroups);
    assert_eq!(resolved.granted.to_strings(), ["access:servers!server=alice/", "users:activity!user"]);
    assert!(resolved.refused.is_empty());

    let owner = rbac.user_scopes("alice", false, []);
    let token = rbac.token_scopes(&resolved.granted, ALICE, Client::Hub, &owner, &NoGroups);
    assert_eq!(
        token.to_strings(),
        [
            "access:servers!server=alice/",
            "read:users:activity!user=alice",
            "read:users:groups!user=alice",
            "read:users:name!user=alice",
            "users:activity!user=alice",
        ]
    );

    // Configured scopes the user lacks are refused; activity is forced in.
    let configured = rbac.parse(["read:hub", "access:servers!server", "read:users:name!user"]).unwrap();
    let resolved = rbac.server_token_scopes(Some(&configured), "bob", "gpu", &user_raw, &NoGroups);
    assert_eq!(
        resolved.granted.to_strings(),
        ["access:servers!server=bob/gpu", "read:users:name!user", "users:activity!user"]
    );
    assert_eq!(resolved.refused.to_strings(), ["read:hub"]);
    // An admin keeps them.
    let admin_raw = rbac.user_raw_scopes(true, []);
    let resolved = rbac.server_token_scopes(Some(&configured), "bob", "gpu", &admin_raw, &NoGroups);
    assert!(resolved.refused.is_empty());
}

#[test]
fn partially_held_requests_keep_the_held_part() {
    let rbac = Rbac::builtin();
    let have = rbac.parse(["self"]).unwrap();
    let requested = rbac.parse(["read:users", "proxy"]).unwrap();
    let resolved = rbac.resolve_requested(&requested, &have, "alice", Client::Hub, &NoGroups);
    assert_eq!(
        resolved.granted.to_strings(),
        [
            "read:users!user=alice",
            "read:users:activity!user=alice",
            "read:users:groups!user=alice",
            "read:users:name!user=alice",
        ]
    );
    assert_eq!(resolved.refused.to_strings(), ["proxy", "read:users"]);
}

#[test]
fn token_creation_refusals() {
    let rbac = rbac_with_roles(&[("graders", &["read:users!group=staff"])]);
    let owner = rbac.user_scopes("alice", false, []);
    let check =
        |scopes: &[&str]| rbac.check_token_request(&rbac.parse(scopes).unwrap(), ALICE, Client::Hub, &owner, &staff);
    assert_eq!(
        check(&["read:users", "tokens!user=alice"]).unwrap_err().to_string(),
        "Not assigning requested scopes read:users,read:users:activity,read:users:groups,read:users:name \
         not held by User alice"
    );
    assert!(check(&["inherit"]).is_ok());
    assert!(check(&[]).is_ok());
    assert!(check(&["tokens!user", "read:users!user=alice", "access:servers!server=alice/x"]).is_ok());
    assert!(check(&["access:servers!server=bob/"]).is_err());
    assert!(check(&["read:users!group=staff"]).is_err());
    let grader = rbac.user_scopes("alice", false, ["graders"]);
    let ok = rbac.check_token_request(
        &rbac.parse(["read:users!user=carol", "read:users!group=staff"]).unwrap(),
        ALICE,
        Client::Hub,
        &grader,
        &staff,
    );
    assert!(ok.is_ok());
    let svc = rbac.service_scopes("svc", false, []);
    let err = rbac
        .check_token_request(&rbac.parse(["read:hub"]).unwrap(), Owner::Service("svc"), Client::Hub, &svc, &NoGroups)
        .unwrap_err();
    assert_eq!(err.to_string(), "Not assigning requested scopes read:hub not held by Service svc");
}

/// Route scopes from compat §2 (what `jhub-web` will declare).
const GET_USER: &[Scope] = &[
    Scope::ReadUsers,
    Scope::ReadUsersName,
    Scope::ReadServers,
    Scope::ReadUsersGroups,
    Scope::ReadUsersActivity,
    Scope::ReadRolesUsers,
];
const LIST_USERS: &[Scope] = &[Scope::ListUsers];
const POST_USERS: &[Scope] = &[Scope::AdminUsers];
const DELETE_USER: &[Scope] = &[Scope::DeleteUsers];
const POST_ACTIVITY: &[Scope] = &[Scope::UsersActivity];
const START_SERVER: &[Scope] = &[Scope::StartServers];
const GET_SERVER: &[Scope] = &[Scope::ReadServers];
const GET_GROUP: &[Scope] = &[Scope::ReadGroups, Scope::ReadGroupsName, Scope::ReadRolesGroups];
const LIST_GROUPS: &[Scope] = &[Scope::ListGroups];
const LIST_SERVICES: &[Scope] = &[Scope::ListServices];
const INFO: &[Scope] = &[Scope::ReadHub];
const SHUTDOWN: &[Scope] = &[Scope::Shutdown];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Want {
    Allowed(Scope),
    Forbidden,
    NotFound,
}

#[test]
fn route_decisions_mirror_jupyterhub() {
    use Resource as R;
    use Want::*;
    let rbac = Rbac::builtin();
    let server_token = {
        let granted = rbac.server_token_scopes(None, "alice", "", &rbac.user_raw_scopes(false, []), &NoGroups).granted;
        rbac.token_scopes(&granted, ALICE, Client::Hub, &rbac.user_scopes("alice", false, []), &NoGroups)
    };
    let user = rbac.user_scopes("alice", false, []);
    let admin = rbac.user_scopes("root", true, []);
    let held = |scopes: &[&str]| alice_holding(&rbac, scopes);
    let cases: Vec<(&str, ExpandedScopes, &[Scope], Resource<'_>, Want)> = vec![
        ("user reads herself", user.clone(), GET_USER, R::User("alice"), Allowed(Scope::ReadUsers)),
        ("user reads bob", user.clone(), GET_USER, R::User("bob"), NotFound),
        ("user lists users", user.clone(), LIST_USERS, R::Listing, Forbidden),
        ("user reads hub info", user.clone(), INFO, R::None, Forbidden),
        (
            "user starts own server",
            user.clone(),
            START_SERVER,
            R::Server { user: "alice", server: "x" },
            Allowed(Scope::StartServers),
        ),
        ("user starts bob's server", user.clone(), START_SERVER, R::Server { user: "bob", server: "" }, NotFound),
        ("no scopes at all", ExpandedScopes::new(), GET_USER, R::User("alice"), Forbidden),
        ("no scopes, no resource", ExpandedScopes::new(), INFO, R::None, Forbidden),
        ("name of bob", held(&["read:users:name!user=bob"]), GET_USER, R::User("bob"), Allowed(Scope::ReadUsersName)),
        ("name of bob, asks carol", held(&["read:users:name!user=bob"]), GET_USER, R::User("carol"), NotFound),
        ("name of bob, deletes bob", held(&["read:users:name!user=bob"]), DELETE_USER, R::User("bob"), Forbidden),
        (
            "server token activity alice",
            server_token.clone(),
            POST_ACTIVITY,
            R::User("alice"),
            Allowed(Scope::UsersActivity),
        ),
        ("server token activity bob", server_token.clone(), POST_ACTIVITY, R::User("bob"), NotFound),
        ("server token reads bob", server_token.clone(), GET_USER, R::User("bob"), NotFound),
        ("server token reads alice", server_token.clone(), GET_USER, R::User("alice"), Allowed(Scope::ReadUsersName)),
        (
            "server token starts server",
            server_token.clone(),
            START_SERVER,
            R::Server { user: "alice", server: "" },
            Forbidden,
        ),
        ("admin deletes bob", admin.clone(), DELETE_USER, R::User("bob"), Allowed(Scope::DeleteUsers)),
        ("admin creates users", admin.clone(), POST_USERS, R::None, Allowed(Scope::AdminUsers)),
        ("admin shuts down", admin.clone(), SHUTDOWN, R::None, Allowed(Scope::Shutdown)),
        ("filtered admin creates users", held(&["admin:users!user=bob"]), POST_USERS, R::None, Forbidden),
        (
            "filtered admin edits bob",
            held(&["admin:users!user=bob"]),
            POST_USERS,
            R::User("bob"),
            Allowed(Scope::AdminUsers),
        ),
        ("filtered admin edits carol", held(&["admin:users!user=bob"]), POST_USERS, R::User("carol"), NotFound),
        ("filtered shutdown", held(&["shutdown!user=alice"]), SHUTDOWN, R::None, Forbidden),
        (
            "group servers, member",
            held(&["servers!group=staff"]),
            START_SERVER,
            R::Server { user: "carol", server: "gpu" },
            Allowed(Scope::StartServers),
        ),
        (
            "group servers, outsider",
            held(&["servers!group=staff"]),
            START_SERVER,
            R::Server { user: "bob", server: "" },
            NotFound,
        ),
        (
            "5.x `servers` token starts",
            held(&["servers"]),
            START_SERVER,
            R::Server { user: "bob", server: "" },
            Allowed(Scope::StartServers),
        ),
        (
            "one named server",
            held(&["read:servers!server=alice/gpu"]),
            GET_SERVER,
            R::Server { user: "alice", server: "gpu" },
            Allowed(Scope::ReadServers),
        ),
        (
            "one named server, default asked",
            held(&["read:servers!server=alice/gpu"]),
            GET_SERVER,
            R::Server { user: "alice", server: "" },
            NotFound,
        ),
        (
            "group name",
            held(&["read:groups:name!group=staff"]),
            GET_GROUP,
            R::Group("staff"),
            Allowed(Scope::ReadGroupsName),
        ),
        ("other group name", held(&["read:groups:name!group=staff"]), GET_GROUP, R::Group("other"), NotFound),
        ("group name, list groups", held(&["read:groups:name!group=staff"]), LIST_GROUPS, R::Listing, Forbidden),
        ("filtered user listing", held(&["list:users!user=alice"]), LIST_USERS, R::Listing, Allowed(Scope::ListUsers)),
        (
            "filtered service listing",
            held(&["list:services!service=grader"]),
            LIST_SERVICES,
            R::Listing,
            Allowed(Scope::ListServices),
        ),
    ];
    for (what, scopes, required, resource, want) in cases {
        let got = scopes.authorize(required, resource, &staff);
        let got_want = match got {
            Access::Allowed { scope, .. } => Allowed(scope),
            Access::Forbidden { required: r } => {
                assert_eq!(r, required);
                Forbidden
            }
            Access::NotFound => NotFound,
        };
        assert_eq!(got_want, want, "{what}");
    }
}

#[test]
fn denial_messages() {
    let none = ExpandedScopes::new();
    assert_eq!(
        none.authorize(GET_GROUP, Resource::Group("g"), &NoGroups).denial_message().unwrap(),
        "Action is not authorized with current scopes; requires any of [read:groups, read:groups:name, read:roles:groups]"
    );
    let rbac = Rbac::builtin();
    let user = rbac.user_scopes("alice", false, []);
    assert_eq!(user.authorize(GET_USER, Resource::User("bob"), &NoGroups).denial_message().unwrap(), NOT_FOUND_MESSAGE);
    assert_eq!(user.authorize(GET_USER, Resource::User("alice"), &NoGroups).denial_message(), None);
}

#[test]
fn listings() {
    let rbac = Rbac::builtin();
    let held = |scopes: &[&str]| alice_holding(&rbac, scopes);

    let by_user_and_group = held(&["list:users!user=bob", "list:users!group=staff"]);
    let listing = by_user_and_group.user_listing();
    assert!(matches!(listing, Listing::Only(_)));
    for (name, expected) in [("alice", true), ("bob", true), ("carol", true), ("dave", false)] {
        assert_eq!(listing.includes_user(name, &staff), expected, "{name}");
    }
    assert_eq!(held(&["list:users!server=alice/"]).user_listing(), Listing::Refused);
    assert_eq!(held(&["list:users"]).user_listing(), Listing::All);
    assert_eq!(held(&[]).user_listing(), Listing::Nothing);
    assert!(!Listing::Refused.includes_user("alice", &staff));

    assert_eq!(held(&["list:groups!user=alice"]).group_listing(), Listing::Refused);
    let groups = held(&["groups!group=staff"]);
    assert!(groups.group_listing().includes_group("staff"));
    assert!(!groups.group_listing().includes_group("other"));

    let services = held(&["list:services!service=grader", "list:services!user=alice"]);
    let listing = services.service_listing();
    assert!(listing.includes_service("grader"));
    assert!(!listing.includes_service("alice"));
}

#[test]
fn model_fields_follow_the_access_map() {
    let rbac = Rbac::builtin();
    let held = |scopes: &[&str]| alice_holding(&rbac, scopes);
    let keys = |scopes: &ExpandedScopes, user: &str| scopes.user_fields(user, &staff).keys().collect::<Vec<_>>();

    let admin = rbac.user_scopes("root", true, []);
    assert_eq!(
        keys(&admin, "bob"),
        [
            "kind",
            "name",
            "admin",
            "user_info",
            "roles",
            "groups",
            "server",
            "pending",
            "created",
            "last_activity",
            "servers",
            "auth_state"
        ]
    );
    let user = rbac.user_scopes("alice", false, []);
    assert_eq!(
        keys(&user, "alice"),
        [
            "kind",
            "name",
            "admin",
            "user_info",
            "roles",
            "groups",
            "server",
            "pending",
            "created",
            "last_activity",
            "servers"
        ]
    );
    assert!(user.user_fields("bob", &staff).is_empty());
    assert_eq!(keys(&held(&["read:users:name!user=bob"]), "bob"), ["kind", "name", "admin", "user_info"]);
    assert_eq!(keys(&held(&["read:users:activity!group=staff"]), "carol"), ["kind", "name", "last_activity"]);
    assert_eq!(keys(&held(&["read:roles:users"]), "bob"), ["kind", "name", "admin", "roles"]);
    assert_eq!(keys(&held(&["admin:auth_state!user=bob"]), "bob"), ["kind", "name", "auth_state"]);
    // read:servers on one server: not the user-level `servers` key, but that server.
    let one = held(&["read:servers!server=bob/gpu"]);
    assert!(one.user_fields("bob", &staff).is_empty());
    assert!(one.server_visible("bob", "gpu", &staff));
    assert!(!one.server_visible("bob", "", &staff));
    assert!(admin.server_state_visible("bob", "", &staff));
    assert!(!user.server_state_visible("alice", "", &staff));

    let groups = |scopes: &[&str], g: &str| held(scopes).group_fields(g).keys().collect::<Vec<_>>();
    assert_eq!(groups(&["read:groups"], "staff"), ["kind", "name", "users", "properties"]);
    assert_eq!(groups(&["read:groups:name!group=staff"], "staff"), ["kind", "name"]);
    assert_eq!(groups(&["read:roles:groups"], "staff"), ["kind", "name", "roles"]);
    assert!(groups(&["read:groups!group=staff"], "other").is_empty());

    let services = |scopes: &[&str], s: &str| held(scopes).service_fields(s).keys().collect::<Vec<_>>();
    assert_eq!(
        services(&["read:services"], "grader"),
        ["kind", "name", "admin", "url", "prefix", "command", "pid", "info", "display"]
    );
    assert_eq!(services(&["read:services:name!service=grader"], "grader"), ["kind", "name", "admin"]);
    assert_eq!(services(&["read:roles:services"], "grader"), ["kind", "name", "roles", "admin"]);
    // A service's own GET /user: identify scopes show its name.
    let svc = rbac.service_scopes("grader", false, []).with_identify(Owner::Service("grader"));
    assert_eq!(svc.service_fields("grader").keys().collect::<Vec<_>>(), ["kind", "name", "admin"]);
}

#[test]
fn oauth_scope_requests() {
    let rbac = rbac_with_roles(&[("reader", &["read:users:name"])]);
    let client = Client::Server { user: "alice", server: "" };
    let allowed = rbac.parse(["access:servers!server=alice/", "read:users:name"]).unwrap();
    let request =
        |scopes: &[&str]| rbac.oauth_requested_scopes(scopes.iter().copied(), &allowed, client, "bob", &NoGroups);

    // Within the allowed set (plus identify and access): fine.
    let ok = request(&["read:users:name!user=bob", "identify"]).unwrap();
    assert_eq!(
        ok.to_strings(),
        ["access:servers!server=alice/", "read:users:groups!user", "read:users:name!user", "read:users:name!user=bob"]
    );
    // A role name stands for its scopes.
    assert!(request(&["reader"]).unwrap().contains(&RawScope::plain(Scope::ReadUsersName)));
    assert_eq!(request(&["nope"]).unwrap_err(), OAuthScopeError::Unknown(vec!["nope".into()]));
    assert_eq!(request(&["read:hub"]).unwrap_err(), OAuthScopeError::NotAllowed(vec!["read:hub".into()]));
    assert!(matches!(request(&["inherit"]), Err(OAuthScopeError::NotAllowed(_))));

    // bob holds no read:users:name for everyone; the grant keeps what he has.
    let requested = request(&["read:users:name"]).unwrap();
    let grant = rbac.oauth_grant(&requested, &rbac.user_raw_scopes(false, []), client, "bob", &NoGroups);
    assert_eq!(grant.refused.to_strings(), ["read:users:name"]);
    assert!(grant.granted.contains(&rbac.registry().parse("read:users:name!user=bob").unwrap()));

    // A client allowed `inherit` hands out `inherit`.
    let inherit = rbac.parse(["inherit"]).unwrap();
    let defaults = oauth_default_scopes(&inherit, client);
    assert_eq!(defaults.to_strings(), ["inherit"]);
    let requested = rbac.oauth_requested_scopes([], &inherit, client, "bob", &NoGroups).unwrap();
    let grant = rbac.oauth_grant(&requested, &rbac.user_raw_scopes(false, []), client, "bob", &NoGroups);
    assert!(grant.granted.has_inherit());
}

#[test]
fn oauth_consent_page() {
    let rbac = Rbac::builtin();
    let client = Client::Service("grader");
    let required = oauth_required_scopes(client);
    let consent = rbac.oauth_consent(&required, client, "alice");
    assert_eq!(consent.scopes, required);
    assert_eq!(consent.descriptions.len(), 1);
    assert_eq!(consent.descriptions[0].scope, None);
    assert_eq!(consent.descriptions[0].description, Scope::NoScope.description());

    let mut granted = required.clone();
    granted.extend_from(&rbac.parse(["read:users!user=alice", "read:groups!group=staff", "servers!user"]).unwrap());
    let consent = rbac.oauth_consent(&granted, client, "alice");
    let lines: Vec<(Option<&str>, &str)> =
        consent.descriptions.iter().map(|d| (d.scope.as_deref(), d.filter.as_str())).collect();
    assert_eq!(
        lines,
        [
            (Some("read:users"), "only you"),
            (Some("servers"), "only you"),
            (Some("read:groups"), "users in group staff")
        ]
    );
    assert_eq!(consent.descriptions[0].description, Scope::ReadUsers.description());

    granted.insert(RawScope::MetaInherit);
    let consent = rbac.oauth_consent(&granted, client, "alice");
    assert_eq!(consent.scopes.to_strings(), ["inherit"]);
    assert_eq!(consent.descriptions[0].description, INHERIT_DESCRIPTION);

    assert!(!oauth_needs_consent(true, false, &RawScopes::new(), &granted));
    assert!(!oauth_needs_consent(false, true, &RawScopes::new(), &granted));
    assert!(!oauth_needs_consent(false, false, &granted, &required));
    assert!(oauth_needs_consent(false, false, &required, &granted));
    assert!(oauth_needs_consent(false, false, &RawScopes::new(), &RawScopes::new()));
}

/// The authorize access check (§5.2 step 3) uses the same primitives.
#[test]
fn oauth_access_to_a_server() {
    let rbac = Rbac::builtin();
    let target = Resource::Server { user: "alice", server: "" };
    assert!(rbac.user_scopes("alice", false, []).allows(Scope::AccessServers, target, &NoGroups));
    assert!(!rbac.user_scopes("bob", false, []).allows(Scope::AccessServers, target, &NoGroups));
    assert!(rbac.user_scopes("root", true, []).allows(Scope::AccessServers, target, &NoGroups));
}

#[test]
fn custom_scopes_from_config() {
    let config = RbacConfig {
        custom_scopes: vec![
            CustomScopeDef {
                name: "custom:grades:read".into(),
                description: Some("Read grades".into()),
                subscopes: vec![],
            },
            CustomScopeDef {
                name: "custom:grades:write".into(),
                description: Some("Write grades".into()),
                subscopes: vec!["custom:grades:read".into()],
            },
        ],
        roles: vec![RoleSpec {
            name: "teacher".into(),
            description: None,
            scopes: Some(vec!["custom:grades:write!group=staff".into()]),
        }],
        ..Default::default()
    };
    let (rbac, _) = Rbac::new(&config).unwrap();
    let carol = rbac.user_scopes("carol", false, ["teacher"]);
    assert!(carol.allows_custom("custom:grades:read", Resource::User("alice"), &staff));
    assert!(!carol.allows_custom("custom:grades:read", Resource::User("bob"), &staff));
    let described =
        rbac.describe(&rbac.parse(["custom:grades:write!group=staff"]).unwrap(), Some(Owner::User("carol")));
    assert_eq!(described[0].description, "Write grades");
    assert_eq!(described[0].filter, "users in group staff");
    // A token may carry a custom scope the owner holds, and not one she lacks.
    let token = rbac.parse(["custom:grades:read!user=alice"]).unwrap();
    assert!(rbac.check_token_request(&token, Owner::User("carol"), Client::Hub, &carol, &staff).is_ok());
    let bob = rbac.user_scopes("bob", false, []);
    assert!(rbac.check_token_request(&token, Owner::User("bob"), Client::Hub, &bob, &staff).is_err());

    let bad = RbacConfig {
        roles: vec![RoleSpec { name: "x-role".into(), description: None, scopes: Some(vec!["custom:nope".into()]) }],
        ..Default::default()
    };
    assert!(matches!(Rbac::new(&bad), Err(RbacError::Roles(RoleError::Scope { .. }))));
}

#[test]
fn shares_extend_the_recipient() {
    let rbac = Rbac::builtin();
    assert_eq!(share_scopes_for_server(None, "alice", "x").unwrap().to_strings(), ["access:servers!server=alice/x"]);
    let requested = rbac.parse(["access:servers", "read:servers!server=alice/x"]).unwrap();
    assert_eq!(
        share_scopes_for_server(Some(&requested), "alice", "x").unwrap().to_strings(),
        ["access:servers!server=alice/x", "read:servers!server=alice/x"]
    );
    let err = share_scopes_for_server(Some(&rbac.parse(["access:servers!user=alice"]).unwrap()), "alice", "x");
    assert_eq!(err.unwrap_err().to_string(), "access:servers!user=alice not allowed on sharing, only !server=alice/x");
    assert!(share_scopes_for_server(Some(&rbac.parse(["self"]).unwrap()), "alice", "x").is_err());

    // bob gets alice/x through a share (to him, or to a group he is in).
    let share = share_scopes_for_server(None, "alice", "x").unwrap();
    let target = Resource::Server { user: "alice", server: "x" };
    for recipient in [Some("bob"), None] {
        let mut bob = rbac.user_scopes("bob", false, []);
        assert!(!bob.allows(Scope::AccessServers, target, &NoGroups));
        bob.union_with(&rbac.share_scopes(&share, recipient, "alice", "x"));
        assert!(bob.allows(Scope::AccessServers, target, &NoGroups));
        assert!(!bob.allows(Scope::AccessServers, Resource::Server { user: "alice", server: "" }, &NoGroups));
        // And so may bob's OAuth token for that server.
        let client = Client::Server { user: "alice", server: "x" };
        let token = rbac.token_scopes(&identify_raw(), Owner::User("bob"), client, &bob, &NoGroups);
        assert!(token.allows_name(&Scope::AccessServers.into(), target, &NoGroups));
    }
    // Unshared: the token's access scope is cut by the intersection.
    let bob = rbac.user_scopes("bob", false, []);
    let client = Client::Server { user: "alice", server: "x" };
    let token = rbac.token_scopes(&identify_raw(), Owner::User("bob"), client, &bob, &NoGroups);
    assert!(!token.allows(Scope::AccessServers, target, &NoGroups));
}

mod properties {
    use super::*;
    use proptest::prelude::*;

    fn scope_text() -> impl Strategy<Value = String> {
        prop_oneof![
            any::<String>(),
            "(read:users|servers|self|inherit|all|access:servers|custom:[a-z:*_-]{0,6}|list:users|\\(no_scope\\))(![a-z]{0,8}(=[a-z/!=]{0,6})?)?",
        ]
    }

    fn owner() -> impl Strategy<Value = (bool, String)> {
        (any::<bool>(), "[a-z]{1,4}")
    }

    proptest! {
        #[test]
        fn parsing_and_expansion_never_panic(
            texts in proptest::collection::vec(scope_text(), 0..8),
            (is_user, name) in owner(),
            other in "[a-z/]{0,5}",
            server in "[a-z]{0,3}",
        ) {
            let registry = ScopeRegistry::with_custom_scopes([CustomScopeDef {
                name: "custom:abc".into(),
                description: Some("d".into()),
                subscopes: vec![],
            }]).unwrap();
            let rbac = Rbac::builtin();
            let (raw, _) = registry.parse_lossy(&texts);
            for text in &texts {
                if let Ok(scope) = registry.parse(text) {
                    // What parses prints back to something that parses to the same scope.
                    prop_assert_eq!(registry.parse(&scope.to_string()), Ok(scope));
                }
            }
            let owner = if is_user { Owner::User(&name) } else { Owner::Service(&name) };
            let client = Client::Server { user: &name, server: &server };
            let expanded = registry.expand(&raw, &ExpandContext::token(owner, client));
            let owner_scopes = rbac.user_scopes(&name, false, []);
            let token = rbac.token_scopes(&raw, owner, client, &owner_scopes, &staff);
            prop_assert!(owner_scopes.contains_all(&token, &staff));
            let _ = rbac.check_token_request(&raw, owner, client, &owner_scopes, &staff);
            let _ = rbac.resolve_requested(&raw, &rbac.user_raw_scopes(false, []), &name, client, &staff);
            for resource in [
                Resource::None,
                Resource::Listing,
                Resource::User(&other),
                Resource::Server { user: &other, server: &server },
                Resource::Group(&other),
                Resource::Service(&other),
            ] {
                let _ = expanded.authorize(GET_USER, resource, &staff);
            }
            let _ = expanded.user_fields(&other, &staff);
            let _ = expanded.intersect(&owner_scopes, &staff).to_strings();
            // Re-parsing the string form of an expansion gives the same set.
            let strings = expanded.to_strings();
            let again = registry.expand(&registry.parse_all(&strings).map_err(|e| TestCaseError::fail(e.to_string()))?, &ExpandContext::owner(owner));
            prop_assert_eq!(again, expanded);
        }
    }
}
