#!/usr/bin/env node
"use strict";
// Remote-controlled official JMessage Web SDK peer for imbridge conformance tests.
//
//   node tests/sdk/jmessage-agent.js --bundle PATH/jmessage-sdk-web.2.5.0.min.js --address ws://127.0.0.1:PORT
//
// Runs the UNMODIFIED JMessage Web SDK 2.5.0 bundle (never on npm; loaded from ../shared/vendor, never
// copied into this repository) in Node with the browser globals it needs (polyfills.js: window, navigator,
// localStorage, location, WebSocket from `ws`; plus a document with documentElement.style, which its
// bundled `debug` reads). The SDK's own socket.io-client 2 (Engine.IO v3) connects to `address`.
// Protocol: one JSON object per line.
//   stdin   {"id":N,"op":"...",...}
//   stdout  {"id":N,"ok":true,"result":<json>} | {"id":N,"ok":false,"error":<the SDK's onFail/onTimeout data>}
//           {"event":"<name>","data":<json>}
// stdout carries nothing else: every console method goes to stderr.
//
// ops (each calls the SDK method and answers with what its onSuccess / onFail / onTimeout got)
//   ping                                      -> {sdk, version}
//   init {appkey, random_str, timestamp, signature, flag}
//   initSigned {appkey, master_secret_file}   init signed here with the masterSecret in that file
//   register {username, password}
//   login {username, password}
//   sendSingleMsg {target_username, content, extras?}
//   sendSingleCustom {target_username, custom}
//   createGroup {group_name, group_description?} getGroupInfo {gid} getGroups getGroupMembers {gid}
//   addGroupMembers / delGroupMembers {gid, member_usernames:[{username}]}
//   updateGroupInfo {gid, group_name?, group_description?} exitGroup {gid}
//   sendGroupMsg {target_gid, target_gname?, content, extras?} msgRetract {msg_id}
//   addSingleReceiptReport {username, msg_ids} addGroupReceiptReport {gid, msg_ids}
//   msgUnreadList {msg_id}                    -> {msg_unread_list: {read_list, unread_list}}
//   sendSinglePic / sendSingleFile {target_username, fname, data_b64, mime?} sendGroupPic {target_gid, …}
//   getResource {media_id} -> {url}
//   getNoDisturb  add|delSingleNoDisturb {target_name}  add|delGroupNoDisturb {gid}
//   add|delGlobalNoDisturb
//   loginOut                                  -> null
//   exit                                      -> reply, exit(0)
// events
//   "ready" once at start; msgReceive, syncConversation, eventNotification, disconnect,
//   msgReceiptChange, syncEvent, syncMsgReceipt (the SDK's onMsgReceive / onSyncConversation /
//   onEventNotification / onDisconnect / onMsgReceiptChange / onSyncEvent / onSyncMsgReceipt
//   callbacks: the last two get the events and receipt changes missed while offline);
//   "unhandledRejection" / "uncaughtException" {message, stack}; "stdinClosed" before exiting on EOF.

for (const m of ["log", "info", "warn", "error", "debug", "trace"]) {
  console[m] = (...a) => process.stderr.write(a.map((x) => (typeof x === "string" ? x : safeString(x))).join(" ") + "\n");
}

function safeString(x) {
  try {
    return JSON.stringify(x);
  } catch (_) {
    return String(x);
  }
}

function arg(name, dflt) {
  const i = process.argv.indexOf(name);
  return i >= 0 && i + 1 < process.argv.length ? process.argv[i + 1] : dflt;
}

const bundle = arg("--bundle", "");
const address = arg("--address", "ws://127.0.0.1:18100");

require("./polyfills").install({ log: (m) => process.stderr.write(m + "\n") });
globalThis.document = {
  addEventListener() {}, removeEventListener() {}, hidden: false, visibilityState: "visible",
  getElementById() { return null; }, documentElement: { style: {} },
};

function out(obj) {
  process.stdout.write(JSON.stringify(obj) + "\n");
}

function emit(event, data) {
  out({ event, data: data === undefined ? null : data });
}

process.on("unhandledRejection", (e) => emit("unhandledRejection", { message: String(e && e.message || e), stack: e && e.stack }));
process.on("uncaughtException", (e) => emit("uncaughtException", { message: String(e && e.message || e), stack: e && e.stack }));

