// A real browser for mailcred's integration tests: headless Chromium
// (Debian's chromium package) driven by puppeteer-core, which downloads
// nothing and runs the system browser.
//
//   node /ABS/tests/peers/browser.mjs AUTH_URL [--login L] [--deny]
//        [--resolve-localhost 127.0.0.1|::1] [--screenshot FILE]
//        [--timeout-ms N]
//
// Opens AUTH_URL (an authorization request to tests/peers/oauth-server.mjs),
// signs in on oidc-provider's devInteractions login page as L (default
// user@example.test; any password does), then presses Continue on the
// consent page, or with --deny follows the page's "[ Cancel ]" link, so the
// server redirects with error=access_denied.  It then waits until the
// browser has followed the server's redirect off the OAuth server (to the
// client's loopback listener) and that page has loaded, and prints one JSON
// line on stdout:
//
//   {"url": ..., "status": N, "title": ..., "text": ..., "remote": "127.0.0.1"}
//
// url is the final URL with the value of code replaced by REDACTED (and no
// fragment); status is that page's HTTP status; title is document.title;
// text is the body's innerText; remote is the IP address Chromium connected
// to for that page ("127.0.0.1" or "::1" when the listener is reached as
// localhost).  The code, cookies and tokens are never printed: a code that
// shows up in the page is redacted too.
//
// Chromium resolves localhost itself, and tries the other address when the
// first one refuses (seen here: ::1 first, then 127.0.0.1), so a listener
// on one address alone still gets the redirect.  --resolve-localhost ADDR
// makes Chromium resolve localhost to ADDR only (--host-resolver-rules), to
// check that a listener answers on that address.
//
// --screenshot FILE saves the last page as PNG (as it is shown: a code the
// page displays is not hidden there).
//
// Exit 0 when a page on a loopback address other than the OAuth server
// loaded (whatever it says: the caller asserts on title and text); 1 with a
// one-line reason on stderr otherwise (Chromium missing or not starting, an
// unexpected page at the server, a redirect that could not be loaded, the
// time limit); 64 for a usage error.
//
// The browser: $CHROMIUM or /usr/bin/chromium, headless, with a new empty
// profile in a temp folder that is removed at exit, and with the flags a
// machine without network needs (no background networking, component
// updates, sync or QUIC).  --no-sandbox is always given: root cannot run
// the sandbox, and containers often lack the user namespaces a normal
// user's sandbox needs; the only pages loaded are the test's own loopback
// servers.  Requests to anything but a loopback address are refused inside
// the browser (oidc-provider's pages import a web font), so nothing leaves
// the machine.  Chromium gets a private HOME and no D-Bus session address,
// so it never touches the test's keyring.  The browser is closed at exit,
// and killed by PID (its process group) if closing hangs.

