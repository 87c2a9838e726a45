#!/usr/bin/env node
"use strict";
// Remote-controlled official-SDK peer for imbridge conformance tests.
//
//   node tests/sdk/agent.js --sdk easemob|agora --app-key ORG#APP \
//        --api http://127.0.0.1:PORT --url ws://127.0.0.1:PORT/websocket \
//        [--dns http://127.0.0.1:PORT] [--delivery] [--log-level trace|debug|info|warn|error|silent]
//
// Runs the UNMODIFIED easemob-websdk 4.21.1 or agora-chat 1.4.0 bundle (tests/sdk/node_modules) in Node
// with browser polyfills (polyfills.js, xhr.js). Protocol: one JSON object per line.
//   stdin   {"id":N,"op":"...",...}
//   stdout  {"id":N,"ok":true,"result":<json>} | {"id":N,"ok":false,"error":{type,message,data,...}}
//           {"event":"<name>","data":<json>}
// stdout carries nothing else: every console method (the SDK's logger included) goes to stderr.
//
// ops
//   ping                                  -> {sdk, version}
//   register {user,pwd,nickname?}         -> conn.registerUser({username,password,nickname})
//   open {user,pwd} | {user,accessToken}  -> conn.open(...); result = what open() resolves with, plus
//                                            accessToken (conn.context.accessToken) and user
//                                            (other fields are passed to open() as given)
//   close                                 -> conn.close(); result null
//   send {msg}                            -> m = message.create(msg); r = await conn.send(m);
//                                            result = {...r (localMsgId, serverMsgId), message: m}
//   sendFile {type:"img"|"file"|"audio"|"video", to, chatType, path, filename?, mime?, width?, height?,
//             length?, ...other create() options}
//                                         -> uploads through the SDK's own REST upload, then sends;
//                                            result = {localMsgId, serverMsgId, url, upload, message}
//   call {method, args:[...]}             -> await conn[method](...args) ("a.b" calls conn.a.b with this=conn.a);
//                                            an argument {"$message": {...}} becomes WebIM.message.create({...})
//   exit                                  -> reply, close, exit(0)
// events
//   every handler dispatched through conn.addEventHandler (see the list below), plus
//   "ready" {sdk, version, options} once at start, "unhandledRejection" / "uncaughtException" {type,message,data,stack}
//   (the process does not crash on those), "stdinClosed" before exiting on EOF.
// Values are made JSON-safe: BigInt and protobufjs Long -> decimal string, cycles dropped, functions and
// undefined dropped, Error -> {type,message,data,...}, bytes -> {"$bytes": base64}, Blob/File ->
// {name,size,type}, XMLHttpRequest -> {status,statusText,responseText}.
//
// SDK facts (easemob-websdk 4.21.1; agora-chat 1.4.0 has the same API unless noted), from reading the bundle
// and running it:
//  * Module: require("easemob-websdk") is {connection, message, utils, logger, statusCode};
//    require("agora-chat") puts the same object under .default.
//  * Platform detection runs at require() time: window.WebSocket must exist first (else platform "node",
//    i.e. mini-program APIs). Constructing a connection starts timers that keep Node alive: exit explicitly.
//  * Message creation: WebIM.message.create({type:"txt"|"img"|"file"|"audio"|"video"|"loc"|"cmd"|"custom"|
//    "combine"|"read"|"delivery"|"channel", chatType:"singleChat"|"groupChat"|"chatRoom", to, msg, ext, ...})
//    returns a plain object with a fresh `id`; conn.send(msg) resolves {localMsgId, serverMsgId} after the
//    server's CommSyncDL ack (rejects with type 512 after 15 s without one).
//  * Attachments: the SDK expects `file = {url, filename, filetype, data}` where data is a browser File
//    (what message.getFileUrl(<input>) builds); Node 20's File works. send() uploads it with
//    XMLHttpRequest POST {apiUrl}/{org}/{app}/chatfiles?chat-type=CHAT&chat-target=<to> (single chat;
//    multipart FormData field "file", plus thumbnail-width/height when given; Bearer token), expects
//    {entities:[{uuid, "share-secret", "file-metadata"?}]} and then sends a message whose url is {apiUrl}/{org}/{app}/chatfiles/{uuid}; msg.url / onFileUploadComplete's url carry
//    "?em-redirect=true&share-secret=...". Files larger than 1.5 x 5 MiB use the multipart-upload REST API
//    (/sdk/chatfiles/part-upload/...) unless server.json said uploadinparts_enable:"false" (DNS mode only).
//  * registerUser({username, password, nickname?}) -> POST {apiUrl}/{org}/{app}/users (no Authorization).
//    Resolves with the REST body plus {extraInfo, type:0}.
//  * open({user, pwd}) -> POST /token first, resolves {accessToken, duration} (duration = expires_in);
//    open({user, accessToken}) makes no REST call and resolves {accessToken}. onConnected is dispatched
//    before open() resolves. A wrong password rejects {type:1, message:"invalid password", data:{type:17,...}};
//    an unreachable websocket rejects {type:16, "websocket has been disconnected"} after 3 tries, without
//    onError/onDisconnected; open() while a login is in progress rejects {type:1, "Currently logging in..."}.
//    REST calls made before login reject (e.g. getContacts -> {type:700}) and may dispatch onError{type:28}.
//  * With delivery:true, every received single-chat message is answered with a DELIVER_ACK, whose server
//    ack also shows up as an onReceivedMessage event.
//  * int64 ext values arrive as JS numbers (precision lost above 2^53: 9007199254740993 -> ...992).
//  * close() sends LOGOUT and dispatches onDisconnected; a later open() works on the same connection.
//  * Event handler: conn.addEventHandler(id, handlers); the SDK's dispatcher looks every event up by name
//    in each registered handler object, so the agent registers a Proxy that answers any "on*" name.
//    Names dispatched by 4.21.1: onConnected onDisconnected onReconnecting onError onTokenWillExpire
//    onTokenExpired onOfflineMessageSyncStart onOfflineMessageSyncFinish onOnline onOffline onMessage
//    onTextMessage onImageMessage onAudioMessage onVideoMessage onFileMessage onLocationMessage onCmdMessage
//    onCustomMessage onCombineMessage onStreamMessage onReadMessage onDeliveredMessage onChannelMessage
//    onReceivedMessage onRecallMessage onModifiedMessage onGroupEvent onGroupChange(deprecated twin)
//    onChatroomEvent onChatroomChange(deprecated twin) onChatThreadChange onContactInvited onContactDeleted
//    onContactAdded onContactRefuse onContactAgreed onReactionChange onPresenceStatusChange
//    onMultiDeviceEvent onMessagePinEvent onStatisticMessage (agora-chat 1.4.0: the same minus
//    onStreamMessage). (The legacy conn.listen() callbacks such as
//    onOpened/onClosed/onPresence are not subscribed.)
//  * agora-chat 1.4.0 also needs a global `document` (open() otherwise rejects "document is not defined").