// A relative path is the caller's (the working directory), not this file's.
const JMessage = require(require("path").resolve(bundle));
// Uploads go where the socket goes (the sandbox serves POST /resource), not to sdk.im.jiguang.cn.
const uploadFile = address.replace(/^ws/, "http").replace(/\/$/, "") + "/resource";
const jim = new JMessage({ address, upload_file: uploadFile, debug: process.env.JMESSAGE_DEBUG === "1" });
jim.onMsgReceive((d) => emit("msgReceive", d));
jim.onSyncConversation((d) => emit("syncConversation", d));
jim.onEventNotification((d) => emit("eventNotification", d));
jim.onDisconnect(() => emit("disconnect", null));
jim.onMsgReceiptChange((d) => emit("msgReceiptChange", d));
jim.onSyncEvent((d) => emit("syncEvent", d));
jim.onSyncMsgReceipt((d) => emit("syncMsgReceipt", d));

// Every SDK call returns a request object with onSuccess / onFail / onTimeout (and onAck).
function settle(req) {
  return new Promise((resolve, reject) => {
    req.onSuccess((data) => resolve(data === undefined ? null : data))
      .onFail((data) => reject(data))
      .onTimeout((data) => reject({ timeout: true, data }));
  });
}

function handle(cmd) {
  switch (cmd.op) {
    case "ping":
      return Promise.resolve({ sdk: "jmessage-sdk-web", version: "2.5.0" });
    case "init":
      return settle(jim.init({ appkey: cmd.appkey, random_str: cmd.random_str, signature: cmd.signature,
        timestamp: cmd.timestamp, flag: cmd.flag || 0 }));
    case "initSigned": {
      // For a person at a terminal (scripts/demo.sh): the c_init signature made here from
      // the masterSecret in a file, as an app's own server would make it.
      const secret = require("fs").readFileSync(cmd.master_secret_file, "utf8").trim();
      const timestamp = Date.now();
      const random_str = require("crypto").randomBytes(12).toString("hex");
      const signature = require("crypto").createHash("md5")
        .update(`appkey=${cmd.appkey}&timestamp=${timestamp}&random_str=${random_str}&key=${secret}`).digest("hex");
      return settle(jim.init({ appkey: cmd.appkey, random_str, signature, timestamp, flag: 0 }));
    }
    case "register":
      return settle(jim.register({ username: cmd.username, password: cmd.password }));
    case "login":
      return settle(jim.login({ username: cmd.username, password: cmd.password }));
    case "sendSingleMsg": {
      const a = { target_username: cmd.target_username, content: cmd.content };
      if (cmd.extras) a.extras = cmd.extras;
      if (cmd.appkey) a.appkey = cmd.appkey; // a user of another app (cross-app)
      return settle(jim.sendSingleMsg(a));
    }
    case "sendSingleCustom":
      return settle(jim.sendSingleCustom({ target_username: cmd.target_username, custom: cmd.custom }));
    // Groups and recall (the SDK's own argument names).
    case "createGroup":
      return settle(jim.createGroup({ group_name: cmd.group_name, group_description: cmd.group_description || "" }));
    case "getGroupInfo":
      return settle(jim.getGroupInfo({ gid: cmd.gid }));
    case "getGroups":
      return settle(jim.getGroups());
    case "getGroupMembers":
      return settle(jim.getGroupMembers({ gid: cmd.gid }));
    case "addGroupMembers":
      return settle(jim.addGroupMembers({ gid: cmd.gid, member_usernames: cmd.member_usernames }));
    case "delGroupMembers":
      return settle(jim.delGroupMembers({ gid: cmd.gid, member_usernames: cmd.member_usernames }));
    case "updateGroupInfo": {
      const a = { gid: cmd.gid };
      if (cmd.group_name !== undefined) a.group_name = cmd.group_name;
      if (cmd.group_description !== undefined) a.group_description = cmd.group_description;
      return settle(jim.updateGroupInfo(a));
    }
    case "exitGroup":
      return settle(jim.exitGroup({ gid: cmd.gid }));
    case "sendGroupMsg": {
      const a = { target_gid: cmd.target_gid, target_gname: cmd.target_gname, content: cmd.content };
      if (cmd.extras) a.extras = cmd.extras;
      return settle(jim.sendGroupMsg(a));
    }
    case "getUserInfo":
      return settle(jim.getUserInfo({ username: cmd.username, appkey: cmd.appkey }));
    case "msgRetract":
      return settle(jim.msgRetract({ msg_id: cmd.msg_id }));
    // Read reports (batched by the SDK, sent within RECEIPT_REPORT_INTERVAL = 2 s).
    case "addSingleReceiptReport":
      return settle(jim.addSingleReceiptReport({ username: cmd.username, appkey: cmd.appkey, msg_ids: cmd.msg_ids }));
    case "addGroupReceiptReport":
      return settle(jim.addGroupReceiptReport({ gid: cmd.gid, msg_ids: cmd.msg_ids }));
    case "msgUnreadList":
      return settle(jim.msgUnreadList({ msg_id: cmd.msg_id }));
    // Media: the file travels as the browser's FormData (one part named fname), as the SDK guide says.
    case "sendSinglePic":
    case "sendGroupPic":
    case "sendSingleFile": {
      const fd = new FormData();
      fd.append(cmd.fname, new Blob([Buffer.from(cmd.data_b64, "base64")], { type: cmd.mime || "application/octet-stream" }), cmd.fname);
      if (cmd.op === "sendSinglePic") return settle(jim.sendSinglePic({ target_username: cmd.target_username, image: fd }));
      if (cmd.op === "sendGroupPic") return settle(jim.sendGroupPic({ target_gid: cmd.target_gid, image: fd }));
      return settle(jim.sendSingleFile({ target_username: cmd.target_username, file: fd }));
    }
    case "getResource":
      return settle(jim.getResource({ media_id: cmd.media_id }));
    // Friends and the blacklist (the SDK's own argument names).
    case "addFriend":
      return settle(jim.addFriend({ target_name: cmd.target_name, why: cmd.why }));
    case "acceptFriend": {
      const a = { target_name: cmd.target_name };
      if (cmd.appkey) a.appkey = cmd.appkey; // a user of another app (cross-app)
      return settle(jim.acceptFriend(a));
    }
    case "declineFriend":
      return settle(jim.declineFriend({ target_name: cmd.target_name, why: cmd.why }));
    case "delFriend":
      return settle(jim.delFriend({ target_name: cmd.target_name }));
    case "getFriendList":
      return settle(jim.getFriendList());
    case "addSingleBlacks":
      return settle(jim.addSingleBlacks({ member_usernames: cmd.member_usernames }));
    case "delSingleBlacks":
      return settle(jim.delSingleBlacks({ member_usernames: cmd.member_usernames }));
    case "getBlacks":
      return settle(jim.getBlacks());
    // No-disturb (the SDK's own argument names).
    case "getNoDisturb":
      return settle(jim.getNoDisturb());
    case "addSingleNoDisturb": {
      const a = { target_name: cmd.target_name };
      if (cmd.appkey) a.appkey = cmd.appkey; // a user of another app (cross-app)
      return settle(jim.addSingleNoDisturb(a));
    }
    case "delSingleNoDisturb":
      return settle(jim.delSingleNoDisturb({ target_name: cmd.target_name }));
    case "addGroupNoDisturb":
      return settle(jim.addGroupNoDisturb({ gid: cmd.gid }));
    case "delGroupNoDisturb":
      return settle(jim.delGroupNoDisturb({ gid: cmd.gid }));
    case "addGlobalNoDisturb":
      return settle(jim.addGlobalNoDisturb());
    case "delGlobalNoDisturb":
      return settle(jim.delGlobalNoDisturb());
    case "loginOut":
      jim.loginOut();
      return Promise.resolve(null);
    case "exit":
      setTimeout(() => process.exit(0), 10);
      return Promise.resolve(null);
    default:
      return Promise.reject({ message: "unknown op " + cmd.op });
  }
}

let buf = "";
process.stdin.setEncoding("utf8");
process.stdin.on("data", (chunk) => {
  buf += chunk;
  let i;
  while ((i = buf.indexOf("\n")) >= 0) {
    const line = buf.slice(0, i).trim();
    buf = buf.slice(i + 1);
    if (!line) continue;
    let cmd;
    try {
      cmd = JSON.parse(line);
    } catch (e) {
      out({ id: null, ok: false, error: { message: "bad JSON: " + e.message } });
      continue;
    }
    let p;
    try {
      p = handle(cmd);
    } catch (e) {
      p = Promise.reject({ message: String(e && e.message || e) });
    }
    p.then(
      (result) => out({ id: cmd.id, ok: true, result }),
      (e) => out({ id: cmd.id, ok: false, error: e === undefined ? null : e }),
    );
  }
});
process.stdin.on("end", () => {
  emit("stdinClosed", null);
  setTimeout(() => process.exit(0), 10);
});

emit("ready", { sdk: "jmessage-sdk-web", version: "2.5.0", address });
