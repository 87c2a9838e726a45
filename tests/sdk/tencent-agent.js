#!/usr/bin/env node
"use strict";
// Remote-controlled official Tencent Cloud Chat SDK peer for imbridge conformance tests.
//
//   node tests/sdk/tencent-agent.js --sdk-app-id N --server ws://127.0.0.1:PORT [--log-level 0..5]
//        [--sdk tim [--sdk-dir NODE_MODULES]] [--upload-plugin [--private-network]]
//
// Runs the UNMODIFIED @tencentcloud/chat 3.6.6 bundle (tests/sdk/node_modules) — or, with
// `--sdk tim`, the older tim-js-sdk 2.27.6 (same API and events; from NODE_MODULES when given) — in Node with
// `global.WebSocket = require("ws")` and `proxyServer` pointing at the sandbox (the SDK then
// connects to {server}/binfo?... and skips its HTTP telemetry). Protocol: one JSON object per line.
//   stdin   {"id":N,"op":"...",...}
//   stdout  {"id":N,"ok":true,"result":<json>} | {"id":N,"ok":false,"error":{code,message,...}}
//           {"event":"<name>","data":<json>}
// stdout carries nothing else: every console method (the SDK's logger included) goes to stderr.
//
// ops
//   ping                        -> {sdk, version}
//   login {userID, userSig}     -> await chat.login(...); result = its data
//   logout                      -> await chat.logout()
//   sendText {to, text}         -> m = chat.createTextMessage({to, conversationType:"C2C", payload:{text}});
//                                  result = (await chat.sendMessage(m)).data.message
//   sendText {.., cloudCustomData?} (a reply: the TUIKit `messageReply` JSON)
//   sendText / sendGroupText {.., needReadReceipt?} (the message asks for per-message read receipts)
//   onMessages {method, messageIDs, args?} -> await chat[method](messageIDs.map(findMessage), ...args)
//                                  (sendMessageReadReceipt, getMessageReadReceiptList); result = its data
//   readMembers {messageID, filter, cursor?, count?}
//                               -> (await chat.getGroupMessageReadMemberList({message, filter, cursor, count})).data
//   sendCustom {to, data, onlineUserOnly?} -> a C2C custom message (payload.data = data)
//   onMessage {method, messageID, text?, args?} -> await chat[method](chat.findMessage(messageID), ...args)
//                                  (revokeMessage, modifyMessage with payload.text = text,
//                                  addMessageReaction / removeMessageReaction with args [reactionID]);
//                                  result = its data
//   getMessageReactions {messageIDs, maxUserCountPerReaction}
//                               -> (await chat.getMessageReactions({messageList: the found messages,
//                                  maxUserCountPerReaction})).data ({resultList: [{messageID, reactionList}]})
//   sendGroupText {groupID, text, atUserList?, cloudCustomData?}
//                               -> the same for conversationType "GROUP" (atUserList: createTextAtMessage,
//                                  "__kImSDK_MesssageAtALL__" for @all); result = the sent message
//   sendGroupCustom {groupID, data} -> a group custom message (payload.data = data); result = the sent message
//   call {method, args:[...]}   -> await chat[method](...args)
//   sign {userID, expire, key}  -> UserSig from npm tls-sig-api-v2 1.0.2 for this SDKAppID
//   verify {userSig, key}       -> {doc, ok}: the UserSig inflated, and whether its TLS.sig equals the
//                                  package's own HMAC (Api._hmacsha256; the package has no verify call)
//   sendImage / sendFile {to | groupID, name, type, base64}
//                               -> (needs --upload-plugin) chat.createImageMessage / createFileMessage with
//                                  payload.file = {files: [new File([bytes], name, {type})]} (what an
//                                  <input type=file> gives the SDK), then sendMessage; result = the sent message
//   fetch {url}                 -> {status, base64}: a GET of a URL from a message (Node's fetch), to compare bytes
//   exit                        -> reply, exit(0) (no destroy(): after a refused login it rejects unhandled)
// events
//   every TencentCloudChat.EVENT (name = the event's string value, data = event.data), plus "ready" once
//   at start, "unhandledRejection" / "uncaughtException" {message, stack} (the process keeps running),
//   "stdinClosed" before exiting on EOF.

for (const m of ["log", "info", "warn", "error", "debug", "trace"]) {
  console[m] = (...a) => process.stderr.write(a.map((x) => (typeof x === "string" ? x : safeString(x))).join(" ") + "\n");
}

