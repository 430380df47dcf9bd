//! The operator's API: look an identifier up, retract a link. Every request needs the admin token
//! (`admin.token`) as a bearer token: the answers hold every tenant's identifiers.

use axum::extract::{Path, Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use rapport_identity::UnlinkError;
use rapport_runtime::Secret;
use serde::Deserialize;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::pipeline::Core;

pub fn routes(core: Core, token: Secret) -> Router {
    Router::new()
        .route("/v1/identity/{tenant}/{identifier}", get(show))
        .route("/v1/identity/owner/{tenant}", get(owner))
        .route("/v1/identity/unlink", post(unlink))
        .route("/v1/identity/forget", post(forget))
        .route_layer(middleware::from_fn_with_state(token, authorize))
        .with_state(core)
}

/// Lets a request through only with the configured token. Comparing digests keeps the time the
/// comparison takes independent of how much of the token was right.
async fn authorize(State(token): State<Secret>, request: Request, next: Next) -> Response {
    if token.expose().is_empty() {
        return error(
            StatusCode::UNAUTHORIZED,
            "admin_disabled",
            "the admin API is disabled: set admin.token (RAPPORT_ADMIN__TOKEN or RAPPORT_ADMIN__TOKEN_FILE)".into(),
        )
        .into_response();
    }
    let presented = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, t)| t.trim());
    let matches = presented
        .is_some_and(|t| Sha256::digest(t.as_bytes()) == Sha256::digest(token.expose().as_bytes()));
    if !matches {
        metrics::counter!("rapport_linker_admin_unauthorized_total").increment(1);
        return error(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "send the admin token as `Authorization: Bearer <token>`".into(),
        )
        .into_response();
    }
    next.run(request).await
}

type Reply = (StatusCode, Json<Value>);

fn error(status: StatusCode, code: &str, message: String) -> Reply {
    (status, Json(json!({"code": code, "message": message})))
}

fn restoring() -> Reply {
    error(
        StatusCode::SERVICE_UNAVAILABLE,
        "not_ready",
        "identity state is still being restored".into(),
    )
}

/// The graph already changed but its consequences could not be stored: stop, so the restart
/// rebuilds it from what was stored.
fn store_failed(state: &mut crate::pipeline::State, e: &crate::LinkerError) -> Reply {
    state.fail(e.to_string());
    error(
        StatusCode::SERVICE_UNAVAILABLE,
        "store_unavailable",
        e.to_string(),
    )
}

/// Sharded mode: an instance that does not hold the tenant's graph answers from the store, so
/// any instance answers for every tenant (the owner's unstored batch, at most `batch.max_delay_ms`
/// old, is not in the store yet).
async fn show(
    State(core): State<Core>,
    Path((tenant, identifier)): Path<(String, String)>,
) -> Reply {
    let state = core.lock().await;
    if !state.restored {
        return restoring();
    }
    if !state.holds(&tenant) {
        let (client, forget, policies) = state.reader();
        drop(state);
        let mut graph = rapport_identity::IdentityGraph::new(policies);
        let tenants = [tenant.clone()];
        return match crate::store::restore(&client, &mut graph, &forget, Some(&tenants)).await {
            Ok(_) => describe(&graph, &tenant, &identifier),
            Err(e) => error(
                StatusCode::SERVICE_UNAVAILABLE,
                "store_unavailable",
                e.to_string(),
            ),
        };
    }
    describe(&state.graph, &tenant, &identifier)
}

