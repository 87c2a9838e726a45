"use strict";
// Browser globals the Easemob / Agora Chat Web SDK bundles need in Node 20 (reference notes §5.1).
// install() must run BEFORE the SDK is required: the bundle detects its platform once, at load time,
// and only picks the "web" code paths (XMLHttpRequest, WebSocket.onopen/onmessage) when
// window.WebSocket exists.
//
// install({ dnsBase, log, allowRemote, document })
//   dnsBase     "http://127.0.0.1:PORT": requests for the SDKs' hard-coded DNS hosts are sent there
//   log(msg)    diagnostics (stderr)
//   allowRemote let XHR / WebSocket reach hosts other than loopback (default: blocked)
//   document    define a minimal `document` (agora-chat 1.4.0 needs it)

const WS = require("ws");
const { createXMLHttpRequest } = require("./xhr");

// The hosts the SDKs try in isHttpDNS mode (easemob-websdk 4.21.1 and agora-chat 1.4.0).
const DNS_HOSTS = [
  "https://rs.easemob.com",
  "https://rs.chat.agora.io",
  "http://59.110.89.59",
  "http://39.97.193.190",
  "http://39.97.193.187",
  "https://ars.chat.agora.io",
];

function isLoopback(url) {
  try {
    const h = new URL(url).hostname.replace(/^\[|\]$/g, "");
    return h === "localhost" || h === "::1" || /^127\./.test(h);
  } catch (_) {
    return false;
  }
}

function install(opts = {}) {
  const log = opts.log || (() => {});
  const allowRemote = !!opts.allowRemote;
  const g = globalThis;

  g.self = g;
  g.window = g;

  // An in-memory Storage.
  class MemoryStorage {
    constructor() { Object.defineProperty(this, "_m", { value: new Map() }); }
    get length() { return this._m.size; }
    key(i) { return [...this._m.keys()][i] ?? null; }
    getItem(k) { return this._m.has(String(k)) ? this._m.get(String(k)) : null; }
    setItem(k, v) { this._m.set(String(k), String(v)); }
    removeItem(k) { this._m.delete(String(k)); }
    clear() { this._m.clear(); }
  }
  g.localStorage = new MemoryStorage();
  g.sessionStorage = new MemoryStorage();

  g.location = { protocol: "http:", host: "127.0.0.1", hostname: "127.0.0.1", href: "http://127.0.0.1/",
    origin: "http://127.0.0.1", pathname: "/", search: "", hash: "", port: "" };
  // Node 21+ has a global navigator; Node 20 does not. Define one only when missing.
  if (typeof g.navigator === "undefined") {
    Object.defineProperty(g, "navigator", {
      value: { userAgent: "Mozilla/5.0 (Node.js) imbridge-sdk-agent", onLine: true, language: "en-US",
        platform: process.platform },
      configurable: true, writable: true,
    });
  }
  if (opts.document) {
    g.document = {
      addEventListener() {}, removeEventListener() {}, hidden: false, visibilityState: "visible",
      getElementById() { return null; },
    };
  }

  const dnsBase = opts.dnsBase ? String(opts.dnsBase).replace(/\/+$/, "") : null;
  const rewrite = (url) => {
    if (!dnsBase) return url;
    for (const h of DNS_HOSTS) {
      if (url === h || url.startsWith(h + "/") || url.startsWith(h + "?")) return dnsBase + url.slice(h.length);
    }
    return url;
  };
  const allow = (url) => allowRemote || isLoopback(url);
  g.XMLHttpRequest = createXMLHttpRequest({ rewrite, allow, log });

  // ws throws on an 'error' event with no listener (browsers never do): always keep one.
  class WebSocket extends WS {
    constructor(url, protocols, options) {
      let target = String(url);
      if (!allow(target)) {
        log(`WebSocket blocked (not loopback): ${target}`);
        target = "ws://127.0.0.1:1/blocked";
      }
      if (protocols === undefined) super(target);
      else super(target, protocols, options);
      this.on("error", (e) => log(`WebSocket error: ${e && e.message}`));
    }
  }
  g.WebSocket = WebSocket;

  return { DNS_HOSTS, rewrite, isLoopback };
}

module.exports = { install, DNS_HOSTS, isLoopback };
