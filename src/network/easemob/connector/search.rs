//! User search for `search` (the core's [`NetworkLogin::search_users`]). Easemob's client
//! API has no user directory search (the Web SDK offers none; the server looks users up only
//! by exact id, `metadata/user/get`), so a search covers what the user can see: their
//! contacts whose id or nickname contains the query (case-insensitive; the first
//! [`MAX_SEARCHED`] contacts by id), and the user whose id
//! is exactly the query.
//!
//! [`NetworkLogin::search_users`]: crate::core::connector::NetworkLogin::search_users

use super::super::rest::{RestClient, RestError};
use crate::core::connector::{UserProfile, UserSearchResult};

/// How many users (the exact id and contacts, by id) one search reads profiles of.
const MAX_SEARCHED: usize = 500;

/// At most `limit` matches: the exact id first, then contacts by id.
pub(super) async fn search_users(
    rest: &RestClient,
    query: &str,
    limit: usize,
) -> Result<Vec<UserSearchResult>, RestError> {
    let needle = query.trim().to_lowercase();
    if needle.is_empty() || limit == 0 {
        return Ok(Vec::new());
    }
    let mut ids: Vec<String> = rest.contacts().await?;
    ids.sort();
    if !ids.iter().any(|c| c.to_lowercase() == needle) {
        // Not a contact: looked up by exact id below, first.
        ids.insert(0, query.trim().to_owned());
    }
    // Nicknames cost a profile request per 100 users: the first contacts only.
    ids.truncate(MAX_SEARCHED);
    let refs: Vec<&str> = ids.iter().map(String::as_str).collect();
    let mut profiles = rest.user_info(&refs).await?;
    let mut found: Vec<UserSearchResult> = Vec::new();
    for id in ids {
        let Some(p) = profiles.remove(&id) else {
            continue; // unknown user (the exact-id guess, usually)
        };
        let exact = id.to_lowercase() == needle;
        let nickname = p.nickname.clone().unwrap_or_default().to_lowercase();
        if exact || id.to_lowercase().contains(&needle) || nickname.contains(&needle) {
            let result = UserSearchResult {
                id,
                profile: UserProfile {
                    name: p.nickname,
                    avatar_url: p.avatar_url,
                },
            };
            match exact {
                true => found.insert(0, result),
                false => found.push(result),
            }
        }
    }
    found.truncate(limit);
    Ok(found)
}
