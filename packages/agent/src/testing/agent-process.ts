/**
 * Test support: a real agent in its own process (`runAgentCommand` on a state directory),
 * and a small client for its API over the Unix socket. Used by the agent's tests only.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { request } from 'node:http';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

// The built agent, whether this file runs from src/ (vitest) or lib/.
const LIB_INDEX = fileURLToPath(new URL('../../lib/index.js', import.meta.url));

/**
 * JSON as the tests read it: each test knows the shape it asserts on, and a wrong guess fails
 * the assertion, so the looseness costs nothing.
 */
// biome-ignore lint/suspicious/noExplicitAny: see above.
export type Json = any;

/** A response of the API. */
export interface ApiResponse {
  status: number;
  body: Json;
}

/** A running agent process. */
export interface AgentProcess {
  child: ChildProcess;
  pid: number;
  stateDir: string;
  output(): string;
  api(method: string, path: string, body?: unknown): Promise<ApiResponse>;
  /** SIGTERM and wait for the exit code. */
  stop(): Promise<number | null>;
  /** SIGKILL and wait. */
  kill(): Promise<void>;
}

/**
 * A port range of its own for each test agent: agents on other state directories (tests run
 * in parallel) keep other ledgers, and two fresh ledgers would hand out the same first ports.
 */
function testPortRange(): string {
  const from = 12_000 + Math.floor(Math.random() * 80) * 100;
  return `${from}-${from + 99}`;
}

/** Starts `khutulun agent --state-dir DIR ...args` in a new process; resolves once it serves. */
export async function startAgentProcess(
  stateDir: string,
  args: string[] = [],
  env: Record<string, string> = {},
): Promise<AgentProcess> {
  const argv = ['--state-dir', stateDir, '--port-range', testPortRange(), ...args];
  const script =
    `import(${JSON.stringify(LIB_INDEX)}).then(async (m) => process.exit(await m.runAgentCommand(` +
    `${JSON.stringify(argv)}, { stdout: process.stdout, stderr: process.stderr })))`;
  const child = spawn(process.execPath, ['--input-type=module', '-e', script], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, ...env },
  });
  let out = '';
  child.stdout!.on('data', (d) => {
    out += d;
  });
  child.stderr!.on('data', (d) => {
    out += d;
  });
  const agent: AgentProcess = {
    child,
    pid: child.pid!,
    stateDir,
    output: () => out,
    api: (method, path, body) => apiCall(join(stateDir, 'api.sock'), method, path, body),
    async stop() {
      if (child.exitCode !== null) return child.exitCode;
      child.kill('SIGTERM');
      const [code] = await once(child, 'exit');
      return code as number | null;
    },
    async kill() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGKILL');
      await once(child, 'exit');
    },
  };
  const deadline = Date.now() + 60_000;
  while (!out.includes('API ')) {
    if (child.exitCode !== null) throw new Error(`the agent exited (${child.exitCode}): ${out}`);
    if (Date.now() > deadline) throw new Error(`the agent did not start: ${out}`);
    await Promise.race([once(child.stdout!, 'data'), once(child, 'exit')]);
  }
  return agent;
}

/** Runs an agent process that is expected to exit on its own; resolves with code and output. */
export async function runAgentToExit(
  stateDir: string,
  args: string[] = [],
): Promise<{ code: number; output: string }> {
  const argv = ['--state-dir', stateDir, ...args];
  const script =
    `import(${JSON.stringify(LIB_INDEX)}).then(async (m) => process.exit(await m.runAgentCommand(` +
    `${JSON.stringify(argv)}, { stdout: process.stdout, stderr: process.stderr })))`;
  const child = spawn(process.execPath, ['--input-type=module', '-e', script], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout.on('data', (d) => {
    output += d;
  });
  child.stderr.on('data', (d) => {
    output += d;
  });
  const [code] = await once(child, 'exit');
  return { code: code as number, output };
}

/** One JSON request over a Unix socket. */
export function apiCall(
  socketPath: string,
  method: string,
  path: string,
  body?: unknown,
): Promise<ApiResponse> {
  return new Promise((resolve, reject) => {
    const req = request(
      { socketPath, method, path, headers: { 'content-type': 'application/json' } },
      (res) => {
        let text = '';
        res.on('data', (d) => {
          text += d;
        });
        res.on('end', () => {
          let parsed: unknown = text;
          try {
            parsed = text ? JSON.parse(text) : null;
          } catch {
            // Not JSON (logs): keep the text.
          }
          resolve({ status: res.statusCode ?? 0, body: parsed });
        });
      },
    );
    req.on('error', reject);
    req.end(body === undefined ? undefined : JSON.stringify(body));
  });
}

/** Subscribes to the SSE event stream; `next(pred)` resolves with the first matching event. */
export function eventStream(socketPath: string, since: number) {
  const seen: Json[] = [];
  const waiters: Array<{ pred: (e: Json) => boolean; resolve: (e: Json) => void }> = [];
  const req = request({
    socketPath,
    path: `/v1/events/stream?since=${since}`,
    headers: { accept: 'text/event-stream' },
  });
  req.on('response', (res) => {
    let buffer = '';
    res.setEncoding('utf8');
    res.on('data', (chunk: string) => {
      buffer += chunk;
      for (let i = buffer.indexOf('\n\n'); i >= 0; i = buffer.indexOf('\n\n')) {
        const block = buffer.slice(0, i);
        buffer = buffer.slice(i + 2);
        const data = block.split('\n').find((l) => l.startsWith('data:'));
        if (!data) continue;
        const event = JSON.parse(data.slice(5));
        seen.push(event);
        for (const w of [...waiters]) {
          if (w.pred(event)) {
            waiters.splice(waiters.indexOf(w), 1);
            w.resolve(event);
          }
        }
      }
    });
  });
  req.on('error', () => {});
  req.end();
  return {
    seen,
    next(pred: (e: Json) => boolean, timeoutMs = 60_000): Promise<Json> {
      const found = seen.find(pred);
      if (found) return Promise.resolve(found);
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error('no such event in time')), timeoutMs);
        waiters.push({
          pred,
          resolve: (e) => {
            clearTimeout(timer);
            resolve(e);
          },
        });
      });
    },
    close: () => req.destroy(),
  };
}

/** Whether a process exists. */
export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}
