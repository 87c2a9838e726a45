//! The sandbox's user profiles: the standard tags (`Tag_Profile_IM_Nick`,
//! `Tag_Profile_IM_Image`, …) each account has set, read with `profile.portrait_get_all`
//! (the SDK's `getUserProfile` / `getMyProfile`; REST `portrait_get`) and written with
//! `profile.portrait_set` (the SDK's `updateMyProfile`; REST `portrait_set` with
//! `From_Account`).
//!
//! Shapes (REST docs "拉取资料" / "设置资料", and the SDK's keyMaps): a request names
//! accounts in `To_Account` (REST) or `UserItem[{To_Account}]` (SDK) and the reply lists
//! `UserProfileItem[{To_Account, ProfileItem[{Tag, Value}], ResultCode, ResultInfo}]`; a set
//! carries `ProfileItem[{Tag, Value}]`. A change is pushed as a `ProfileDataMod` item
//! `{PushType: 1, Profile_Account, ProfileList[{Tag, ValueBytes}]}` (the SDK's
//! `profileModify`), to the account's other instances only: the service tells friends too,
//! and the sandbox keeps no friend lists. The push's `event` number is not known (the SDK
//! dispatches on the key); the sandbox uses 7.

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;

use serde_json::{json, Value};

use super::groups::push_frame;
use super::state::Sandbox;
use crate::network::tencent::wire::{self, code};

/// `ResultCode` of an account that does not exist (REST error table: 40006 is a failed
/// read; the sandbox uses the account-not-found code of the login service).
const NO_SUCH_ACCOUNT: i64 = 70107;

/// Every account's set tags.
#[derive(Default)]
pub struct Profiles {
    tags: Mutex<HashMap<String, BTreeMap<String, Value>>>,
}

fn accounts_of(b: &Value) -> Vec<String> {
    let list = b
        .get("To_Account")
        .or_else(|| b.get("UserItem"))
        .and_then(Value::as_array);
    list.into_iter()
        .flatten()
        .filter_map(|u| {
            u.as_str()
                .or_else(|| u.get("To_Account").and_then(Value::as_str))
                .map(str::to_owned)
        })
        .collect()
}

impl Sandbox {
    pub(super) fn profiles_lock(
        &self,
    ) -> std::sync::MutexGuard<'_, HashMap<String, BTreeMap<String, Value>>> {
        self.profiles.tags.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// `portrait_get_all` / `portrait_get`: the set tags of each account asked for.
    pub fn portrait_get(&self, b: &Value) -> Value {
        let tags = self.profiles_lock();
        let items: Vec<Value> = accounts_of(b)
            .into_iter()
            .map(|u| {
                if !self.exists(&u) {
                    return json!({"To_Account": u, "ProfileItem": [], "ResultCode": NO_SUCH_ACCOUNT,
                                  "ResultInfo": "account not found"});
                }
                let items: Vec<Value> = tags
                    .get(&u)
                    .into_iter()
                    .flatten()
                    .map(|(t, v)| json!({"Tag": t, "Value": v}))
                    .collect();
                json!({"To_Account": u, "ProfileItem": items, "ResultCode": 0, "ResultInfo": ""})
            })
            .collect();
        json!({"ActionStatus": "OK", "ErrorCode": 0, "ErrorInfo": "", "UserProfileItem": items})
    }

    /// `portrait_set` by `user` (the REST admin names the account in `From_Account`): stores
    /// the tags and tells the account's other instances (all but `except_conn`).
    pub fn portrait_set(&self, user: &str, except_conn: Option<u64>, b: &Value) -> Value {
        let Some(items) = b.get("ProfileItem").and_then(Value::as_array) else {
            return wire::error_body(code::INVALID_REQUEST, "ProfileItem must be an array");
        };
        if !self.exists(user) {
            return wire::error_body(code::ACCOUNT_NOT_FOUND, "account not found");
        }
        let mut changed = Vec::new();
        {
            let mut tags = self.profiles_lock();
            let mine = tags.entry(user.to_owned()).or_default();
            for i in items {
                let (Some(tag), Some(value)) =
                    (i.get("Tag").and_then(Value::as_str), i.get("Value"))
                else {
                    return wire::error_body(
                        code::INVALID_REQUEST,
                        "ProfileItem needs Tag and Value",
                    );
                };
                mine.insert(tag.to_owned(), value.clone());
                changed.push(json!({"Tag": tag, "ValueBytes": value}));
            }
        }
        let item = json!({"PushType": 1, "Profile_Account": user, "ProfileList": changed});
        self.push_to(
            user,
            &push_frame(7, "ProfileDataMod", vec![item]),
            except_conn,
        );
        json!({"ActionStatus": "OK", "ErrorCode": 0, "ErrorInfo": ""})
    }
}
