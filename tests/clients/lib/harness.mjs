// Starts `dualrpc sim` and `dualrpc serve` as child processes on 127.0.0.1, waits for them
// by parsing what they print (never by sleeping), and stops them again — from the test's
// `after()` hook, and, as a backstop, when this process exits or is interrupted.

import { execFileSync, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import readline from 'node:readline';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const repoRoot = path.resolve(here, '..', '..', '..');

/** How long a child may take to print its "ready" output before the suite gives up. */
const START_TIMEOUT_MS = 30_000;
/** How long a child may take to exit after SIGTERM before it gets SIGKILL. */
const STOP_TIMEOUT_MS = 10_000;

/**
 * The workspace's target directory as cargo reports it (so `CARGO_TARGET_DIR`, relative to
 * the workspace root when relative, and `build.target-dir` count); without cargo on the PATH,
 * `$CARGO_TARGET_DIR` or `target/`.
 */
function cargoTargetDir() {
  try {
    const out = execFileSync('cargo', ['metadata', '--format-version', '1', '--no-deps'], {
      cwd: repoRoot,
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'ignore'],
      maxBuffer: 64 * 1024 * 1024,
    });
    return JSON.parse(out).target_directory;
  } catch {
    return path.resolve(repoRoot, process.env.CARGO_TARGET_DIR || 'target');
  }
}

let bin;

/** The dualrpc binary: `$DUALRPC_BIN`, else the workspace's debug build (looked up once). */
export function dualrpcBin() {
  bin ??= process.env.DUALRPC_BIN || path.join(cargoTargetDir(), 'debug', 'dualrpc');
  if (!existsSync(bin)) {
    throw new Error(
      `dualrpc binary not found at ${bin}: build it with \`cargo build -p dualrpc-cli\` ` +
        'or set DUALRPC_BIN (tests/clients/run.sh does both)',
    );
  }
  return bin;
}

const children = new Set();

function killAllNow() {
  for (const child of children) {
    if (child.exitCode === null && child.signalCode === null) {
      try {
        child.kill('SIGKILL');
      } catch {
        // already gone
      }
    }
  }
}

// Backstop: whatever happens to this process, its children do not outlive it.
process.on('exit', killAllNow);
for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
  process.once(signal, () => {
    killAllNow();
    process.exit(128 + (signal === 'SIGINT' ? 2 : signal === 'SIGTERM' ? 15 : 1));
  });
}

/**
 * A child process whose output lines are kept (the last few hundred) for error messages.
 */