function safeString(x) {
  try {
    return JSON.stringify(jsonSafe(x));
  } catch (_) {
    return String(x);
  }
}

function arg(name, dflt) {
  const i = process.argv.indexOf(name);
  return i >= 0 && i + 1 < process.argv.length ? process.argv[i + 1] : dflt;
}

const sdkAppId = Number(arg("--sdk-app-id", "0"));
const server = arg("--server", "ws://127.0.0.1:18090");
const logLevel = Number(arg("--log-level", "4"));

global.WebSocket = require("ws");
const sdkKind = arg("--sdk", "chat");
const sdkDir = arg("--sdk-dir", "");
const sdkModule = sdkKind === "tim" ? (sdkDir ? require("path").join(sdkDir, "tim-js-sdk") : "tim-js-sdk") : "@tencentcloud/chat";
// tim-js-sdk 2.x reads `window` / `navigator` / `document` unguarded (its storage module, its online/offline
// listeners), where @tencentcloud/chat checks first: a minimal browser face, without cookies or
// localStorage (so the SDK keeps nothing between runs).
if (sdkKind === "tim") {
  if (typeof navigator === "undefined") global.navigator = { userAgent: "node", cookieEnabled: false };
  // It sizes outgoing text by `document.characterSet`.
  if (typeof document === "undefined") global.document = { characterSet: "UTF-8", charset: "UTF-8" };
  if (typeof window === "undefined") {
    global.window = { navigator: global.navigator, console, URL, addEventListener() {}, removeEventListener() {} };
  }
}
const TencentCloudChat = require(sdkModule);
const pkg = require(sdkModule + "/package.json");

// --upload-plugin: media as a browser app sends it. The SDK then uploads with npm
// tim-upload-plugin 1.4.3 (registered below), which PUTs the file with an XMLHttpRequest: Node has
// none, so ./xhr.js (a browser-like XMLHttpRequest over Node's fetch, loopback only here) stands in
// for the browser's. The image element's constructor calls `window.URL.createObjectURL(file)`
// (its preview URL): `window` is {URL} during that synchronous call only (withWindow), so the SDK
// never takes itself for a browser otherwise.
const uploadPlugin = process.argv.includes("--upload-plugin");
if (uploadPlugin) {
  const { createXMLHttpRequest } = require("./xhr");
  const loopback = (url) => /^https?:\/\/(127\.0\.0\.1|localhost|\[::1\])(:\d+)?\//.test(url);
  global.XMLHttpRequest = createXMLHttpRequest({
    rewrite: (url) => url,
    allow: loopback,
    log: (msg) => process.stderr.write("xhr: " + msg + "\n"),
  });
}

function withWindow(f) {
  if (typeof window !== "undefined") return f();
  global.window = { URL };
  try {
    return f();
  } finally {
    delete global.window;
  }
}

// Cycles are cut on the current path only (ancestors), so a value shared by two fields (a message's
// `payload` is its first element's `content`) appears under both.
function jsonSafe(v, ancestors = [], depth = 0) {
  if (v === null || v === undefined) return v === null ? null : undefined;
  if (typeof v === "bigint") return v.toString();
  if (typeof v === "function") return undefined;
  if (typeof v !== "object") return v;
  if (depth > 12 || ancestors.includes(v)) return undefined;
  const path = ancestors.concat([v]);
  if (v instanceof Error) {
    const o = { type: v.name, message: v.message };
    for (const k of Object.keys(v)) o[k] = jsonSafe(v[k], path, depth + 1);
    return o;
  }
  if (Array.isArray(v)) return v.map((x) => jsonSafe(x, path, depth + 1));
  const o = {};
  for (const k of Object.keys(v)) {
    const x = jsonSafe(v[k], path, depth + 1);
    if (x !== undefined) o[k] = x;
  }
  // Message objects keep their payload behind a getter.
  if (v.payload !== undefined && o.payload === undefined) o.payload = jsonSafe(v.payload, path, depth + 1);
  return o;
}

function out(obj) {
  process.stdout.write(JSON.stringify(obj) + "\n");
}

function emit(event, data) {
  out({ event, data: jsonSafe(data) });
}

