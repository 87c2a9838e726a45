"use strict";
// A browser-like XMLHttpRequest for Node 20, built on the global fetch(). Just enough of the XHR
// Level 2 API for the Easemob / Agora Chat Web SDKs: open/send/abort, setRequestHeader,
// getResponseHeader/getAllResponseHeaders, overrideMimeType, timeout, readyState/status/statusText,
// responseText/response/responseURL, responseType ("", "text", "json", "arraybuffer", "blob"),
// on* handler properties and addEventListener for readystatechange/loadstart/progress/load/error/
// abort/timeout/loadend, an `upload` object with the same events, and any fetch() body (string,
// FormData, Blob/File, ArrayBuffer, typed array, URLSearchParams).
//
// createXMLHttpRequest({rewrite(url) -> url, allow(url) -> bool, log(msg)}) returns the class. A
// request whose (rewritten) URL is not allowed fails like a network error, without any I/O.

const UNSENT = 0, OPENED = 1, HEADERS_RECEIVED = 2, LOADING = 3, DONE = 4;

class MiniEventTarget {
  constructor() {
    this._listeners = new Map();
  }
  addEventListener(type, fn) {
    if (typeof fn !== "function" && !(fn && typeof fn.handleEvent === "function")) return;
    if (!this._listeners.has(type)) this._listeners.set(type, []);
    const list = this._listeners.get(type);
    if (!list.includes(fn)) list.push(fn);
  }
  removeEventListener(type, fn) {
    const list = this._listeners.get(type);
    if (!list) return;
    const i = list.indexOf(fn);
    if (i >= 0) list.splice(i, 1);
  }
  dispatchEvent(ev) {
    ev.target = ev.currentTarget = this;
    const handler = this["on" + ev.type];
    const call = (fn) => {
      try {
        if (typeof fn === "function") fn.call(this, ev);
        else fn.handleEvent(ev);
      } catch (e) {
        // Like a browser: an exception in a listener is reported, it does not abort dispatch.
        setImmediate(() => { throw e; });
      }
    };
    if (typeof handler === "function") call(handler);
    for (const fn of (this._listeners.get(ev.type) || []).slice()) call(fn);
    return true;
  }
}

function progressEvent(type, loaded = 0, total = 0) {
  return { type, loaded, total, lengthComputable: total > 0, target: null, currentTarget: null,
    preventDefault() {}, stopPropagation() {} };
}

function bodySize(body) {
  if (body == null) return 0;
  if (typeof body === "string") return Buffer.byteLength(body);
  if (body instanceof ArrayBuffer) return body.byteLength;
  if (ArrayBuffer.isView(body)) return body.byteLength;
  if (typeof Blob !== "undefined" && body instanceof Blob) return body.size;
  if (typeof FormData !== "undefined" && body instanceof FormData) {
    let n = 0;
    for (const [, v] of body) n += typeof v === "string" ? Buffer.byteLength(v) : (v && v.size) || 0;
    return n;
  }
  return 0;
}

