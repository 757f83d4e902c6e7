//! Actions and trigger bindings: create/read/PATCH/delete, the build status machine,
//! deploy, bindings paging and full-list replacement, errors, scopes, tenant files.

use serde_json::{Value, json};
use time::Duration;
use time::macros::datetime;
use verifyctl::clock::Clock;
use verifyctl::emulator::{
    BuildStatus, EmulatorConfig, Fault, FaultConfig, RouteFilter, TenantState, Trigger,
    load_tenant_file, save_tenant_file,
};

use super::{FIXTURE, Tenant, config, fixture};

/// The fixed clock of `config()`, as Actions write it.
const NOW: &str = "2026-11-22T10:00:00.000000000Z";
const CODE: &str = "exports.onExecutePostLogin = async (event, api) => {};";
const ACTIONS: &str = "/api/v2/actions/actions";
const BINDINGS: &str = "/api/v2/actions/triggers/post-login/bindings";

/// A third-party action, already deployed and bound to post-login, written the short way.
const BOUND_TENANT: &str = r#"
actions:
  - name: Geo block
    code: "exports.onExecutePostLogin = async (event, api) => { api.access.deny('geo'); };"
    secrets: [{ name: GEO_API_KEY }]
    deployed_version: {}
bindings:
  post-login:
    - action_name: Geo block
"#;

fn bound_tenant() -> TenantState {
    serde_saphyr::from_str(&format!("{FIXTURE}{BOUND_TENANT}")).expect("a valid tenant")
}

/// A tenant whose clock the test can move.
async fn start_with_clock(state: TenantState) -> (Tenant, Clock) {
    let clock = Clock::fixed(datetime!(2026-11-22 10:00 UTC));
    let config = EmulatorConfig {
        clock: clock.clone(),
        ..config()
    };
    (Tenant::start_with(state, config).await, clock)
}

fn action_path(id: &str) -> String {
    format!("{ACTIONS}/{id}")
}

fn is_uuid_v4(text: &str) -> bool {
    let parts: Vec<&str> = text.split('-').collect();
    let lengths: Vec<usize> = parts.iter().map(|p| p.len()).collect();
    lengths == [8, 4, 4, 4, 12]
        && parts.iter().all(|p| {
            p.chars()
                .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase())
        })
        && parts[2].starts_with('4')
        && matches!(parts[3].chars().next(), Some('8' | '9' | 'a' | 'b'))
}

fn new_action(name: &str) -> Value {
    json!({
        "name": name,
        "supported_triggers": [{"id": "post-login", "version": "v3"}],
        "code": CODE,
    })
}

/// Creates an action and returns its id.
async fn create(tenant: &Tenant, body: &Value) -> String {
    let reply = tenant.post(ACTIONS, body).await;
    assert_eq!(reply.status, 201, "{:?}", reply.body);
    reply.body["id"].as_str().unwrap().to_owned()
}

/// Polls until the build ends, returning the statuses seen.
async fn poll(tenant: &Tenant, id: &str) -> Vec<String> {
    let mut seen = Vec::new();
    for _ in 0..5 {
        let reply = tenant.get(&action_path(id)).await;
        assert_eq!(reply.status, 200, "{:?}", reply.body);
        let status = reply.body["status"].as_str().unwrap().to_owned();
        seen.push(status.clone());
        if status == "built" || status == "failed" {
            break;
        }
    }
    seen
}

async fn deploy(tenant: &Tenant, id: &str) -> Value {
    let reply = tenant
        .send(
            tenant
                .http
                .post(tenant.url(&format!("{}/deploy", action_path(id))))
                .bearer_auth(&tenant.token),
        )
        .await;
    assert_eq!(reply.status, 200, "{:?}", reply.body);
    reply.body
}

/// Creates, builds and deploys an action; returns its id.
async fn deployed(tenant: &Tenant, body: &Value) -> String {
    let id = create(tenant, body).await;
    poll(tenant, &id).await;
    deploy(tenant, &id).await;
    id
}