process.on("unhandledRejection", (e) => emit("unhandledRejection", { message: String(e && e.message || e), stack: e && e.stack }));
process.on("uncaughtException", (e) => emit("uncaughtException", { message: String(e && e.message || e), stack: e && e.stack }));

// With --upload-plugin the SDK's `fileDownloadProxy` option names the sandbox's own HTTP address:
// `proxyServer` alone makes the SDK take its private-network upload path (`pre_sig`, image sizes
// read by loading the picture in a browser `Image`); with a download proxy it takes the path of
// apps on Tencent's cloud (`simple_sig`, `get_imageinfo`), and its download URLs keep pointing at
// the sandbox.
// --private-network leaves the proxy out: the SDK then signs with `pre_sig` and reads an image's
// size by loading it in a browser `Image`, which Node lacks; the stand-in below fetches the picture
// and reads its PNG / GIF / JPEG header (loopback only), then calls onload (onerror on failure), as
// a browser's Image would for the SDK's purpose (width and height).
const privateNetwork = process.argv.includes("--private-network");
const createOptions = { SDKAppID: sdkAppId, proxyServer: server };
if (uploadPlugin && !privateNetwork) createOptions.fileDownloadProxy = server.replace(/^ws/, "http");
if (uploadPlugin && privateNetwork && typeof Image === "undefined") {
  global.Image = class {
    constructor() {
      this.width = 0;
      this.height = 0;
      this.onload = null;
      this.onerror = null;
    }
    set src(url) {
      this._src = url;
      const done = (ok) => {
        const f = ok ? this.onload : this.onerror;
        if (typeof f === "function") f.call(this, { type: ok ? "load" : "error" });
      };
      if (!/^https?:\/\/(127\.0\.0\.1|localhost|\[::1\])(:\d+)?\//.test(url)) return setImmediate(() => done(false));
      fetch(url)
        .then((r) => r.arrayBuffer())
        .then((ab) => {
          const size = imageSize(Buffer.from(ab));
          if (!size) return done(false);
          [this.width, this.height] = size;
          done(true);
        })
        .catch(() => done(false));
    }
    get src() {
      return this._src;
    }
  };
}

function imageSize(b) {
  if (b.length >= 24 && b.readUInt32BE(0) === 0x89504e47) return [b.readUInt32BE(16), b.readUInt32BE(20)];
  if (b.length >= 10 && b.toString("latin1", 0, 4) === "GIF8") return [b.readUInt16LE(6), b.readUInt16LE(8)];
  if (b.length >= 4 && b[0] === 0xff && b[1] === 0xd8) {
    for (let i = 2; i + 9 < b.length; ) {
      if (b[i] !== 0xff) return null;
      const marker = b[i + 1];
      if (marker >= 0xc0 && marker <= 0xcf && ![0xc4, 0xc8, 0xcc].includes(marker)) return [b.readUInt16BE(i + 7), b.readUInt16BE(i + 5)];
      i += 2 + b.readUInt16BE(i + 2);
    }
  }
  return null;
}
const chat = TencentCloudChat.create(createOptions);
chat.setLogLevel(logLevel);
if (uploadPlugin) chat.registerPlugin({ "tim-upload-plugin": require("tim-upload-plugin") });
for (const name of Object.values(TencentCloudChat.EVENT)) {
  chat.on(name, (e) => emit(name, e && e.data));
}

// The SDK's messages of `ids` (chat.findMessage), or an error naming the first unknown one.
function findMessages(chat, ids) {
  return ids.map((id) => {
    const m = chat.findMessage(id);
    if (!m) throw new Error("no message " + id);
    return m;
  });
}

async function handle(cmd) {
  switch (cmd.op) {
    case "ping":
      return { sdk: pkg.name, version: pkg.version };
    case "login":
      return (await chat.login({ userID: cmd.userID, userSig: cmd.userSig })).data;
    case "logout":
      return (await chat.logout()).data;
    case "sendText": {
      const m = chat.createTextMessage({ to: cmd.to, conversationType: TencentCloudChat.TYPES.CONV_C2C, payload: { text: cmd.text }, cloudCustomData: cmd.cloudCustomData || "", needReadReceipt: !!cmd.needReadReceipt });
      return (await chat.sendMessage(m)).data.message;
    }
    case "sendCustom": {
      const m = chat.createCustomMessage({ to: cmd.to, conversationType: TencentCloudChat.TYPES.CONV_C2C, payload: { data: cmd.data, description: "", extension: "" } });
      return (await chat.sendMessage(m, { onlineUserOnly: !!cmd.onlineUserOnly })).data.message;
    }
    case "onMessage": {
      const m = chat.findMessage(cmd.messageID);
      if (!m) throw new Error("no message " + cmd.messageID);
      if (cmd.text !== undefined) m.payload.text = cmd.text;
      return (await chat[cmd.method](m, ...(cmd.args || []))).data;
    }
    case "getMessageReactions": {
      const messageList = findMessages(chat, cmd.messageIDs);
      return (await chat.getMessageReactions({ messageList, maxUserCountPerReaction: cmd.maxUserCountPerReaction })).data;
    }
    case "onMessages":
      return (await chat[cmd.method](findMessages(chat, cmd.messageIDs), ...(cmd.args || []))).data;
    case "readMembers": {
      const message = chat.findMessage(cmd.messageID);
      if (!message) throw new Error("no message " + cmd.messageID);
      return (await chat.getGroupMessageReadMemberList({ message, filter: cmd.filter, cursor: cmd.cursor || "", count: cmd.count || 100 })).data;
    }
    case "sendGroupText": {
      const opts = { to: cmd.groupID, conversationType: TencentCloudChat.TYPES.CONV_GROUP, payload: { text: cmd.text }, needReadReceipt: !!cmd.needReadReceipt, cloudCustomData: cmd.cloudCustomData || "" };
      let m;
      if (cmd.atUserList) {
        opts.payload.atUserList = cmd.atUserList;
        m = chat.createTextAtMessage(opts);
      } else {
        m = chat.createTextMessage(opts);
      }
      return (await chat.sendMessage(m)).data.message;
    }
    case "sendGroupCustom": {
      const m = chat.createCustomMessage({ to: cmd.groupID, conversationType: TencentCloudChat.TYPES.CONV_GROUP, payload: { data: cmd.data, description: "", extension: "" } });
      return (await chat.sendMessage(m)).data.message;
    }
    case "sendImage":
    case "sendFile": {
      const file = new File([Buffer.from(cmd.base64, "base64")], cmd.name, { type: cmd.type });
      const opts = cmd.groupID
        ? { to: cmd.groupID, conversationType: TencentCloudChat.TYPES.CONV_GROUP }
        : { to: cmd.to, conversationType: TencentCloudChat.TYPES.CONV_C2C };
      opts.payload = { file: { files: [file] } };
      const m = cmd.op === "sendImage" ? withWindow(() => chat.createImageMessage(opts)) : chat.createFileMessage(opts);
      return (await chat.sendMessage(m)).data.message;
    }
    case "fetch": {
      const r = await fetch(cmd.url);
      return { status: r.status, base64: Buffer.from(await r.arrayBuffer()).toString("base64") };
    }
    case "call":
      return await chat[cmd.method](...(cmd.args || []));
    case "sign": {
      const TLSSigAPIv2 = require("tls-sig-api-v2");
      return new TLSSigAPIv2.Api(sdkAppId, cmd.key).genSig(cmd.userID, cmd.expire);
    }
    case "verify": {
      const TLSSigAPIv2 = require("tls-sig-api-v2");
      const api = new TLSSigAPIv2.Api(sdkAppId, cmd.key);
      const b64 = cmd.userSig.replace(/_/g, "=").replace(/-/g, "/").replace(/\*/g, "+");
      const doc = JSON.parse(require("zlib").inflateSync(Buffer.from(b64, "base64")).toString());
      const expect = api._hmacsha256(doc["TLS.identifier"], doc["TLS.time"], doc["TLS.expire"], null);
      return { doc, ok: doc["TLS.sig"] === expect && doc["TLS.sdkappid"] === sdkAppId };
    }
    case "exit":
      setTimeout(() => process.exit(0), 10);
      return null;
    default:
      throw new Error("unknown op " + cmd.op);
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
    handle(cmd).then(
      (result) => out({ id: cmd.id, ok: true, result: jsonSafe(result) === undefined ? null : jsonSafe(result) }),
      (e) => out({ id: cmd.id, ok: false, error: jsonSafe(e) }),
    );
  }
});
process.stdin.on("end", () => {
  emit("stdinClosed", null);
  setTimeout(() => process.exit(0), 10);
});

emit("ready", { sdk: pkg.name, version: pkg.version, sdkAppId, server });
