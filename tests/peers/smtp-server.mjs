// A real SMTP submission server for mailcred's integration tests, built on
// Nodemailer's smtp-server and listening on loopback only.
//
//   node /ABS/tests/peers/smtp-server.mjs --state-dir DIR --cert CERT
//        --key KEY --oauth-issuer URL [--password USER:PASS]
//
// Two listeners on free 127.0.0.1 ports:
//   starttls  plain connection; AUTH only after STARTTLS (allowInsecureAuth
//             false), like port 587
//   tls       implicit TLS from the first byte, like port 465
// Once both listen, DIR/smtp.ports gets {"starttls":N,"tls":M} (temp file
// renamed into place).  EHLO offers PIPELINING, 8BITMIME, SMTPUTF8,
// ENHANCEDSTATUSCODES (replies carry them: "250 2.0.0 ..."), AUTH PLAIN
// LOGIN XOAUTH2 OAUTHBEARER (after STARTTLS only, on the starttls
// listener), SIZE 31457280 (30 MB).  Sending needs AUTH.
//
// AUTH
//   XOAUTH2      the bearer token is checked with GET ${issuer}/me; accepted
//                when that answers 200 with a `sub` equal (ignoring case) to
//                the SASL user.  A refused token is answered as Gmail does:
//                334 + base64 {"status":"400","schemes":"Bearer",
//                "scope":"https://mail.google.com/"}, then, after the
//                client's answer (an empty line), 535 5.7.8.
//   OAUTHBEARER  RFC 7628: gs2 header "n,a=USER," then host=, port=,
//                auth=Bearer TOKEN, separated by 0x01.  The token is checked
//                as for XOAUTH2 against the authzid USER (no authzid: refused,
//                how=no-authzid).  A refused token: 334 + base64
//                {"status":"invalid_token","scope":"https://mail.google.com/"},
//                then, after the client's AQ== (one 0x01 byte), 535 5.7.8; a
//                "*" instead cancels (501).  Malformed: 501.
//   Both: if the issuer cannot be reached the answer is 454 4.7.0.
//   PLAIN, LOGIN only the --password USER:PASS pair; without one, every
//                attempt fails with 535.
//
// DIR/smtp-auth.log, one line when each AUTH is decided (written before the
// reply is sent, so it is there when the client sees the reply):
//   <METHOD> <user> ok|fail|hang <how>
// where <how> says what decided: userinfo (ok), userinfo-401, sub-mismatch,
// no-authzid, issuer-unreachable, password, bad-password, unknown-user,
// no-password-configured, refused-by-control, forced-<code>, control (hang).
// After a refused bearer token that got a challenge, a second line once the
// client has answered or hung up:
//   <METHOD> <user> challenge-answered      (empty line or AQ==)
//   <METHOD> <user> challenge-answered-other  (anything else but "*")
//   <METHOD> <user> challenge-cancelled     ("*")
//   <METHOD> <user> challenge-abandoned     (the client closed instead;
//                   written when the server sees the close, which can be
//                   a moment after the client exited: wait for it)
// Tokens and passwords are never written anywhere, and never on stdout.
//
// Each accepted message: DIR/mail/<n>.eml (the raw DATA) and then
// DIR/mail/<n>.json (renamed into place last, so a test may wait for it):
//   {"from", "to":[...], "user", "method", "size",
//    "mail_params": {...}  MAIL FROM parameters, upper-case keys, flags as
//                          true: e.g. {"BODY":"8BITMIME","SMTPUTF8":true,
//                          "SIZE":"1234"}; {} when there were none
//    "ehlo": "NAME"        the name the client gave in EHLO/HELO
//    "tls": true|false}    whether the session was TLS (implicit or after
//                          STARTTLS) when the message was sent
// Size limit 30 MB: a bigger message is read to its end and refused (552).
// A message is stored only when it is accepted (250): every refusal,
// drop or hang below leaves DIR/mail untouched.
//
// Test control: DIR/smtp-control.json (absent = the defaults above).  It is
// read again at each decision point (connection, EHLO/HELO, AUTH decision,
// MAIL, RCPT, DATA, start and end of the data), so a test may change it between
// commands without a restart; write it atomically (tests/lib.sh
// smtp_control does).  Counters ("count") start again whenever the file
// changes (another inode, mtime or size).  A JSON object; every key is
// optional:
//   "xoauth2_challenge":     {...} the JSON object sent (base64) in the 334
//                            challenge for a refused XOAUTH2 token, or null:
//                            no challenge at all, 535 5.7.3 Authentication
//                            unsuccessful at once (Microsoft's way)
//   "oauthbearer_challenge": the same for OAUTHBEARER
//   "refuse_tokens": N       refuse the next N bearer tokens (XOAUTH2 or
//                            OAUTHBEARER) without asking the issuer, even
//                            valid ones, as a refused token (challenge, ...)
//   "greeting": REPLY        greet with REPLY instead of 220 and close the
//                            connection (as a server refusing sessions does)
//   "ehlo":  REPLY           answer EHLO (and HELO) with REPLY
//   "auth":  REPLY           answer AUTH (any mechanism, once the client
//                            has sent its credentials) with REPLY instead
//                            of checking anything
//   "mail":  REPLY           answer MAIL FROM with REPLY
//   "rcpt":  REPLY           answer RCPT TO with REPLY; with "to": "ADDR"
//                            only that recipient (ignoring case), the
//                            others are accepted
//   "data":  REPLY           answer the DATA command with REPLY (no 354)
//   "eom":   REPLY           answer the end of the data ("." line) with
//                            REPLY; the message is read but not stored
//   "drop_data_after": N     once at least N bytes of message data have
//                            arrived, destroy the connection (no reply,
//                            nothing stored)
//   "hang": "greeting"|"auth"|"data"|"eom"
//                            stop answering at that stage, the connection
//                            left open: no 220 greeting (implicit TLS: after
//                            the handshake); no answer to AUTH once the
//                            credentials are in; no answer to the DATA
//                            command (no 354); no answer to the end of
//                            the data (nothing stored)
// REPLY is {"reply": "CODE TEXT", "count": N} where "count" (optional)
// limits it to the next N times it applies (absent or null: every time).
// "reply" is sent as written, with no enhanced status code added: give it
// yourself ("454 4.7.0 Too many login attempts, please try again later").
// Several lines are separated by "\n", each starting with the same code;
// the "-" / " " after the code is set by the server ("534-5.7.9 ...\n534
// 5.7.9 ..." and "534 5.7.9 ...\n534 5.7.9 ..." send the same).  Codes
// are 4xx or 5xx; a 421 also closes the connection, as servers do.  An
// invalid control file is logged and every decision point answers
// 421 4.3.0 (the test fails loudly, not silently).
//
// Logs go to stdout (DIR/smtp.log through tests/lib.sh): one line per AUTH
// decision, control action and message.