function createXMLHttpRequest(hooks = {}) {
  const rewrite = hooks.rewrite || ((u) => u);
  const allow = hooks.allow || (() => true);
  const log = hooks.log || (() => {});

  class XMLHttpRequestUpload extends MiniEventTarget {}

  class XMLHttpRequest extends MiniEventTarget {
    constructor() {
      super();
      this.readyState = UNSENT;
      this.status = 0;
      this.statusText = "";
      this.responseType = "";
      this.responseURL = "";
      this.timeout = 0;
      this.withCredentials = false;
      this.upload = new XMLHttpRequestUpload();
      this._response = null;
      this._text = "";
      this._reqHeaders = {};
      this._resHeaders = null;
      this._method = "GET";
      this._url = "";
      this._controller = null;
      this._timer = null;
      this._finished = false;
      this._mime = null;
    }

    get responseText() {
      return this._text;
    }
    get response() {
      if (this.responseType === "" || this.responseType === "text") return this._text;
      return this.readyState === DONE ? this._response : null;
    }

    open(method, url, async = true) {
      if (async === false) throw new Error("synchronous XMLHttpRequest is not supported by this shim");
      this._abortInFlight();
      this._method = String(method).toUpperCase();
      this._url = String(url);
      this._reqHeaders = {};
      this._resHeaders = null;
      this._response = null;
      this._text = "";
      this.status = 0;
      this.statusText = "";
      this.responseURL = "";
      this._finished = false;
      this._setState(OPENED);
    }

    setRequestHeader(name, value) {
      if (this.readyState !== OPENED) throw new Error("InvalidStateError: setRequestHeader before open()");
      const key = String(name);
      const existing = Object.keys(this._reqHeaders).find((k) => k.toLowerCase() === key.toLowerCase());
      if (existing) this._reqHeaders[existing] += ", " + String(value);
      else this._reqHeaders[key] = String(value);
    }

    overrideMimeType(mime) {
      this._mime = mime;
    }

    getResponseHeader(name) {
      if (!this._resHeaders) return null;
      const v = this._resHeaders.get(String(name));
      return v === undefined || v === null ? null : v;
    }

    getAllResponseHeaders() {
      if (!this._resHeaders) return "";
      let out = "";
      for (const [k, v] of this._resHeaders) out += `${k}: ${v}\r\n`;
      return out;
    }

    abort() {
      if (this._controller && !this._finished) {
        this._abortReason = "abort";
        this._controller.abort();
      }
    }

    _abortInFlight() {
      if (this._controller && !this._finished) {
        this._abortReason = "reopen";
        this._controller.abort();
      }
    }

    _setState(s) {
      this.readyState = s;
      this.dispatchEvent(progressEvent("readystatechange"));
    }

    send(body = null) {
      if (this.readyState !== OPENED) throw new Error("InvalidStateError: send() before open()");
      const method = this._method;
      if (method === "GET" || method === "HEAD") body = null;
      const url = rewrite(this._url);
      const controller = new AbortController();
      this._controller = controller;
      this._abortReason = null;
      const total = bodySize(body);
      const hasUploadListeners = body != null;
      this.dispatchEvent(progressEvent("loadstart"));
      if (hasUploadListeners) this.upload.dispatchEvent(progressEvent("loadstart", 0, total));

      if (this.timeout > 0) {
        this._timer = setTimeout(() => {
          this._abortReason = "timeout";
          controller.abort();
        }, this.timeout);
      }

      if (!allow(url)) {
        log(`XMLHttpRequest blocked (not loopback): ${method} ${url}`);
        setImmediate(() => this._fail("error", total, hasUploadListeners));
        return;
      }
      if (url !== this._url) log(`XMLHttpRequest rewrote ${this._url} -> ${url}`);

      const init = { method, headers: this._reqHeaders, signal: controller.signal, redirect: "follow" };
      if (body != null) {
        if (body instanceof ArrayBuffer || ArrayBuffer.isView(body) || typeof body === "string"
          || body instanceof Blob || body instanceof FormData || body instanceof URLSearchParams) {
          init.body = body;
        } else if (typeof body === "object" && typeof body.arrayBuffer === "function") {
          init.body = body; // Blob-like
        } else {
          init.body = String(body);
        }
      }

      (async () => {
        let res;
        try {
          res = await fetch(url, init);
        } catch (e) {
          return this._fail(this._abortReason || "error", total, hasUploadListeners, e);
        }
        if (hasUploadListeners) {
          this.upload.dispatchEvent(progressEvent("progress", total, total));
          this.upload.dispatchEvent(progressEvent("load", total, total));
          this.upload.dispatchEvent(progressEvent("loadend", total, total));
        }
        this.status = res.status;
        this.statusText = res.statusText;
        this.responseURL = res.url;
        this._resHeaders = res.headers;
        this._setState(HEADERS_RECEIVED);
        let buf;
        try {
          buf = Buffer.from(await res.arrayBuffer());
        } catch (e) {
          return this._fail(this._abortReason || "error", total, hasUploadListeners, e);
        }
        this._setState(LOADING);
        this.dispatchEvent(progressEvent("progress", buf.length, buf.length));
        const ctype = this._mime || res.headers.get("content-type") || "";
        this._text = "";
        switch (this.responseType) {
          case "arraybuffer":
            this._response = buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.length);
            break;
          case "blob":
            this._response = new Blob([buf], { type: ctype });
            break;
          case "json":
            try {
              this._text = buf.toString("utf8");
              this._response = JSON.parse(this._text);
            } catch (_) {
              this._response = null;
            }
            break;
          case "document":
            this._text = buf.toString("utf8");
            this._response = null;
            break;
          default:
            this._text = buf.toString("utf8");
            this._response = this._text;
        }
        this._finish();
        this._setState(DONE);
        this.dispatchEvent(progressEvent("load", buf.length, buf.length));
        this.dispatchEvent(progressEvent("loadend", buf.length, buf.length));
      })().catch((e) => log(`XMLHttpRequest internal error: ${e && e.stack || e}`));
    }

    _finish() {
      this._finished = true;
      if (this._timer) clearTimeout(this._timer);
      this._timer = null;
    }

    _fail(kind, total, upload, err) {
      if (kind === "reopen") return;
      this._finish();
      if (err && kind === "error") log(`XMLHttpRequest ${this._method} ${this._url}: ${err.cause && (err.cause.code || err.cause.message) || err.message}`);
      this.status = 0;
      this.statusText = "";
      this._response = null;
      this._text = "";
      this._setState(DONE);
      if (upload) {
        this.upload.dispatchEvent(progressEvent(kind, 0, total));
        this.upload.dispatchEvent(progressEvent("loadend", 0, total));
      }
      this.dispatchEvent(progressEvent(kind));
      this.dispatchEvent(progressEvent("loadend"));
      if (kind === "abort") this.readyState = UNSENT;
    }
  }
  Object.assign(XMLHttpRequest, { UNSENT, OPENED, HEADERS_RECEIVED, LOADING, DONE });
  Object.assign(XMLHttpRequest.prototype, { UNSENT, OPENED, HEADERS_RECEIVED, LOADING, DONE });
  return XMLHttpRequest;
}

module.exports = { createXMLHttpRequest };