class Child {
  constructor(name, args, env) {
    this.name = name;
    this.lines = [];
    this.proc = spawn(dualrpcBin(), args, {
      cwd: repoRoot,
      env: { ...process.env, NO_COLOR: '1', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    children.add(this.proc);
    this.exited = new Promise((resolve) => {
      this.proc.once('exit', (code, signal) => {
        children.delete(this.proc);
        resolve({ code, signal });
      });
    });
    this.listeners = new Set();
    for (const [stream, label] of [
      [this.proc.stdout, 'stdout'],
      [this.proc.stderr, 'stderr'],
    ]) {
      // Always drain both pipes, so a chatty child never blocks on a full pipe.
      readline.createInterface({ input: stream, crlfDelay: Infinity }).on('line', (line) => {
        this.lines.push(`[${label}] ${line}`);
        if (this.lines.length > 400) this.lines.shift();
        for (const listener of this.listeners) listener(label, line);
      });
    }
  }

  /** Recent output, for error messages. */
  output() {
    return this.lines.join('\n');
  }

  /**
   * Resolves with `check`'s first non-undefined result, fed with every output line (the ones
   * already printed included); rejects if the child exits first or after START_TIMEOUT_MS.
   */
  waitFor(description, check) {
    return new Promise((resolve, reject) => {
      let done = false;
      const finish = (fn, value) => {
        if (done) return;
        done = true;
        clearTimeout(timer);
        this.listeners.delete(listener);
        fn(value);
      };
      const listener = (label, line) => {
        let result;
        try {
          result = check(label, line);
        } catch (e) {
          finish(reject, e);
          return;
        }
        if (result !== undefined) finish(resolve, result);
      };
      const timer = setTimeout(
        () =>
          finish(
            reject,
            new Error(`${this.name}: no ${description} within ${START_TIMEOUT_MS} ms\n${this.output()}`),
          ),
        START_TIMEOUT_MS,
      );
      this.exited.then(({ code, signal }) =>
        finish(
          reject,
          new Error(
            `${this.name} exited (code ${code}, signal ${signal}) before ${description}\n${this.output()}`,
          ),
        ),
      );
      this.listeners.add(listener);
      for (const entry of this.lines) {
        const [, label, line] = /^\[(\w+)\] (.*)$/s.exec(entry);
        listener(label, line);
        if (done) break;
      }
    });
  }

  /** SIGTERM, then SIGKILL if it has not exited within STOP_TIMEOUT_MS. */
  async stop() {
    if (this.proc.exitCode !== null || this.proc.signalCode !== null) return this.exited;
    this.proc.kill('SIGTERM');
    let timer;
    const killed = new Promise((resolve) => {
      timer = setTimeout(() => {
        this.proc.kill('SIGKILL');
        resolve();
      }, STOP_TIMEOUT_MS);
    });
    await Promise.race([this.exited, killed]);
    clearTimeout(timer);
    return this.exited;
  }
}

/**
 * `dualrpc sim --profile PROFILE`: resolves with `{ child, endpoints: [{name, url}] }` once
 * every endpoint named in the summary line has printed its `NAME=URL` line.
 */
export async function startSim({ profile = 'zero', seed = 1 } = {}) {
  const child = new Child('dualrpc sim', [
    'sim',
    '--profile',
    profile,
    '--seed',
    String(seed),
    '--listen-ip',
    '127.0.0.1',
    '--base-port',
    '0',
  ]);
  let expected = null;
  const endpoints = new Map();
  try {
    await child.waitFor('endpoint list on stdout', (label, line) => {
      if (label !== 'stdout') return undefined;
      if (expected === null) {
        // `profile zero: … (zero-a 0ms/0.0%fail, zero-b 0ms/0.0%fail; slot 400 ms, …)`
        const names = [...line.matchAll(/[(,] ?([\w.-]+) \d+ms\/[\d.]+%fail/g)].map((m) => m[1]);
        if (!line.startsWith('profile ') || names.length === 0) {
          throw new Error(`unexpected first line from dualrpc sim: ${line}`);
        }
        expected = names;
        return undefined;
      }
      const m = /^([\w.-]+)=(http:\/\/127\.0\.0\.1:\d+\/?)$/.exec(line);
      if (m) endpoints.set(m[1], m[2]);
      if (expected.every((n) => endpoints.has(n))) {
        return expected.map((name) => ({ name, url: endpoints.get(name) }));
      }
      return undefined;
    });
  } catch (e) {
    await child.stop();
    throw e;
  }
  return { child, endpoints: expected.map((name) => ({ name, url: endpoints.get(name) })) };
}

/**
 * `dualrpc serve --listen 127.0.0.1:0 --endpoint …`: resolves with `{ child, url, wsUrl }`
 * once the gateway has logged `dualrpc gateway ready … listen=127.0.0.1:PORT
 * ws_listen=127.0.0.1:PORT`.
 */
export async function startGateway(endpoints) {
  const args = ['serve', '--listen', '127.0.0.1:0'];
  for (const { name, url } of endpoints) args.push('--endpoint', `${name}=${url}`);
  const child = new Child('dualrpc serve', args, { RUST_LOG: 'info' });
  let url;
  try {
    url = await child.waitFor('"dualrpc gateway ready" log line', (_label, line) => {
      // Strip colour codes in case a terminal sneaks in.
      const plain = line.replace(/\x1b\[[0-9;]*m/g, '');
      if (!plain.includes('dualrpc gateway ready')) return undefined;
      const m = /\blisten=(127\.0\.0\.1:\d+)/.exec(plain);
      if (!m) throw new Error(`ready line without listen=127.0.0.1:PORT: ${plain}`);
      const ws = /\bws_listen=(127\.0\.0\.1:\d+)/.exec(plain);
      return { http: `http://${m[1]}/`, ws: ws ? `ws://${ws[1]}/` : undefined };
    });
  } catch (e) {
    await child.stop();
    throw e;
  }
  return { child, url: url.http, wsUrl: url.ws };
}

/** Stops the children in order (gateway first), each with SIGTERM; returns their exits. */
export async function stopAll(...childs) {
  const exits = [];
  for (const c of childs) {
    if (c) exits.push({ name: c.name, ...(await c.stop()) });
  }
  return exits;
}

/** JSON.stringify that writes BigInts as JSON numbers (as @solana/kit does on the wire). */
export function stringifyWithBigInts(value) {
  return JSON.stringify(value, (_k, v) => (typeof v === 'bigint' ? Number(v) : v));
}

/**
 * POSTs a raw JSON-RPC body (a string, an object or an array) and returns
 * `{ status, headers, json }`.
 */
export async function postJson(url, body, headers = {}) {
  const response = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: typeof body === 'string' ? body : stringifyWithBigInts(body),
  });
  const text = await response.text();
  let json;
  try {
    json = JSON.parse(text);
  } catch {
    throw new Error(`non-JSON answer (HTTP ${response.status}) from ${url}: ${text.slice(0, 500)}`);
  }
  return { status: response.status, headers: response.headers, json };
}

let nextId = 1;

/** One JSON-RPC call: resolves with the whole response object (`result` or `error`). */
export async function rpc(url, method, params, headers) {
  const { json } = await postJson(url, { jsonrpc: '2.0', id: nextId++, method, params }, headers);
  return json;
}

/** One JSON-RPC call that must succeed: resolves with its `result`. */
export async function rpcResult(url, method, params, headers) {
  const json = await rpc(url, method, params, headers);
  if (json.error) {
    throw new Error(`${method} failed at ${url}: ${JSON.stringify(json.error)}`);
  }
  return json.result;
}