import {
  appendFileSync, mkdirSync, readFileSync, readdirSync, renameSync, statSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';

import { SMTPServer } from 'smtp-server';
import { SMTPConnection } from 'smtp-server/lib/smtp-connection.js';
import SASL from 'smtp-server/lib/sasl.js';

const SIZE_LIMIT = 30 * 1024 * 1024;
const USERINFO_TIMEOUT_MS = 5000;
const DEFAULT_CHALLENGE = {
  XOAUTH2: { status: '400', schemes: 'Bearer', scope: 'https://mail.google.com/' },
  OAUTHBEARER: { status: 'invalid_token', scope: 'https://mail.google.com/' },
};
const CHALLENGE_KEY = { XOAUTH2: 'xoauth2_challenge', OAUTHBEARER: 'oauthbearer_challenge' };
const HANG_STAGES = ['greeting', 'auth', 'data', 'eom'];
const REPLY_KNOBS = ['greeting', 'ehlo', 'auth', 'mail', 'rcpt', 'data', 'eom'];

function log(msg) {
  process.stdout.write(`${new Date().toISOString()} smtp: ${msg}\n`);
}

// ---------------------------------------------------------------------------
// Replies sent exactly as written

// A reply text that smtp-server must send as it is: a String object (so it
// can travel as an Error's message) holding the lines without their code.
// The send() wrapper below recognises it.
class RawReply extends String {
  constructor(lines) {
    super(lines.join('\n'));
    this.lines = lines;
  }
}

// smtp-server adds an enhanced status code to every 2xx/4xx/5xx reply and
// sends a string on one line; a RawReply goes out as written instead.
const librarySend = SMTPConnection.prototype.send;
SMTPConnection.prototype.send = function send(code, data, context) {
  if (data instanceof RawReply) return librarySend.call(this, code, data.lines, false);
  return librarySend.call(this, code, data, context);
};

// Parses "CODE TEXT[\nCODE TEXT...]"; returns { code, lines } or throws.
function parseReply(text) {
  if (typeof text !== 'string' || text === '') throw new Error('"reply" must be a non-empty string');
  const lines = text.replace(/\r?\n$/, '').split(/\r?\n/);
  let code = null;
  const out = [];
  for (const line of lines) {
    const m = /^([2-5][0-9][0-9])(?:[ -](.*))?$/.exec(line);
    if (!m) throw new Error(`reply line "${line}" does not start with a 3-digit code`);
    if (code !== null && m[1] !== code) throw new Error(`reply lines have different codes (${code}, ${m[1]})`);
    // eslint-disable-next-line no-control-regex
    if (/[\x00-\x1f\x7f]/.test(m[2] ?? '')) throw new Error('reply text holds a control character');
    code = m[1];
    out.push(m[2] ?? '');
  }
  if (!/^[45]/.test(code)) throw new Error(`reply code ${code} is not a 4xx or 5xx refusal`);
  return { code: Number(code), lines: out };
}

// An Error that smtp-server turns into exactly that reply (callbacks of
// onAuth, onMailFrom, onRcptTo, onData send err.responseCode + err.message).
function replyError(reply) {
  const err = new Error('test control reply');
  err.responseCode = reply.code;
  err.message = new RawReply(reply.lines);
  return err;
}

// ---------------------------------------------------------------------------
// The test-control file

let controlPath = null;
let control = { key: 'absent', value: {}, error: null, used: new Map() };

function isObject(v) {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

// Checks a parsed control object; returns it normalised (replies parsed)
// or throws with the reason.
function checkControl(c) {
  if (!isObject(c)) throw new Error('the control file must hold a JSON object');
  const out = {};
  for (const [k, v] of Object.entries(c)) {
    switch (k) {
      case 'xoauth2_challenge':
      case 'oauthbearer_challenge':
        if (v !== null && !isObject(v)) throw new Error(`${k} must be an object or null`);
        out[k] = v;
        break;
      case 'refuse_tokens':
        if (!Number.isInteger(v) || v < 0) throw new Error(`${k} must be a non-negative integer`);
        out[k] = v;
        break;
      case 'drop_data_after':
        if (!Number.isInteger(v) || v < 1) throw new Error(`${k} must be a positive integer`);
        out[k] = v;
        break;
      case 'hang':
        if (!HANG_STAGES.includes(v)) throw new Error(`${k} must be one of ${HANG_STAGES.join(', ')}`);
        out[k] = v;
        break;
      default:
        if (!REPLY_KNOBS.includes(k)) throw new Error(`unknown key ${k}`);
        if (!isObject(v)) throw new Error(`${k} must be an object {"reply": ..., "count": N}`);
        for (const sub of Object.keys(v)) {
          if (!['reply', 'count', ...(k === 'rcpt' ? ['to'] : [])].includes(sub)) {
            throw new Error(`unknown key ${k}.${sub}`);
          }
        }
        if (v.count !== undefined && v.count !== null && !(Number.isInteger(v.count) && v.count >= 0)) {
          throw new Error(`${k}.count must be a non-negative integer or null`);
        }
        if (v.to !== undefined && (typeof v.to !== 'string' || v.to === '')) {
          throw new Error(`${k}.to must be an address`);
        }
        try {
          out[k] = { ...parseReply(v.reply), count: v.count ?? null, to: v.to ?? null };
        } catch (err) {
          throw new Error(`${k}: ${err.message}`);
        }
    }
  }
  return out;
}

// Brings `control` up to date with the file; counters start again when
// the file changed.
function refreshControl() {
  let key;
  try {
    const st = statSync(controlPath, { bigint: true });
    key = `${st.dev}:${st.ino}:${st.mtimeNs}:${st.size}`;
  } catch (err) {
    key = err.code === 'ENOENT' ? 'absent' : `error:${err.code}`;
  }
  if (key === control.key) return;
  control = { key, value: {}, error: null, used: new Map() };
  if (key === 'absent') {
    log('control: none (defaults)');
    return;
  }
  try {
    control.value = checkControl(JSON.parse(readFileSync(controlPath, 'utf8')));
    log(`control: ${JSON.stringify(control.value)}`);
  } catch (err) {
    control.error = err.message;
    log(`control: smtp-control.json is invalid: ${err.message}`);
  }
}

const INVALID_CONTROL = { code: 421, lines: ['4.3.0 smtp-control.json is invalid (see smtp.log)'] };

// Reads the control file at a decision point; returns its knobs, or null
// when the file is invalid (the caller answers INVALID_CONTROL).
function controlNow() {
  refreshControl();
  return control.error ? null : control.value;
}

// Uses one "count" of knob NAME (whose value is KNOB); true when it still
// applies.
function useCount(name, knob) {
  const limit = typeof knob === 'number' ? knob : knob.count;
  if (limit === null || limit === undefined) return true;
  const used = control.used.get(name) ?? 0;
  if (used >= limit) return false;
  control.used.set(name, used + 1);
  return true;
}

// The reply knob NAME if it applies now (one count used), else null.
// ADDRESS: the recipient, for "rcpt".
function takeReply(c, name, address) {
  const knob = c[name];
  if (!knob) return null;
  if (knob.to && (address ?? '').toLowerCase() !== knob.to.toLowerCase()) return null;
  if (!useCount(name, knob)) return null;
  log(`control: ${name} answered ${knob.code}`);
  return knob;
}

// ---------------------------------------------------------------------------
// Command line

function usage(msg) {
  if (msg) process.stderr.write(`smtp-server: ${msg}\n`);
  process.stderr.write('usage: node smtp-server.mjs --state-dir DIR --cert CERT --key KEY '
    + '--oauth-issuer URL [--password USER:PASS]\n');
  process.exit(64);
}

let args;
try {
  ({ values: args } = parseArgs({
    options: {
      'state-dir': { type: 'string' },
      cert: { type: 'string' },
      key: { type: 'string' },
      'oauth-issuer': { type: 'string' },
      password: { type: 'string' },
    },
    strict: true,
  }));
} catch (err) {
  usage(err.message);
}


for (const req of ['state-dir', 'cert', 'key', 'oauth-issuer']) {
  if (!args[req]) usage(`--${req} is required`);
}
const stateDir = args['state-dir'];
const issuer = args['oauth-issuer'].replace(/\/+$/, '');
let passUser = null;
let passWord = null;
if (args.password !== undefined) {
  const i = args.password.indexOf(':');
  if (i < 1) usage('--password must be USER:PASS');
  passUser = args.password.slice(0, i);
  passWord = args.password.slice(i + 1);
}

const tlsKey = readFileSync(args.key);
const tlsCert = readFileSync(args.cert);
const mailDir = join(stateDir, 'mail');
mkdirSync(mailDir, { recursive: true, mode: 0o700 });
const authLog = join(stateDir, 'smtp-auth.log');
controlPath = join(stateDir, 'smtp-control.json');

// Continue numbering after what an earlier run left in DIR/mail.
let lastMessage = readdirSync(mailDir)
  .map((f) => /^(\d+)\.json$/.exec(f))
  .filter(Boolean)
  .reduce((max, m) => Math.max(max, Number(m[1])), 0);

function writeAtomic(path, data) {
  const tmp = `${path}.tmp.${process.pid}`;
  writeFileSync(tmp, data, { mode: 0o600 });
  renameSync(tmp, path);
}

// The user is client-supplied: keep it on one line.
function safeUser(user) {
  return String(user ?? '-').replace(/\s/g, '_') || '-';
}

function authLine(method, user, outcome, how) {
  const line = [method, safeUser(user), outcome, how].filter((f) => f !== undefined).join(' ');
  appendFileSync(authLog, `${line}\n`, { mode: 0o600 });
  log(`AUTH ${line}`);
}

// ---------------------------------------------------------------------------
// Bearer tokens

// Asks the OAuth server whose token this is.  Resolves to
// { ok, how, temporary }.
async function checkBearer(user, token) {
  let res;
  let body;
  try {
    res = await fetch(`${issuer}/me`, {
      headers: { Authorization: `Bearer ${token}`, Accept: 'application/json' },
      signal: AbortSignal.timeout(USERINFO_TIMEOUT_MS),
    });
    body = await res.text();
  } catch (err) {
    return { ok: false, how: 'issuer-unreachable', temporary: true, detail: err.message };
  }
  if (res.status !== 200) {
    return { ok: false, how: `userinfo-${res.status}`, temporary: res.status >= 500 };
  }
  let sub;
  try {
    ({ sub } = JSON.parse(body));
  } catch {
    return { ok: false, how: 'userinfo-bad-json', temporary: true };
  }
  if (typeof sub !== 'string' || sub.toLowerCase() !== user.toLowerCase()) {
    return { ok: false, how: 'sub-mismatch' };
  }
  return { ok: true, how: 'userinfo' };
}

// A refused bearer token waiting for the client's answer to the challenge,
// kept on the session (a symbol: it never shows in what is recorded).
const PENDING_CHALLENGE = Symbol('pending challenge');

// Decides a bearer-token AUTH (XOAUTH2 or OAUTHBEARER); calls back as
// onAuth does.  `session` gets PENDING_CHALLENGE when a challenge is sent.
function bearerAuth(method, username, token, session, c, callback) {
  const refuse = (how) => {
    const key = CHALLENGE_KEY[method];
    const challenge = key in c ? c[key] : DEFAULT_CHALLENGE[method];
    authLine(method, username, 'fail', how);
    if (challenge === null) {
      // Microsoft: no challenge, the refusal at once.
      return callback(replyError({ code: 535, lines: ['5.7.3 Authentication unsuccessful'] }));
    }
    session[PENDING_CHALLENGE] = { method, username };
    // No `user`: the mechanism sends 334 <base64 JSON> and waits.
    return callback(null, { data: challenge });
  };
  if (!username) return refuse('no-authzid');
  if (c.refuse_tokens !== undefined && useCount('refuse_tokens', c.refuse_tokens)) {
    return refuse('refused-by-control');
  }
  checkBearer(username, token).then((r) => {
    if (r.ok) {
      authLine(method, username, 'ok', r.how);
      return callback(null, { user: { username, method } });
    }
    if (r.temporary) {
      authLine(method, username, 'fail', r.how);
      if (r.detail) log(`userinfo check: ${r.detail}`);
      return callback(replyError({ code: 454, lines: ['4.7.0 Temporary authentication failure'] }));
    }
    return refuse(r.how);
  }, (err) => {
    authLine(method, username, 'fail', 'internal-error');
    log(`userinfo check failed: ${err.message}`);
    callback(replyError({ code: 454, lines: ['4.7.0 Temporary authentication failure'] }));
  });
  return undefined;
}

function onAuth(auth, session, callback) {
  const { method, username } = auth;
  const c = controlNow();
  if (c === null) {
    authLine(method, username, 'fail', 'invalid-control');
    return callback(replyError(INVALID_CONTROL));
  }
  if (c.hang === 'auth') {
    authLine(method, username, 'hang', 'control');
    return undefined; // never called back: the client waits
  }
  const forced = takeReply(c, 'auth');
  if (forced) {
    authLine(method, username, 'fail', `forced-${forced.code}`);
    return callback(replyError(forced));
  }
  if (method === 'XOAUTH2' || method === 'OAUTHBEARER') {
    return bearerAuth(method, username, auth.accessToken, session, c, callback);
  }

  // PLAIN and LOGIN
  let ok = false;
  let how;
  if (passUser === null) {
    how = 'no-password-configured';
  } else if (username !== passUser) {
    how = 'unknown-user';
  } else if (auth.password !== passWord) {
    how = 'bad-password';
  } else {
    ok = true;
    how = 'password';
  }
  authLine(method, username, ok ? 'ok' : 'fail', how);
  if (ok) return callback(null, { user: { username, method } });
  return callback(replyError({ code: 535, lines: ['5.7.8 Authentication credentials invalid'] }));
}

// ---------------------------------------------------------------------------
// SASL: OAUTHBEARER, and the end of a challenge.  smtp-server looks a
// mechanism up as SASL['SASL_' + NAME] with the connection as `this`; a
// step that needs the client's next line sets this._nextHandler, as its
// own mechanisms do.

// The client's answer to a challenge: log how the AUTH ended, then refuse.
function challengeAnswered(connection, answer, callback) {
  const pending = connection.session[PENDING_CHALLENGE];
  delete connection.session[PENDING_CHALLENGE];
  const line = String(answer ?? '').trim();
  const method = pending ? pending.method : '-';
  const user = pending ? pending.username : '-';
  if (line === '*') {
    authLine(method, user, 'challenge-cancelled');
    connection.send(501, new RawReply(['5.7.0 Authentication aborted']));
    return callback();
  }
  authLine(method, user, line === '' || line === 'AQ==' ? 'challenge-answered' : 'challenge-answered-other');
  connection.send(535, new RawReply(['5.7.8 Username and Password not accepted']));
  return callback();
}

// smtp-server's XOAUTH2 calls SASL.XOAUTH2_error with the client's answer
// to the 334 challenge.
SASL.XOAUTH2_error = function XOAUTH2_error(answer, callback) {
  return challengeAnswered(this, answer, callback);
};

// Decodes the RFC 5801 authzid escapes.
function gs2Name(s) {
  return s.replace(/=2C/g, ',').replace(/=3D/g, '=');
}

// Parses an OAUTHBEARER client response; returns { username, token,
// host, port } or null when malformed.
function parseOauthbearer(b64) {
  const msg = Buffer.from(b64, 'base64').toString('utf8');
  // gs2-header: "n," or "y," (no channel binding), then "a=AUTHZID" or
  // nothing, then ","; then kvsep (0x01) key=value pairs kvsep, kvsep.
  const m = /^([ny]),(?:a=([^,]*))?,\x01(.*)\x01\x01$/s.exec(msg);
  if (!m) return null;
  const pairs = {};
  for (const kv of m[3].split('\x01')) {
    const i = kv.indexOf('=');
    if (i < 1) return null;
    pairs[kv.slice(0, i).toLowerCase()] = kv.slice(i + 1);
  }
  const bearer = /^Bearer +(\S+)$/i.exec(pairs.auth ?? '');
  if (!bearer) return null;
  const username = m[2] === undefined ? '' : gs2Name(m[2]);
  // eslint-disable-next-line no-control-regex
  if (/[\x00-\x1f\x7f-\x9f]/.test(username)) return null;
  return { username, token: bearer[1], host: pairs.host ?? null, port: pairs.port ?? null };
}

function oauthbearerResponse(canAbort, raw, callback) {
  const text = String(raw ?? '').trim();
  if (canAbort && text === '*') {
    this.send(501, new RawReply(['5.7.0 Authentication aborted']));
    return callback();
  }
  const parsed = parseOauthbearer(text);
  if (!parsed) {
    this.send(501, 'Error: invalid userdata');
    return callback();
  }
  this._server.onAuth({
    method: 'OAUTHBEARER',
    username: parsed.username,
    accessToken: parsed.token,
    host: parsed.host,
    port: parsed.port,
  }, this.session, (err, response) => {
    if (err) {
      this.send(err.responseCode || 535, err.message);
      return callback();
    }
    if (!response || !response.user) {
      const data = response && response.data ? response.data : {};
      this._nextHandler = (answer, next) => challengeAnswered(this, answer, next);
      this.send(334, Buffer.from(JSON.stringify(data)).toString('base64'));
      return callback();
    }
    this.session.user = response.user;
    this.session.transmissionType = this._transmissionType();
    this.send(235, 'Authentication successful');
    return callback();
  });
  return undefined;
}

SASL.SASL_OAUTHBEARER = function SASL_OAUTHBEARER(authArgs, callback) {
  if (authArgs.length > 1) {
    this.send(501, 'Error: syntax: AUTH OAUTHBEARER [initial-response]');
    return callback();
  }
  if (!authArgs.length || authArgs[0] === '=') {
    // No initial response: an empty challenge, the client sends it next.
    this._nextHandler = (raw, next) => oauthbearerResponse.call(this, true, raw, next);
    this.send(334);
    return callback();
  }
  return oauthbearerResponse.call(this, false, authArgs[0], callback);
};

// ---------------------------------------------------------------------------
// Connection, envelope and data

function onConnect(session, callback) {
  const c = controlNow();
  if (c === null) return callback(replyError(INVALID_CONTROL));
  if (c.hang === 'greeting') {
    log(`control: hang at greeting (${session.remoteAddress}:${session.remotePort})`);
    return undefined; // never called back: no greeting
  }
  const r = takeReply(c, 'greeting');
  return r ? callback(replyError(r)) : callback();
}

function onClose(session) {
  const pending = session[PENDING_CHALLENGE];
  if (pending) {
    delete session[PENDING_CHALLENGE];
    authLine(pending.method, pending.username, 'challenge-abandoned');
  }
}

function onMailFrom(address, _session, callback) {
  const c = controlNow();
  if (c === null) return callback(replyError(INVALID_CONTROL));
  const r = takeReply(c, 'mail');
  return r ? callback(replyError(r)) : callback();
}

function onRcptTo(address, _session, callback) {
  const c = controlNow();
  if (c === null) return callback(replyError(INVALID_CONTROL));
  const r = takeReply(c, 'rcpt', address.address);
  return r ? callback(replyError(r)) : callback();
}

// EHLO and HELO: smtp-server has no hook for them, so their handlers are
// wrapped.
for (const verb of ['EHLO', 'HELO']) {
  const libraryHello = SMTPConnection.prototype[`handler_${verb}`];
  SMTPConnection.prototype[`handler_${verb}`] = function handler_hello(command, callback) {
    const c = controlNow();
    const r = c === null ? INVALID_CONTROL : takeReply(c, 'ehlo');
    if (r) {
      this.send(r.code, new RawReply(r.lines));
      return callback();
    }
    return libraryHello.call(this, command, callback);
  };
}

// The DATA command itself: smtp-server has no hook before its 354, so its
// handler is wrapped.  It also remembers the connection of the session,
// for drop_data_after.
const connectionOf = new WeakMap();
const libraryData = SMTPConnection.prototype.handler_DATA;
SMTPConnection.prototype.handler_DATA = function handler_DATA(command, callback) {
  if (this.session.envelope.rcptTo.length) {
    const c = controlNow();
    if (c !== null && c.hang === 'data') {
      log('control: hang at DATA (no 354)');
      return undefined; // never called back: the client waits
    }
    const r = c === null ? INVALID_CONTROL : takeReply(c, 'data');
    if (r) {
      this.send(r.code, new RawReply(r.lines));
      return callback();
    }
  }
  connectionOf.set(this.session, this);
  return libraryData.call(this, command, callback);
};

function onData(stream, session, callback) {
  const c = controlNow();
  const chunks = [];
  let size = 0;
  let dropped = false;
  const dropAfter = c === null ? null : (c.drop_data_after ?? null);
  stream.on('data', (chunk) => {
    if (dropped) return;
    size += chunk.length;
    if (size <= SIZE_LIMIT) chunks.push(chunk);
    if (dropAfter !== null && size >= dropAfter) {
      dropped = true;
      log(`control: dropped the connection after ${size} bytes of data`);
      const conn = connectionOf.get(session);
      if (conn) conn._socket.destroy();
    }
  });
  stream.on('error', (err) => {
    if (!dropped) callback(err);
  });
  stream.on('end', () => {
    if (dropped) return;
    if (stream.sizeExceeded || size > SIZE_LIMIT) {
      log(`refused a message of ${size} bytes (limit ${SIZE_LIMIT})`);
      return callback(replyError({
        code: 552, lines: [`5.3.4 Error: message exceeds fixed maximum message size ${SIZE_LIMIT}`],
      }));
    }
    const now = controlNow();
    if (now === null) return callback(replyError(INVALID_CONTROL));
    if (now.hang === 'eom') {
      log(`control: hang at the end of data (${size} bytes, not stored)`);
      return undefined; // never called back: the client waits
    }
    const r = takeReply(now, 'eom');
    if (r) return callback(replyError(r));
    lastMessage += 1;
    const n = lastMessage;
    const from = session.envelope.mailFrom;
    const meta = {
      from: from ? from.address : null,
      to: session.envelope.rcptTo.map((rc) => rc.address),
      user: session.user ? session.user.username : null,
      method: session.user ? session.user.method : null,
      size,
      mail_params: (from && from.args) || {},
      ehlo: session.hostNameAppearsAs || null,
      tls: Boolean(session.secure),
    };
    try {
      writeAtomic(join(mailDir, `${n}.eml`), Buffer.concat(chunks, size));
      writeAtomic(join(mailDir, `${n}.json`), `${JSON.stringify(meta)}\n`);
    } catch (err) {
      log(`cannot store message ${n}: ${err.message}`);
      return callback(replyError({ code: 451, lines: ['4.3.0 Local error in processing'] }));
    }
    log(`message ${n}: ${size} bytes from ${meta.from} to ${meta.to.join(',')} as ${meta.user} (${meta.method})`);
    return callback(null, `Message queued as ${n}`);
  });
}

// ---------------------------------------------------------------------------
// Listeners

function makeServer(secure) {
  const server = new SMTPServer({
    secure,
    key: tlsKey,
    cert: tlsCert,
    name: 'smtp.test.invalid',
    banner: 'mailcred test SMTP server',
    authMethods: ['PLAIN', 'LOGIN', 'XOAUTH2', 'OAUTHBEARER'],
    allowInsecureAuth: false, // on the starttls listener, AUTH only after STARTTLS
    size: SIZE_LIMIT,
    hideENHANCEDSTATUSCODES: false, // as Gmail: "250 2.0.0 ...", "535 5.7.8 ..."
    disableReverseLookup: true, // no DNS: the greeting comes at once
    closeTimeout: 200, // on SIGTERM: 421 to open sessions after 0.2 s
    logger: false, // its logger would print the AUTH lines
    onConnect,
    onAuth,
    onMailFrom,
    onRcptTo,
    onData,
    onClose,
  });
  server.on('error', (err) => log(`${secure ? 'tls' : 'starttls'} listener: ${err.message}`));
  return server;
}

function listen(server) {
  return new Promise((resolve, reject) => {
    server.server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      server.server.off('error', reject);
      resolve(server.server.address().port);
    });
  });
}

const plain = makeServer(false);
const implicit = makeServer(true);

try {
  const [starttls, tls] = await Promise.all([listen(plain), listen(implicit)]);
  refreshControl();
  writeAtomic(join(stateDir, 'smtp.ports'), `${JSON.stringify({ starttls, tls })}\n`);
  log(`listening: starttls 127.0.0.1:${starttls}, tls 127.0.0.1:${tls}; tokens checked at ${issuer}/me`);
} catch (err) {
  process.stderr.write(`smtp-server: cannot listen: ${err.message}\n`);
  process.exit(1);
}

function stop(signal) {
  log(`${signal}: stopping`);
  let open = 2;
  const done = () => {
    open -= 1;
    if (open === 0) process.exit(0);
  };
  plain.close(done);
  implicit.close(done);
  // Open sessions get 421 after closeTimeout; this is only a backstop.
  setTimeout(() => process.exit(0), 1500).unref();
}
process.on('SIGTERM', () => stop('SIGTERM'));
process.on('SIGINT', () => stop('SIGINT'));