/// An identifier's customer, its identifiers and the links between them.
fn describe(graph: &rapport_identity::IdentityGraph, tenant: &str, identifier: &str) -> Reply {
    match graph.customer_of(tenant, identifier) {
        None => error(
            StatusCode::NOT_FOUND,
            "unknown_identifier",
            format!("{identifier:?} has not been seen in tenant {tenant:?}"),
        ),
        Some(customer_id) => {
            let members = graph.members(tenant, customer_id);
            let links: Vec<Value> = members
                .iter()
                .flat_map(|m| graph.links_of(tenant, m))
                .collect::<std::collections::BTreeSet<_>>()
                .into_iter()
                .map(|l| json!({"a": l.a, "b": l.b, "event_id": l.event_id, "source": l.source, "occurred_at": l.occurred_at}))
                .collect();
            (
                StatusCode::OK,
                Json(
                    json!({"tenant_id": tenant, "customer_id": customer_id, "identities": members, "links": links}),
                ),
            )
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct UnlinkRequest {
    tenant_id: String,
    a: String,
    /// The other identifier; without it, `a` is detached from every link.
    b: Option<String>,
}

/// Sharded mode: only the instance that owns the tenant may change its graph; another answers
/// 421 `not_owner` and the caller tries the next instance (`rapport identity` does).
fn not_owner(tenant: &str) -> Reply {
    error(
        StatusCode::MISDIRECTED_REQUEST,
        "not_owner",
        format!(
            "tenant {:?} belongs to another linker instance; ask the next one",
            rapport_model::bounded(tenant, 64)
        ),
    )
}

/// Whether this instance owns the tenant: 200 with its partition (every tenant when not
/// sharded), else 421 `not_owner`. Changes nothing; `rapport forget` finds the owner with it.
async fn owner(State(core): State<Core>, Path(tenant): Path<String>) -> Reply {
    let state = core.lock().await;
    if !state.owns(&tenant) {
        return not_owner(&tenant);
    }
    let partition = state
        .shard
        .as_ref()
        .map(|s| crate::partition_of(&tenant, s.partitions));
    (
        StatusCode::OK,
        Json(
            json!({"tenant_id": tenant, "owner": true, "partition": partition, "loaded": state.holds(&tenant)}),
        ),
    )
}

/// The owner loads the tenant's graph first when none of its interactions arrived yet.
async fn take_ownership(state: &mut crate::pipeline::State, tenant: &str) -> Option<Reply> {
    if !state.owns(tenant) {
        return Some(not_owner(tenant));
    }
    match state.load_tenants([tenant]).await {
        Ok(()) => None,
        Err(e) => Some(error(
            StatusCode::SERVICE_UNAVAILABLE,
            "store_unavailable",
            e.to_string(),
        )),
    }
}

async fn unlink(State(core): State<Core>, Json(request): Json<UnlinkRequest>) -> Reply {
    let mut state = core.lock().await;
    if !state.restored {
        return restoring();
    }
    if let Some(refused) = take_ownership(&mut state, &request.tenant_id).await {
        return refused;
    }
    let result = match &request.b {
        Some(b) => state.graph.unlink(&request.tenant_id, &request.a, b),
        None => state
            .graph
            .unlink_identifier(&request.tenant_id, &request.a),
    };
    let unlinked = match result {
        Ok(unlinked) => unlinked,
        Err(e @ UnlinkError::UnknownIdentifier { .. }) => {
            return error(StatusCode::NOT_FOUND, "unknown_identifier", e.to_string());
        }
        Err(e) => return error(StatusCode::CONFLICT, "not_linked", e.to_string()),
    };
    if let Err(e) = state.persist_unlink(&unlinked).await {
        return store_failed(&mut state, &e);
    }
    let changes: Vec<Value> = unlinked
        .changes
        .iter()
        .map(|c| json!({"identity": c.identifier, "customer_id": c.customer_id, "previous_customer_id": c.previous_customer_id}))
        .collect();
    (
        StatusCode::OK,
        Json(json!({"retracted": unlinked.retracted.len(), "changes": changes})),
    )
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ForgetRequest {
    tenant_id: String,
    customer_id: String,
    /// `type:value` keys of every identifier of the customer.
    identities: Vec<String>,
}

/// `rapport forget`'s step in the linker: the identifiers leave the graph and join its forget
/// list (so interactions carrying them are dropped from now on), and each gets a tombstone on
/// the identity topic. Idempotent: forgetting again changes nothing.
async fn forget(State(core): State<Core>, Json(request): Json<ForgetRequest>) -> Reply {
    let mut state = core.lock().await;
    if !state.restored {
        return restoring();
    }
    if let Some(refused) = take_ownership(&mut state, &request.tenant_id).await {
        return refused;
    }
    match state
        .forget(
            &request.tenant_id,
            &request.customer_id,
            &request.identities,
        )
        .await
    {
        Ok(forgotten) => (StatusCode::OK, Json(json!({"forgotten": forgotten}))),
        Err(e) => store_failed(&mut state, &e),
    }
}
