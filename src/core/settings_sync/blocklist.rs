//! The block list both ways (issue 13, item 5): the users a logged-in user blocked on the
//! network ([`ContactsAbility::blocked_users`]) are the ghosts in their Matrix
//! `m.ignored_user_list`, and the other way round. At each comparison the network's list and
//! the ghosts of the ignored list are read; what was added or removed on either side since
//! the last comparison (kept in the store as `blocklist:<mxid>`, a JSON list of network ids) is
//! done on the other. At the first comparison both lists are merged (blocking is the safe
//! side). Ignored Matrix users who are not ghosts are left alone.

use std::collections::BTreeSet;
use std::sync::Arc;

use ruma::OwnedUserId;
use tracing::{debug, info, warn};

use crate::core::connector::ContactsAbility;
use crate::core::logins::UserLogin;
use crate::core::Ctx;
use crate::metrics::Direction;

fn store_key(login: &UserLogin) -> String {
    format!("blocklist:{}", login.mxid)
}

/// The list both sides should hold, from what each holds now and held at the last comparison.
fn merged(
    last: Option<&BTreeSet<String>>,
    matrix: &BTreeSet<String>,
    network: &BTreeSet<String>,
) -> BTreeSet<String> {
    let Some(last) = last else {
        return matrix.union(network).cloned().collect();
    };
    let mut out = last.clone();
    for side in [matrix, network] {
        out.extend(side.difference(last).cloned());
    }
    for side in [matrix, network] {
        for gone in last.difference(side) {
            out.remove(gone);
        }
    }
    out
}

/// Compares one login's lists and makes each change on the other side.
pub(super) async fn sync_login(ctx: &Arc<Ctx>, login: &Arc<UserLogin>) {
    let Some(contacts) = login.session.as_contacts() else {
        return;
    };
    let ignored = match ctx.matrix.ignored_users(&login.mxid).await {
        Ok(list) => list,
        Err(e) => return debug!(user = %login.mxid, error = %e, "ignored users not read"),
    };
    let network: BTreeSet<String> = match contacts.blocked_users().await {
        Ok(list) => list.into_iter().collect(),
        Err(e) => return debug!(user = %login.mxid, error = %e, "block list not read"),
    };
    let matrix: BTreeSet<String> = ignored
        .iter()
        .filter_map(|u| ctx.ghosts.remote_of(u))
        .collect();
    let key = store_key(login);
    let last: Option<BTreeSet<String>> = match ctx.store.get_kv(&key).await {
        Ok(v) => v.and_then(|v| serde_json::from_str(&v).ok()),
        Err(_) => return,
    };
    let want = merged(last.as_ref(), &matrix, &network);
    if last.as_ref() == Some(&want) && matrix == want && network == want {
        return;
    }
    let ok = apply_network(contacts, &network, &want).await
        && apply_matrix(ctx, login, &ignored, &matrix, &want).await;
    if !ok {
        return; // compared again next time
    }
    info!(user = %login.mxid, blocked = want.len(), "block list bridged");
    let value = serde_json::to_string(&want).unwrap_or_default();
    if let Err(e) = ctx.store.put_kv(&key, &value).await {
        warn!(error = %e, "block list not remembered");
    }
}

async fn apply_network(
    contacts: &dyn ContactsAbility,
    now: &BTreeSet<String>,
    want: &BTreeSet<String>,
) -> bool {
    let changes = want
        .difference(now)
        .map(|u| (u, true))
        .chain(now.difference(want).map(|u| (u, false)));
    for (user, blocked) in changes {
        if let Err(e) = contacts.set_blocked(user, blocked).await {
            warn!(%user, blocked, error = %e, "block list change not made on the network");
            return false;
        }
    }
    true
}

async fn apply_matrix(
    ctx: &Arc<Ctx>,
    login: &UserLogin,
    ignored: &[OwnedUserId],
    now: &BTreeSet<String>,
    want: &BTreeSet<String>,
) -> bool {
    if now == want {
        return true;
    }
    let mut list: Vec<OwnedUserId> = ignored
        .iter()
        .filter(|u| ctx.ghosts.remote_of(u).is_none())
        .cloned()
        .collect();
    list.extend(want.iter().map(|r| ctx.ghosts.mxid(r)));
    match ctx.matrix.set_ignored_users(&login.mxid, &list).await {
        Ok(()) => {
            ctx.metrics.bridged(Direction::ToMatrix, "block_list");
            true
        }
        Err(e) => {
            warn!(user = %login.mxid, error = %e, "ignored users not set");
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::merged;
    use std::collections::BTreeSet;

    fn set(items: &[&str]) -> BTreeSet<String> {
        items.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn first_comparison_merges_then_changes_carry_over() {
        assert_eq!(merged(None, &set(&["a"]), &set(&["b"])), set(&["a", "b"]));
        let last = set(&["a", "b"]);
        // Unblocked on the network, c ignored in Matrix.
        assert_eq!(
            merged(Some(&last), &set(&["a", "b", "c"]), &set(&["a"])),
            set(&["a", "c"])
        );
        // Unignored in Matrix only.
        assert_eq!(merged(Some(&last), &set(&["b"]), &last), set(&["b"]));
        assert_eq!(merged(Some(&last), &last, &last), last);
    }
}
