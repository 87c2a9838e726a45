//! The `easemob.pb` protobuf schema, generated at build time from `proto/easemob.proto`
//! (extracted from the official Web SDK by `scripts/extract-easemob-proto.js`).

#![allow(clippy::all, missing_docs)]
include!(concat!(env!("OUT_DIR"), "/easemob.pb.rs"));