const fs = require("fs");
const path = require("path");
const readline = require("readline");
const { Console } = require("console");

// ---------------------------------------------------------------------------------------------
// stdout is the protocol channel: keep the real writer, send every console method to stderr.

const stdoutWrite = process.stdout.write.bind(process.stdout);
globalThis.console = new Console({ stdout: process.stderr, stderr: process.stderr });
const log = (msg) => process.stderr.write(`[agent] ${msg}\n`);

function usage(msg) {
  if (msg) process.stderr.write(`agent: ${msg}\n`);
  process.stderr.write("usage: node tests/sdk/agent.js --sdk easemob|agora --app-key ORG#APP " +
    "--api http://127.0.0.1:PORT --url ws://127.0.0.1:PORT/websocket [--dns http://127.0.0.1:PORT] " +
    "[--delivery] [--log-level LEVEL]\n");
  process.exit(2);
}

function parseArgs(argv) {
  const o = { sdk: null, appKey: null, api: null, url: null, dns: null, delivery: false, logLevel: "warn" };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const val = () => {
      if (i + 1 >= argv.length) usage(`${a} needs a value`);
      return argv[++i];
    };
    switch (a) {
      case "--sdk": o.sdk = val(); break;
      case "--app-key": o.appKey = val(); break;
      case "--api": o.api = val().replace(/\/+$/, ""); break;
      case "--url": o.url = val(); break;
      case "--dns": o.dns = val().replace(/\/+$/, ""); break;
      case "--delivery": o.delivery = true; break;
      case "--log-level": o.logLevel = val().toLowerCase(); break;
      case "-h": case "--help": usage(); break;
      default: usage(`unknown argument ${a}`);
    }
  }
  if (o.sdk !== "easemob" && o.sdk !== "agora") usage("--sdk must be easemob or agora");
  if (!o.appKey || !/^[^#]+#[^#]+$/.test(o.appKey)) usage("--app-key ORG#APP is required");
  if (!o.dns && (!o.api || !o.url)) usage("--api and --url are required unless --dns is given");
  if (!["trace", "debug", "info", "warn", "error", "silent"].includes(o.logLevel)) usage("bad --log-level");
  return o;
}

const args = parseArgs(process.argv.slice(2));

// ---------------------------------------------------------------------------------------------
// JSON-safe conversion.

function isLong(v) {
  return v && typeof v === "object" && typeof v.low === "number" && typeof v.high === "number"
    && typeof v.unsigned === "boolean" && typeof v.toString === "function";
}

function toPlain(value, stack = [], depth = 0) {
  switch (typeof value) {
    case "string": case "boolean": return value;
    case "number": return Number.isFinite(value) ? value : String(value);
    case "bigint": return value.toString();
    case "undefined": case "function": case "symbol": return undefined;
  }
  if (value === null) return null;
  if (stack.includes(value)) return undefined; // cycle: dropped
  if (depth > 40) return "[too deep]";
  if (isLong(value)) return value.toString();
  if (value instanceof Date) return isNaN(value) ? null : value.toISOString();
  if (Buffer.isBuffer(value) || value instanceof Uint8Array) return { $bytes: Buffer.from(value).toString("base64") };
  if (value instanceof ArrayBuffer) return { $bytes: Buffer.from(value).toString("base64") };
  if (ArrayBuffer.isView(value)) return Array.from(value, (x) => (typeof x === "bigint" ? x.toString() : x));
  if (typeof Blob !== "undefined" && value instanceof Blob) {
    return { $blob: true, name: value.name, size: value.size, type: value.type };
  }
  if (globalThis.XMLHttpRequest && value instanceof globalThis.XMLHttpRequest) {
    return { $xhr: true, status: value.status, statusText: value.statusText,
      responseText: typeof value.responseText === "string" ? value.responseText.slice(0, 4096) : undefined };
  }
  const next = stack.concat([value]);
  if (value instanceof Error) return errorToPlain(value, next, depth);
  if (Array.isArray(value)) {
    return value.map((v) => {
      const p = toPlain(v, next, depth + 1);
      return p === undefined ? null : p;
    });
  }
  if (value instanceof Map) {
    const o = {};
    for (const [k, v] of value) {
      const p = toPlain(v, next, depth + 1);
      if (p !== undefined) o[String(k)] = p;
    }
    return o;
  }
  if (value instanceof Set) return toPlain([...value], stack, depth);
  if (typeof value.then === "function") return "[promise]";
  const o = {};
  for (const k of Object.keys(value)) {
    let v;
    try { v = value[k]; } catch (_) { continue; }
    const p = toPlain(v, next, depth + 1);
    if (p !== undefined) o[k] = p;
  }
  return o;
}

function errorToPlain(e, stack = [], depth = 0) {
  if (e === null || e === undefined) return { type: "unknown", message: String(e) };
  if (typeof e !== "object") return { type: "thrown", message: String(e) };
  const out = {};
  for (const k of Object.keys(e)) {
    let v;
    try { v = e[k]; } catch (_) { continue; }
    const p = toPlain(v, stack.concat([e]), depth + 1);
    if (p !== undefined) out[k] = p;
  }
  if (out.type === undefined) out.type = e instanceof Error ? e.name || "Error" : "unknown";
  if (out.message === undefined && e.message !== undefined) out.message = String(e.message);
  if (e instanceof Error && e.stack) out.stack = String(e.stack).split("\n").slice(0, 8).join("\n");
  return out;
}

function send(obj) {
  let line;
  try {
    line = JSON.stringify(obj);
  } catch (e) {
    line = JSON.stringify({ event: "agentError", data: { message: `serialisation failed: ${e.message}` } });
  }
  stdoutWrite(line + "\n");
}

function emit(event, data) {
  const p = toPlain(data);
  send(p === undefined ? { event } : { event, data: p });
}

process.stdout.on("error", (e) => {
  // The test harness went away (EPIPE): nothing left to talk to.
  log(`stdout error: ${e.message}`);
  process.exit(0);
});
process.on("unhandledRejection", (reason) => {
  log(`unhandledRejection: ${reason && reason.stack || JSON.stringify(toPlain(reason))}`);
  emit("unhandledRejection", errorToPlain(reason));
});
process.on("uncaughtException", (err) => {
  log(`uncaughtException: ${err && err.stack || err}`);
  emit("uncaughtException", errorToPlain(err));
});

// ---------------------------------------------------------------------------------------------
// Polyfills, then the SDK.

require("./polyfills").install({ dnsBase: args.dns, log, document: args.sdk === "agora" });

const SDK_PACKAGES = { easemob: "easemob-websdk", agora: "agora-chat" };
const pkgName = SDK_PACKAGES[args.sdk];
const pkgDir = path.dirname(require.resolve(`${pkgName}/package.json`));
const sdkVersion = JSON.parse(fs.readFileSync(path.join(pkgDir, "package.json"), "utf8")).version;
const sdkModule = require(pkgName);
const WebIM = sdkModule.connection ? sdkModule : sdkModule.default;
if (!WebIM || typeof WebIM.connection !== "function") {
  log(`${pkgName}: no connection constructor in the module`);
  process.exit(3);
}

const LEVELS = { trace: 0, debug: 1, info: 2, warn: 3, error: 4, silent: 5 };
try {
  WebIM.logger.setLevel(LEVELS[args.logLevel], false);
} catch (e) {
  log(`logger.setLevel failed: ${e.message}`);
}

const connOptions = { appKey: args.appKey, delivery: args.delivery };
if (args.dns) {
  connOptions.isHttpDNS = true;
  connOptions.https = false; // server.json must then list "http" hosts
} else {
  connOptions.isHttpDNS = false;
  connOptions.url = args.url;
  connOptions.apiUrl = args.api;
}
const conn = new WebIM.connection(connOptions);

const handler = new Proxy(Object.create(null), {
  get(_target, name) {
    if (typeof name !== "string" || !/^on[A-Z]/.test(name)) return undefined;
    return (data) => emit(name, data);
  },
  has(_target, name) {
    return typeof name === "string" && /^on[A-Z]/.test(name);
  },
});
conn.addEventHandler("agent", handler);

// ---------------------------------------------------------------------------------------------
// Commands.

const MIME = {
  ".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".gif": "image/gif", ".webp": "image/webp",
  ".bmp": "image/bmp", ".mp3": "audio/mpeg", ".amr": "audio/amr", ".m4a": "audio/mp4", ".ogg": "audio/ogg",
  ".wav": "audio/wav", ".opus": "audio/opus", ".mp4": "video/mp4", ".mov": "video/quicktime",
  ".webm": "video/webm", ".txt": "text/plain", ".pdf": "application/pdf", ".json": "application/json",
  ".zip": "application/zip",
};

function badRequest(message) {
  const e = new Error(message);
  e.type = "bad_request";
  return e;
}

function str(cmd, key, required = true) {
  const v = cmd[key];
  if (v === undefined || v === null) {
    if (required) throw badRequest(`missing "${key}"`);
    return undefined;
  }
  if (typeof v !== "string") throw badRequest(`"${key}" must be a string`);
  return v;
}

function rest(cmd, ...skip) {
  const o = {};
  for (const [k, v] of Object.entries(cmd)) if (k !== "id" && k !== "op" && !skip.includes(k)) o[k] = v;
  return o;
}

function resolveMethod(name) {
  if (typeof name !== "string" || !name) throw badRequest('"method" must be a non-empty string');
  const parts = name.split(".");
  let self = conn;
  let fn = conn;
  for (const p of parts) {
    if (p === "__proto__" || p === "constructor" || p === "prototype") throw badRequest(`method ${name} not allowed`);
    self = fn;
    fn = fn == null ? undefined : fn[p];
  }
  if (typeof fn !== "function") throw badRequest(`conn.${name} is not a function`);
  return { fn, self };
}

async function opSendFile(cmd) {
  const type = str(cmd, "type");
  if (!["img", "file", "audio", "video"].includes(type)) throw badRequest('"type" must be img|file|audio|video');
  const filePath = str(cmd, "path");
  const filename = str(cmd, "filename", false) || path.basename(filePath);
  const ext = path.extname(filename).toLowerCase();
  const mime = str(cmd, "mime", false) || MIME[ext] || "application/octet-stream";
  const bytes = await fs.promises.readFile(filePath);
  const file = new File([bytes], filename, { type: mime, lastModified: Date.now() });
  const fileObj = { url: URL.createObjectURL(file), filename, filetype: ext.slice(1), data: file };
  let upload = null;
  const options = Object.assign(rest(cmd, "path", "filename", "mime"), {
    type,
    file: fileObj,
    onFileUploadComplete: (res) => { upload = res; },
    onFileUploadError: () => {},
    onFileUploadProgress: () => {},
    onFileUploadCanceled: () => {},
  });
  if (options.chatType === undefined) options.chatType = "singleChat";
  const msg = WebIM.message.create(options);
  try {
    const r = await conn.send(msg);
    return Object.assign({}, r, { url: msg.url || (upload && upload.url), upload, message: msg });
  } finally {
    URL.revokeObjectURL(fileObj.url);
  }
}

async function handle(cmd) {
  switch (cmd.op) {
    case "ping":
      return { sdk: pkgName, version: sdkVersion };
    case "register": {
      const params = { username: str(cmd, "user"), password: str(cmd, "pwd") };
      const nickname = str(cmd, "nickname", false);
      if (nickname !== undefined) params.nickname = nickname;
      return await conn.registerUser(params);
    }
    case "open": {
      const params = rest(cmd);
      str(cmd, "user");
      if (params.pwd === undefined && params.accessToken === undefined && params.agoraToken === undefined) {
        throw badRequest('open needs "pwd" or "accessToken"');
      }
      const r = await conn.open(params);
      const result = (r && typeof r === "object") ? Object.assign({}, r) : { value: r };
      const ctx = conn.context || {};
      if (result.accessToken === undefined && (ctx.accessToken || conn.token)) {
        result.accessToken = ctx.accessToken || conn.token;
      }
      result.user = ctx.userId || cmd.user;
      return result;
    }
    case "close":
      conn.close();
      return null;
    case "send": {
      if (!cmd.msg || typeof cmd.msg !== "object") throw badRequest('"msg" must be an object');
      const msg = WebIM.message.create(cmd.msg);
      const r = await conn.send(msg);
      return Object.assign({}, r, { message: msg });
    }
    case "sendFile":
      return await opSendFile(cmd);
    case "call": {
      const { fn, self } = resolveMethod(cmd.method);
      const callArgs = cmd.args === undefined ? [] : cmd.args;
      if (!Array.isArray(callArgs)) throw badRequest('"args" must be an array');
      const r = await fn.apply(self, callArgs.map(withMessages));
      return r === undefined ? null : r;
    }
    case "eval":
      throw badRequest("eval is not supported");
    default:
      throw badRequest(`unknown op ${JSON.stringify(cmd.op)}`);
  }
}

// Arguments may contain {"$message": {...create() options}}: replaced by WebIM.message.create(...)
// (modifyMessage takes a message object, for instance).
function withMessages(value) {
  if (Array.isArray(value)) return value.map(withMessages);
  if (value && typeof value === "object") {
    if (value.$message && typeof value.$message === "object") return WebIM.message.create(value.$message);
    const out = {};
    for (const [k, v] of Object.entries(value)) out[k] = withMessages(v);
    return out;
  }
  return value;
}

let exiting = false;
function shutdown(code) {
  if (exiting) return;
  exiting = true;
  try {
    if (conn && !conn.logOut) conn.close();
  } catch (e) {
    log(`close failed: ${e && e.message}`);
  }
  // Give the LOGOUT frame and the websocket close a moment to leave.
  setTimeout(() => process.exit(code), 200).unref();
  setTimeout(() => process.exit(code), 1000);
}

function onLine(line) {
  if (!line.trim()) return;
  let cmd;
  try {
    cmd = JSON.parse(line);
  } catch (e) {
    send({ id: null, ok: false, error: { type: "bad_request", message: `invalid JSON: ${e.message}` } });
    return;
  }
  if (!cmd || typeof cmd !== "object" || Array.isArray(cmd)) {
    send({ id: null, ok: false, error: { type: "bad_request", message: "command must be a JSON object" } });
    return;
  }
  const id = cmd.id === undefined ? null : cmd.id;
  if (cmd.op === "exit") {
    send({ id, ok: true, result: null });
    shutdown(0);
    return;
  }
  Promise.resolve()
    .then(() => handle(cmd))
    .then(
      (result) => {
        const p = toPlain(result);
        send({ id, ok: true, result: p === undefined ? null : p });
      },
      (err) => {
        log(`op ${cmd.op} (id ${id}) failed: ${err && err.stack || JSON.stringify(toPlain(err))}`);
        send({ id, ok: false, error: errorToPlain(err) });
      },
    );
}

const rl = readline.createInterface({ input: process.stdin, terminal: false });
rl.on("line", onLine);
rl.on("close", () => {
  if (exiting) return;
  emit("stdinClosed", null);
  shutdown(0);
});

emit("ready", { sdk: pkgName, version: sdkVersion, options: connOptions });