import { accessSync, constants, mkdtempSync, rmSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';

import puppeteer from 'puppeteer-core';

const PROG = 'browser';
const MAX_STEPS = 12;
const CLOSE_GRACE_MS = 5000;

function usage(msg) {
  if (msg) process.stderr.write(`${PROG}: ${msg}\n`);
  process.stderr.write('usage: node browser.mjs AUTH_URL [--login L] [--deny] '
    + '[--resolve-localhost 127.0.0.1|::1] [--screenshot FILE] [--timeout-ms N]\n');
  process.exit(64);
}

let args;
let positionals;
try {
  ({ values: args, positionals } = parseArgs({
    options: {
      login: { type: 'string', default: 'user@example.test' },
      deny: { type: 'boolean', default: false },
      screenshot: { type: 'string' },
      'resolve-localhost': { type: 'string' },
      'timeout-ms': { type: 'string', default: '60000' },
    },
    allowPositionals: true,
    strict: true,
  }));
} catch (err) {
  usage(err.message);
}
if (positionals.length !== 1) usage('one AUTH_URL is needed');
const authUrl = URL.parse(positionals[0]);
if (!authUrl || !['http:', 'https:'].includes(authUrl.protocol)) {
  usage(`not an http(s) URL: ${positionals[0]}`);
}
const timeoutMs = Number(args['timeout-ms']);
if (!Number.isInteger(timeoutMs) || timeoutMs < 1000) usage('--timeout-ms must be an integer >= 1000');
if (args.login === '') usage('--login must not be empty');
const resolveTo = args['resolve-localhost'];
if (resolveTo !== undefined && !['127.0.0.1', '::1'].includes(resolveTo)) {
  usage('--resolve-localhost must be 127.0.0.1 or ::1');
}
const executablePath = process.env.CHROMIUM || '/usr/bin/chromium';

// ---------------------------------------------------------------------------
// Redaction: the authorization code must never reach stdout or stderr.

let seenCode = null; // the code value, once a URL carrying one was seen

function noteCode(url) {
  const u = URL.parse(url);
  const code = u?.searchParams.get('code');
  if (code) seenCode = code;
}

function redact(text) {
  let s = String(text).replace(/([?&#]code=)[^&#\s"']*/g, '$1REDACTED');
  if (seenCode) s = s.split(seenCode).join('REDACTED');
  return s;
}

function redactUrl(url) {
  const u = URL.parse(url);
  if (!u) return redact(url);
  u.hash = '';
  if (u.searchParams.has('code')) u.searchParams.set('code', 'REDACTED');
  return redact(u.href);
}

function oneLine(text) {
  return redact(String(text).split('\n').map((l) => l.trim()).filter(Boolean)[0] ?? '').slice(0, 300);
}

// ---------------------------------------------------------------------------
// The browser's lifetime, and leaving

const LOOPBACK_HOSTS = new Set(['localhost', '[::1]']);
function isLoopbackHost(hostname) {
  return LOOPBACK_HOSTS.has(hostname) || /^127\.\d+\.\d+\.\d+$/.test(hostname);
}

let workDir = null;
let browser = null;
let page = null;
let leaving = false;

function alive(pid) {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

function sleep(ms) {
  return new Promise((resolve) => { setTimeout(resolve, ms).unref(); });
}

async function closeBrowser() {
  if (!browser) return;
  const proc = browser.process();
  const pid = proc?.pid;
  const exited = proc && proc.exitCode === null && proc.signalCode === null
    ? new Promise((resolve) => { proc.once('exit', resolve); })
    : Promise.resolve();
  const closed = await Promise.race([
    browser.close().then(() => true, () => false),
    sleep(CLOSE_GRACE_MS).then(() => false),
  ]);
  browser = null;
  if (pid && (!closed || alive(pid))) {
    // puppeteer starts Chromium as a process group leader: the group is
    // the browser and its helpers.
    try { process.kill(-pid, 'SIGKILL'); } catch { /* already gone */ }
    try { process.kill(pid, 'SIGKILL'); } catch { /* already gone */ }
  }
  await Promise.race([exited, sleep(CLOSE_GRACE_MS)]);
}

async function takeScreenshot() {
  if (!args.screenshot || !page) return;
  try {
    await Promise.race([
      page.screenshot({ path: args.screenshot, fullPage: true }),
      sleep(CLOSE_GRACE_MS).then(() => { throw new Error('the browser did not answer'); }),
    ]);
  } catch (err) {
    process.stderr.write(`${PROG}: screenshot failed: ${oneLine(err.message)}\n`);
  }
}

async function leave(status, line) {
  if (leaving) return;
  leaving = true;
  await takeScreenshot();
  await closeBrowser();
  if (workDir) rmSync(workDir, { recursive: true, force: true, maxRetries: 5, retryDelay: 100 });
  if (status === 0) process.stdout.write(`${line}\n`);
  else process.stderr.write(`${PROG}: ${line}\n`);
  process.exit(status);
}

function fail(reason) {
  return leave(1, oneLine(reason));
}

for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
  process.on(sig, () => { fail(`stopped by ${sig}`); });
}
let pendingNavigation = null; // the last main-frame URL the browser asked for
setTimeout(() => {
  const where = pendingNavigation ?? page?.url();
  fail(`gave up after ${timeoutMs} ms${where ? `, loading ${redactUrl(where)}` : ''}`);
}, timeoutMs).unref();

// ---------------------------------------------------------------------------
// Driving the pages

// What the page at the OAuth server is: 'login', 'consent' or null.
async function promptOf() {
  return page.evaluate(() => document.querySelector('form input[name="prompt"]')?.value ?? null);
}

// A one-line summary of a page that is neither login nor consent
// (oidc-provider's error page: <pre><strong>error</strong>: text</pre>).
async function pageSummary() {
  const text = await page.evaluate(() => {
    const pre = document.querySelector('pre');
    return (pre ? pre.innerText : document.body?.innerText) ?? '';
  }).catch(() => '');
  return `${redactUrl(page.url())}: ${oneLine(text) || '(empty page)'}`;
}

// Runs ACTION (which starts a navigation) and waits for that navigation's
// load; returns its main response (null when there was none).
async function navigate(action) {
  const [response] = await Promise.all([
    page.waitForNavigation({ waitUntil: 'load' }),
    action(),
  ]);
  return response;
}

async function main() {
  try {
    accessSync(executablePath, constants.X_OK);
  } catch {
    return fail(`no Chromium at ${executablePath} (install Debian's chromium package, or set CHROMIUM)`);
  }
  workDir = mkdtempSync(join(tmpdir(), 'mailcred-browser.'));
  const profile = join(workDir, 'profile');
  const home = join(workDir, 'home');
  mkdirSync(profile, { mode: 0o700 });
  mkdirSync(home, { mode: 0o700 });
  const env = { ...process.env, HOME: home, XDG_CONFIG_HOME: join(home, '.config'), XDG_CACHE_HOME: join(home, '.cache') };
  delete env.DBUS_SESSION_BUS_ADDRESS;
  delete env.DISPLAY;
  delete env.WAYLAND_DISPLAY;

  try {
    browser = await puppeteer.launch({
      executablePath,
      headless: true,
      pipe: true, // DevTools over a pipe: no debugging port is opened
      userDataDir: profile,
      env,
      args: [
        '--no-sandbox',
        '--disable-gpu',
        '--disable-quic',
        '--no-first-run',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
        '--disable-dev-shm-usage',
        '--password-store=basic',
        ...(resolveTo ? [`--host-resolver-rules=MAP localhost ${resolveTo === '::1' ? '[::1]' : resolveTo}`] : []),
      ],
      handleSIGINT: false,
      handleSIGTERM: false,
      handleSIGHUP: false,
      timeout: Math.min(timeoutMs, 30000),
      protocolTimeout: timeoutMs,
    });
  } catch (err) {
    return fail(`Chromium (${executablePath}) did not start: ${oneLine(err.message)}`);
  }

  page = (await browser.pages())[0] ?? await browser.newPage();
  page.setDefaultTimeout(timeoutMs);
  page.setDefaultNavigationTimeout(timeoutMs);

  // Only loopback addresses are reachable; every main-frame URL is looked
  // at for a code so that it can be redacted from anything printed.
  let lastFailure = null;
  await page.setRequestInterception(true);
  page.on('request', (req) => {
    const u = URL.parse(req.url());
    if (req.isNavigationRequest() && req.frame() === page.mainFrame()) {
      noteCode(req.url());
      pendingNavigation = req.url();
    }
    if (u && (u.protocol === 'data:' || ((u.protocol === 'http:' || u.protocol === 'https:')
        && isLoopbackHost(u.hostname)))) {
      req.continue().catch(() => {});
    } else {
      req.abort('blockedbyclient').catch(() => {});
    }
  });
  page.on('requestfailed', (req) => {
    if (req.isNavigationRequest() && req.frame() === page.mainFrame()) {
      lastFailure = `${req.failure()?.errorText ?? 'failed'} loading ${redactUrl(req.url())}`;
    }
  });
  page.on('response', (res) => {
    const loc = res.headers().location;
    const target = loc ? URL.parse(loc, res.url()) : null;
    if (target) noteCode(target.href);
  });

  let response;
  try {
    response = await page.goto(authUrl.href, { waitUntil: 'load' });
    let step = 0;
    for (; step < MAX_STEPS; step += 1) {
      const here = URL.parse(page.url());
      if (!here || here.origin !== authUrl.origin) break;
      const prompt = await promptOf();
      if (prompt !== 'login' && prompt !== 'consent') {
        return fail(`unexpected page at the OAuth server: ${await pageSummary()}`);
      }
      if (args.deny) {
        // devInteractions' "[ Cancel ]" link: /interaction/UID/abort
        const cancel = await page.$('a[href$="/abort"]');
        if (!cancel) return fail(`no Cancel link on the ${prompt} page`);
        response = await navigate(() => cancel.click());
      } else if (prompt === 'login') {
        await page.$eval('input[name="login"]', (el) => { el.value = ''; });
        await page.type('input[name="login"]', args.login);
        await page.type('input[name="password"]', 'test');
        response = await navigate(() => page.click('form button[type="submit"]'));
      } else {
        response = await navigate(() => page.click('form button[type="submit"]'));
      }
    }
    if (step === MAX_STEPS) return fail(`still at the OAuth server after ${MAX_STEPS} pages: ${redactUrl(page.url())}`);
  } catch (err) {
    return fail(lastFailure ?? err.message);
  }

  const final = URL.parse(page.url());
  if (!final || final.protocol === 'chrome-error:' || !response) {
    return fail(`the redirect did not load: ${lastFailure ?? redactUrl(page.url())}`);
  }
  if (!isLoopbackHost(final.hostname)) {
    return fail(`the server sent the browser off loopback, to ${redactUrl(final.href)}`);
  }
  const title = await page.title();
  const text = await page.evaluate(() => document.body?.innerText ?? '');
  const remote = (response.remoteAddress()?.ip ?? '').replace(/^\[(.*)\]$/, '$1');
  return leave(0, JSON.stringify({
    url: redactUrl(final.href),
    status: response.status(),
    title: redact(title),
    text: redact(text),
    remote,
  }));
}

main().catch((err) => fail(`unexpected error: ${err.message}`));