fn bind(refs: &[(&str, &str)]) -> Value {
    let bindings: Vec<Value> = refs
        .iter()
        .map(|(kind, value)| json!({"ref": {"type": kind, "value": value}}))
        .collect();
    json!({ "bindings": bindings })
}

fn binding_names(reply: &Value) -> Vec<&str> {
    reply["bindings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["action"]["name"].as_str().unwrap())
        .collect()
}

#[tokio::test]
async fn create_answers_201_like_the_recording() {
    let tenant = Tenant::start().await;
    let mut body = new_action("Require verified email");
    body["secrets"] = json!([{"name": "API_KEY", "value": "s3cret-value"}]);
    body["dependencies"] = json!([{"name": "auth0", "version": "4.0.0"}]);
    let reply = tenant.post(ACTIONS, &body).await;
    assert_eq!(reply.status, 201, "{:?}", reply.body);
    assert_eq!(
        reply.header("content-type"),
        "application/json; charset=utf-8"
    );
    let id = reply.body["id"].as_str().unwrap();
    assert!(is_uuid_v4(id), "{id}");
    assert_eq!(
        reply.body,
        json!({
            "id": id,
            "name": "Require verified email",
            "supported_triggers": [{"id": "post-login", "version": "v3"}],
            "created_at": NOW,
            "updated_at": NOW,
            "code": CODE,
            "dependencies": [{"name": "auth0", "version": "4.0.0"}],
            "runtime": "node22",
            "status": "pending",
            "secrets": [{"name": "API_KEY", "updated_at": NOW}],
            "all_changes_deployed": false,
        }),
        "no deployed_version, current_version or errors; the secret value is never returned"
    );

    let duplicate = tenant.post(ACTIONS, &body).await;
    assert_eq!(duplicate.status, 409);
    let missing = tenant.post(ACTIONS, &json!({"name": "x"})).await;
    assert_eq!(
        missing.body["message"],
        "Payload validation error: 'Missing required property: supported_triggers'."
    );
    let no_triggers = tenant
        .post(ACTIONS, &json!({"name": "x", "supported_triggers": []}))
        .await;
    assert_eq!(no_triggers.status, 400);
    let unknown = tenant
        .post(
            ACTIONS,
            &json!({"name": "x", "supported_triggers": [{"id": "post-logon"}]}),
        )
        .await;
    assert_eq!(
        unknown.body["message"],
        "Payload validation error: 'No enum match for: \"post-logon\"' on property \
         supported_triggers[0].id."
    );
}

#[tokio::test]
async fn reads_advance_the_build_one_step_and_lists_do_not() {
    let tenant = Tenant::start().await;
    let id = create(&tenant, &new_action("a")).await;
    let listed = tenant.get(ACTIONS).await;
    assert_eq!(listed.body["actions"][0]["status"], "pending");
    assert_eq!(poll(&tenant, &id).await, ["building", "built"]);
    let again = tenant.get(&action_path(&id)).await;
    assert_eq!(again.body["status"], "built", "built stays built");

    let missing = tenant
        .get(&action_path("09ee2b9b-282d-4a65-87d1-f01adf007745"))
        .await;
    assert_eq!(missing.status, 404);
    assert_eq!(
        missing.body,
        json!({"statusCode": 404, "error": "Not Found", "message": "That action does not exist."})
    );
}

#[tokio::test]
async fn deploying_before_the_build_is_built_is_refused() {
    let tenant = Tenant::start().await;
    let id = create(&tenant, &new_action("a")).await;
    let path = format!("{}/deploy", action_path(&id));
    for _ in 0..2 {
        let reply = tenant
            .send(
                tenant
                    .http
                    .post(tenant.url(&path))
                    .bearer_auth(&tenant.token),
            )
            .await;
        assert_eq!(reply.status, 400);
        assert_eq!(
            reply.body["message"],
            "A draft must be in the 'built' state before it can be deployed."
        );
        tenant.get(&action_path(&id)).await; // pending -> building
    }
}

#[tokio::test]
async fn deploy_answers_the_version_and_the_action_then_shows_it_deployed() {
    let (tenant, clock) = start_with_clock(fixture()).await;
    let mut body = new_action("a");
    body["secrets"] = json!([{"name": "K", "value": "v"}]);
    let id = create(&tenant, &body).await;
    poll(&tenant, &id).await;
    clock.advance(Duration::seconds(10));
    let version = deploy(&tenant, &id).await;
    let at = "2026-11-22T10:00:10.000000000Z";
    let version_id = version["id"].as_str().unwrap();
    assert!(is_uuid_v4(version_id) && version_id != id);
    assert_eq!(
        version,
        json!({
            "code": CODE,
            "dependencies": [],
            "id": version_id,
            "deployed": false,
            "number": 1,
            "secrets": [{"name": "K", "updated_at": NOW}],
            "status": "built",
            "created_at": at,
            "updated_at": at,
            "runtime": "node22",
            "supported_triggers": [{"id": "post-login", "version": "v3"}],
            "action": {
                "id": id,
                "name": "a",
                "supported_triggers": [{"id": "post-login", "version": "v3"}],
                "created_at": NOW,
                "updated_at": NOW,
                "all_changes_deployed": false,
            },
        })
    );
    let action = tenant.get(&action_path(&id)).await.body;
    assert_eq!(action["all_changes_deployed"], true);
    assert_eq!(
        action["updated_at"], NOW,
        "deploying does not touch the draft"
    );
    assert_eq!(
        action["current_version"],
        json!({"id": version_id, "code": CODE, "runtime": "node22", "status": "BUILT",
               "number": 1, "build_time": at, "created_at": at, "updated_at": at})
    );
    assert_eq!(
        action["deployed_version"],
        json!({"code": CODE, "dependencies": [], "id": version_id, "deployed": true,
               "number": 1, "built_at": at, "secrets": [{"name": "K", "updated_at": NOW}],
               "status": "built", "created_at": at, "updated_at": at, "runtime": "node22",
               "supported_triggers": [{"id": "post-login", "version": "v3"}]})
    );
}

#[tokio::test]
async fn patch_starts_a_new_build_and_keeps_the_deployed_version() {
    let (tenant, clock) = start_with_clock(fixture()).await;
    let mut body = new_action("a");
    body["secrets"] = json!([{"name": "KEEP", "value": "1"}, {"name": "ROTATE", "value": "2"}]);
    let id = deployed(&tenant, &body).await;
    clock.advance(Duration::seconds(5));
    let later = "2026-11-22T10:00:05.000000000Z";
    let patch = json!({
        "code": "exports.onExecutePostLogin = async () => { /* v2 */ };",
        "runtime": "node18",
        "secrets": [{"name": "KEEP"}, {"name": "ROTATE", "value": "3"}],
    });
    let reply = tenant.patch(&action_path(&id), &patch).await;
    assert_eq!(reply.status, 200, "{:?}", reply.body);
    assert_eq!(reply.body["status"], "pending");
    assert_eq!(reply.body["updated_at"], later);
    assert_eq!(reply.body["created_at"], NOW);
    assert_eq!(reply.body["runtime"], "node18");
    assert_eq!(
        reply.body["secrets"],
        json!([{"name": "KEEP", "updated_at": NOW}, {"name": "ROTATE", "updated_at": later}])
    );
    assert_eq!(reply.body["all_changes_deployed"], false);
    assert_eq!(reply.body["deployed_version"]["code"], CODE);
    assert_eq!(reply.body["deployed_version"]["runtime"], "node22");

    assert_eq!(poll(&tenant, &id).await, ["building", "built"]);
    let second = deploy(&tenant, &id).await;
    assert_eq!(second["number"], 2);
    let action = tenant.get(&action_path(&id)).await.body;
    assert_eq!(action["deployed_version"]["number"], 2);
    assert_eq!(action["deployed_version"]["runtime"], "node18");
    assert_eq!(action["all_changes_deployed"], true);

    let extra = tenant
        .patch(&action_path(&id), &json!({"deploy": true}))
        .await;
    assert_eq!(
        extra.body["message"],
        "Payload validation error: 'Additional properties not allowed: deploy'."
    );
}

#[tokio::test]
async fn list_filters_by_name_trigger_and_deployment_and_pages() {
    let tenant = Tenant::start().await;
    let first = deployed(&tenant, &new_action("first")).await;
    create(&tenant, &new_action("second")).await;
    let mut other = new_action("third");
    other["supported_triggers"] = json!([{"id": "pre-user-registration", "version": "v2"}]);
    create(&tenant, &other).await;

    let none = tenant
        .get(&format!("{ACTIONS}?actionName=random-name&per_page=50"))
        .await;
    assert_eq!(none.status, 200);
    assert_eq!(none.body, json!({"actions": [], "per_page": 50}));
    let by_name = tenant.get(&format!("{ACTIONS}?actionName=first")).await;
    assert_eq!(by_name.body["total"], 1);
    assert_eq!(by_name.body["per_page"], 20);
    assert!(by_name.body.get("page").is_none());
    assert_eq!(by_name.body["actions"][0]["id"], first);
    assert_eq!(by_name.body["actions"][0]["deployed_version"]["number"], 1);
    let names = |body: &Value| -> Vec<String> {
        body["actions"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a["name"].as_str().unwrap().to_owned())
            .collect()
    };
    let post_login = tenant.get(&format!("{ACTIONS}?triggerId=post-login")).await;
    assert_eq!(names(&post_login.body), ["first", "second"]);
    let undeployed = tenant.get(&format!("{ACTIONS}?deployed=false")).await;
    assert_eq!(names(&undeployed.body), ["second", "third"]);
    let installed = tenant.get(&format!("{ACTIONS}?installed=true")).await;
    assert_eq!(installed.body, json!({"actions": [], "per_page": 20}));
    let page = tenant.get(&format!("{ACTIONS}?page=1&per_page=2")).await;
    assert_eq!(names(&page.body), ["third"]);
    assert_eq!(
        (page.body["total"].clone(), page.body["page"].clone()),
        (json!(3), json!(1))
    );

    let too_many = tenant.get(&format!("{ACTIONS}?per_page=101")).await;
    assert_eq!(too_many.status, 400);
    assert!(
        too_many.body["message"]
            .as_str()
            .unwrap()
            .starts_with("Query validation error: 'Value 101 is greater than maximum 100'")
    );
    let snake = tenant.get(&format!("{ACTIONS}?action_name=first")).await;
    assert_eq!(snake.status, 400, "the filters are camelCase");
}

#[tokio::test]
async fn bindings_pages_look_like_the_recordings() {
    let tenant = Tenant::start().await;
    let empty = tenant.get(&format!("{BINDINGS}?per_page=50")).await;
    assert_eq!(empty.status, 200);
    assert_eq!(empty.body, json!({"bindings": [], "per_page": 50}));

    let id = deployed(&tenant, &new_action("Require verified email")).await;
    let body = json!({"bindings": [{
        "ref": {"type": "action_id", "value": id},
        "display_name": "verifyctl",
    }]});
    let patched = tenant.patch(BINDINGS, &body).await;
    assert_eq!(patched.status, 200, "{:?}", patched.body);
    let binding = &patched.body["bindings"][0];
    let binding_id = binding["id"].as_str().unwrap();
    assert!(is_uuid_v4(binding_id));
    assert_eq!(binding["trigger_id"], "post-login");
    assert_eq!(binding["display_name"], "verifyctl");
    assert_eq!(
        (&binding["created_at"], &binding["updated_at"]),
        (&json!(NOW), &json!(NOW))
    );
    let action = binding["action"].as_object().unwrap();
    assert_eq!(action["id"], json!(id));
    assert_eq!(action["deployed_version"]["deployed"], true);
    assert_eq!(action["current_version"]["status"], "BUILT");
    for absent in ["code", "status", "secrets", "runtime", "dependencies"] {
        assert!(!action.contains_key(absent), "{absent} is not embedded");
    }

    let first = tenant.get(&format!("{BINDINGS}?page=0&per_page=100")).await;
    assert_eq!(first.body["total"], 1);
    assert_eq!(first.body["per_page"], 100);
    assert!(first.body.get("page").is_none());
    assert_eq!(first.body["bindings"], patched.body["bindings"]);
    let past_end = tenant.get(&format!("{BINDINGS}?page=1&per_page=100")).await;
    assert_eq!(
        past_end.body,
        json!({"bindings": [], "page": 1, "per_page": 100})
    );
    let unknown = tenant
        .get("/api/v2/actions/triggers/post-logon/bindings")
        .await;
    assert_eq!(unknown.status, 400);
    assert_eq!(unknown.body["errorCode"], "invalid_uri");
}

#[tokio::test]
async fn patching_bindings_replaces_the_list_and_keeps_referenced_bindings() {
    let (tenant, clock) = start_with_clock(bound_tenant()).await;
    let geo = tenant.get(BINDINGS).await.body["bindings"][0].clone();
    let geo_binding = geo["id"].as_str().unwrap().to_owned();
    assert_eq!(geo["display_name"], "Geo block");
    let ours = deployed(&tenant, &new_action("verifyctl")).await;

    clock.advance(Duration::seconds(30));
    // Ours first, the third-party binding kept by id after it.
    let reply = tenant
        .patch(
            BINDINGS,
            &bind(&[("action_id", &ours), ("binding_id", &geo_binding)]),
        )
        .await;
    assert_eq!(reply.status, 200, "{:?}", reply.body);
    assert_eq!(binding_names(&reply.body), ["verifyctl", "Geo block"]);
    let kept = &reply.body["bindings"][1];
    assert_eq!(kept["id"], geo["id"]);
    assert_eq!(kept["created_at"], geo["created_at"]);
    assert_eq!(kept["updated_at"], geo["updated_at"]);
    assert_eq!(
        reply.body["bindings"][0]["created_at"],
        "2026-11-22T10:00:30.000000000Z"
    );
    let listed = tenant.get(BINDINGS).await;
    assert_eq!(listed.body["bindings"], reply.body["bindings"]);

    // By name, reordered, renamed: still the same binding.
    let ours_binding = reply.body["bindings"][0]["id"].as_str().unwrap().to_owned();
    let reorder = json!({"bindings": [
        {"ref": {"type": "binding_id", "value": geo_binding}, "display_name": "Geo"},
        {"ref": {"type": "binding_id", "value": ours_binding}},
    ]});
    let reordered = tenant.patch(BINDINGS, &reorder).await;
    assert_eq!(binding_names(&reordered.body), ["Geo block", "verifyctl"]);
    assert_eq!(reordered.body["bindings"][0]["id"], geo["id"]);
    assert_eq!(reordered.body["bindings"][0]["display_name"], "Geo");
    assert_eq!(reordered.body["bindings"][1]["id"], json!(ours_binding));

    let by_name = tenant
        .patch(BINDINGS, &bind(&[("action_name", "verifyctl")]))
        .await;
    assert_eq!(binding_names(&by_name.body), ["verifyctl"]);
    let cleared = tenant.patch(BINDINGS, &json!({"bindings": []})).await;
    assert_eq!(cleared.body, json!({"bindings": []}));
    assert!(tenant.emulator.snapshot().bindings.is_empty());
    let twice = tenant
        .patch(
            BINDINGS,
            &bind(&[("action_id", &ours), ("action_name", "verifyctl")]),
        )
        .await;
    assert_eq!(twice.status, 400);
    let unknown = tenant
        .patch(BINDINGS, &bind(&[("binding_id", &geo_binding)]))
        .await;
    assert_eq!(unknown.status, 404, "the binding is gone");
}

#[tokio::test]
async fn bindings_need_a_deployed_compatible_action_and_the_current_payload() {
    let tenant = Tenant::start().await;
    let draft = create(&tenant, &new_action("draft")).await;
    poll(&tenant, &draft).await;
    let undeployed = tenant
        .patch(BINDINGS, &bind(&[("action_id", &draft)]))
        .await;
    assert_eq!(undeployed.status, 400);
    assert_eq!(
        undeployed.body["message"],
        "Trying to create a binding for an action that has not been deployed yet"
    );
    let mut body = new_action("registration");
    body["supported_triggers"] = json!([{"id": "pre-user-registration", "version": "v2"}]);
    let other = deployed(&tenant, &body).await;
    let incompatible = tenant
        .patch(BINDINGS, &bind(&[("action_id", &other)]))
        .await;
    assert_eq!(incompatible.status, 400);
    assert_eq!(
        incompatible.body["message"],
        "Trying to create a binding between an incompatible action and trigger."
    );
    let old =
        json!({"bindings": [{"id_type": "action_id", "id_value": other, "display_name": "x"}]});
    let old_payload = tenant.patch(BINDINGS, &old).await;
    assert_eq!(old_payload.status, 400);
    assert_eq!(
        old_payload.body,
        json!({"statusCode": 400, "error": "Bad Request", "errorCode": "invalid_body",
               "message": "Payload validation error: 'Data does not match any schemas from \
                           'oneOf'' on property bindings[0]."})
    );
    let missing = tenant
        .patch(
            BINDINGS,
            &bind(&[("action_id", "09ee2b9b-282d-4a65-87d1-f01adf007745")]),
        )
        .await;
    assert_eq!(missing.status, 404);
    let refs: Vec<(&str, &str)> = vec![("binding_id", "x"); 21];
    assert_eq!(tenant.patch(BINDINGS, &bind(&refs)).await.status, 400);
    assert!(
        tenant.emulator.snapshot().bindings.is_empty(),
        "nothing was bound"
    );
}

#[tokio::test]
async fn bound_actions_resist_deletion_and_incompatible_triggers() {
    let tenant = Tenant::start_with(bound_tenant(), config()).await;
    let geo = tenant.get(BINDINGS).await.body["bindings"][0]["action"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let retarget = json!({"supported_triggers": [{"id": "post-change-password", "version": "v2"}]});
    let upgrade = tenant.patch(&action_path(&geo), &retarget).await;
    assert_eq!(upgrade.status, 400);
    assert_eq!(upgrade.body["message"], "can't upgrade to this trigger.");

    let refused = tenant.delete(&action_path(&geo)).await;
    assert_eq!(refused.status, 400);
    assert!(
        refused.body["message"]
            .as_str()
            .unwrap()
            .contains("force=true")
    );
    assert_eq!(tenant.emulator.snapshot().actions.len(), 1);
    let forced = tenant
        .delete(&format!("{}?force=true", action_path(&geo)))
        .await;
    assert_eq!(forced.status, 204);
    let snapshot = tenant.emulator.snapshot();
    assert!(snapshot.actions.is_empty() && snapshot.bindings.is_empty());
    assert_eq!(
        tenant.get(BINDINGS).await.body,
        json!({"bindings": [], "per_page": 20})
    );
    assert_eq!(tenant.delete(&action_path(&geo)).await.status, 404);

    let free = create(&tenant, &new_action("free")).await;
    assert_eq!(tenant.delete(&action_path(&free)).await.status, 204);
}

#[tokio::test]
async fn builds_started_while_the_hook_is_on_fail() {
    let tenant = Tenant::start().await;
    let before = create(&tenant, &new_action("before")).await;
    tenant.emulator.set_action_builds_fail(true);
    let failing = create(&tenant, &new_action("failing")).await;
    assert_eq!(poll(&tenant, &before).await, ["building", "built"]);
    assert_eq!(poll(&tenant, &failing).await, ["building", "failed"]);
    let failed = tenant.get(&action_path(&failing)).await.body;
    assert_eq!(failed["status"], "failed");
    assert_eq!(failed["errors"][0]["id"], "build_failed");
    let path = format!("{}/deploy", action_path(&failing));
    let refused = tenant
        .send(
            tenant
                .http
                .post(tenant.url(&path))
                .bearer_auth(&tenant.token),
        )
        .await;
    assert_eq!(refused.status, 400);

    tenant.emulator.set_action_builds_fail(false);
    let fixed = tenant
        .patch(&action_path(&failing), &json!({"code": CODE}))
        .await;
    assert!(fixed.body.get("errors").is_none());
    assert_eq!(poll(&tenant, &failing).await, ["building", "built"]);
    assert_eq!(
        tenant.emulator.snapshot().actions[1].status,
        BuildStatus::Built
    );
}

#[tokio::test]
async fn create_with_deploy_deploys_once_built() {
    let tenant = Tenant::start().await;
    let mut body = new_action("auto");
    body["deploy"] = json!(true);
    let id = create(&tenant, &body).await;
    let created = tenant.get(&action_path(&id)).await.body;
    assert!(created.get("deployed_version").is_none());
    let built = tenant.get(&action_path(&id)).await.body;
    assert_eq!(built["deployed_version"]["number"], 1);
    assert_eq!(built["all_changes_deployed"], true);
}

#[tokio::test]
async fn writes_need_their_scopes() {
    let tenant = Tenant::start().await;
    let id = create(&tenant, &new_action("a")).await;
    let reader = tenant.emulator.issue_token(&["read:actions"]);
    let deploy_path = format!("{}/deploy", action_path(&id));
    let requests = [
        (
            tenant.http.post(tenant.url(ACTIONS)).json(&new_action("b")),
            "create:actions",
        ),
        (
            tenant
                .http
                .patch(tenant.url(&action_path(&id)))
                .json(&json!({})),
            "update:actions",
        ),
        (
            tenant.http.delete(tenant.url(&action_path(&id))),
            "delete:actions",
        ),
        (tenant.http.post(tenant.url(&deploy_path)), "create:actions"),
        (
            tenant
                .http
                .patch(tenant.url(BINDINGS))
                .json(&json!({"bindings": []})),
            "update:actions",
        ),
    ];
    for (request, scope) in requests {
        let reply = tenant.send(request.bearer_auth(&reader)).await;
        assert_eq!(reply.status, 403, "{scope}");
        assert_eq!(
            reply.body,
            json!({"statusCode": 403, "error": "Forbidden",
                   "message": format!("Insufficient scope, expected any of: {scope}"),
                   "errorCode": "insufficient_scope"})
        );
    }
    let read = |path: &str| tenant.http.get(tenant.url(path)).bearer_auth(&reader);
    assert_eq!(tenant.send(read(&action_path(&id))).await.status, 200);
    assert_eq!(tenant.send(read(BINDINGS)).await.status, 200);
    let writer = tenant.emulator.issue_token(&["update:actions"]);
    let list = tenant
        .send(tenant.http.get(tenant.url(ACTIONS)).bearer_auth(writer))
        .await;
    assert_eq!(list.status, 403);
}

#[tokio::test]
async fn actions_routes_go_through_faults_and_the_request_log() {
    let tenant = Tenant::start().await;
    let id = create(&tenant, &new_action("a")).await;
    poll(&tenant, &id).await;
    tenant.emulator.set_faults(FaultConfig::none().with(
        RouteFilter::route("POST", "/api/v2/actions/actions/{id}/deploy"),
        Fault::ServerError {
            status: 503,
            when: Trigger::Next(1),
        },
    ));
    let path = format!("{}/deploy", action_path(&id));
    let post = || {
        tenant
            .http
            .post(tenant.url(&path))
            .bearer_auth(&tenant.token)
    };
    assert_eq!(tenant.send(post()).await.status, 503);
    assert!(
        tenant.emulator.snapshot().actions[0]
            .deployed_version
            .is_none(),
        "the failed request changed nothing"
    );
    assert_eq!(tenant.send(post()).await.status, 200);
    let log: Vec<(String, u16)> = tenant
        .emulator
        .requests()
        .into_iter()
        .filter(|r| r.path.ends_with("/deploy"))
        .map(|r| (r.method, r.status))
        .collect();
    assert_eq!(log, [("POST".to_owned(), 503), ("POST".to_owned(), 200)]);
}

#[tokio::test]
async fn tenant_files_keep_actions_and_bindings_but_never_secret_values() {
    let tenant = Tenant::start_with(bound_tenant(), config()).await;
    let geo = tenant.get(BINDINGS).await.body["bindings"][0].clone();
    assert_eq!(geo["action"]["name"], "Geo block");
    assert_eq!(geo["action"]["deployed_version"]["number"], 1);
    let geo_id = geo["action"]["id"].as_str().unwrap().to_owned();
    let loaded = tenant.get(&action_path(&geo_id)).await.body;
    assert_eq!(loaded["status"], "built");
    assert_eq!(loaded["runtime"], "node22");
    assert_eq!(loaded["all_changes_deployed"], true);
    assert_eq!(
        loaded["secrets"],
        json!([{"name": "GEO_API_KEY", "updated_at": NOW}])
    );

    let secret = "never-persist-this-value";
    let mut body = new_action("verifyctl");
    body["secrets"] = json!([{"name": "MGMT_SECRET", "value": secret}]);
    let ours = deployed(&tenant, &body).await;
    let geo_binding = geo["id"].as_str().unwrap();
    let bindings = bind(&[("binding_id", geo_binding), ("action_id", &ours)]);
    assert_eq!(tenant.patch(BINDINGS, &bindings).await.status, 200);
    tenant
        .patch(
            &action_path(&ours),
            &json!({"secrets": [{"name": "MGMT_SECRET", "value": secret}]}),
        )
        .await;

    let snapshot = tenant.emulator.snapshot();
    assert_eq!(snapshot.actions.len(), 2);
    assert_eq!(snapshot.bindings["post-login"].len(), 2);
    assert_eq!(snapshot.bindings["post-login"][0].id, geo_binding);
    let dir = tempfile::tempdir().unwrap();
    for name in ["tenant.yaml", "tenant.json"] {
        let path = dir.path().join(name);
        save_tenant_file(&path, &snapshot).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(!text.contains(secret), "{name} holds no secret value");
        assert!(
            text.contains("MGMT_SECRET"),
            "{name} keeps the secret's name"
        );
        assert_eq!(
            load_tenant_file(&path).unwrap(),
            snapshot,
            "{name} round trip"
        );
    }
    let requests_text = serde_json::to_string(&tenant.get(ACTIONS).await.body).unwrap();
    assert!(!requests_text.contains(secret), "no answer holds the value");

    // A reloaded tenant serves the same actions and bindings.
    let reloaded = Tenant::start_with(
        load_tenant_file(&dir.path().join("tenant.yaml")).unwrap(),
        config(),
    )
    .await;
    assert_eq!(reloaded.emulator.snapshot(), snapshot);
    assert_eq!(
        reloaded.get(BINDINGS).await.body,
        tenant.get(BINDINGS).await.body
    );
    let typo = format!("{FIXTURE}actions:\n  - name: x\n    secrets: [{{name: K, value: v}}]\n");
    assert!(
        serde_saphyr::from_str::<TenantState>(&typo).is_err(),
        "a tenant file cannot hold a secret value"
    );
}
