/**
 * `khutulun workload exec`: a command inside a workload, over the agent's exec WebSocket
 * (frames whose first byte is a channel: 0 stdin, 1 stdout, 2 stderr, 3 control JSON).
 */
import { readFileSync } from 'node:fs';
import { ExecChannel } from '@khutulun/api';
import WebSocket from 'ws';
import type { AgentEndpoint } from './agent-client.js';
import { agentErrorFromBody } from './agent-client.js';
import { CliError } from './cli-error.js';

const { stdin: STDIN, stdout: STDOUT, stderr: STDERR, control: CONTROL } = ExecChannel;

/** What an exec session reads from and writes to. */
export interface ExecStreams {
  stdin?: NodeJS.ReadableStream & { isTTY?: boolean; setRawMode?(raw: boolean): unknown };
  stdout: { write(chunk: Uint8Array | string): unknown; columns?: number; rows?: number };
  stderr: { write(chunk: Uint8Array | string): unknown };
  signal?: AbortSignal;
}

/** Runs a command in a workload; resolves with its exit code. */
export function execInWorkload(
  endpoint: AgentEndpoint,
  path: string,
  options: { command: string[]; tty: boolean; interactive: boolean },
  streams: ExecStreams,
): Promise<number> {
  const search = new URLSearchParams();
  for (const word of options.command) search.append('command', word);
  if (options.tty) {
    search.set('tty', 'true');
    if (streams.stdout.columns) search.set('cols', String(streams.stdout.columns));
    if (streams.stdout.rows) search.set('rows', String(streams.stdout.rows));
  }
  const target = `${path}?${search}`;
  const ws =
    endpoint.kind === 'unix'
      ? new WebSocket(`ws+unix://${endpoint.socketPath}:${target}`)
      : new WebSocket(new URL(target, endpoint.url.href.replace(/^http/, 'ws')), {
          headers: endpoint.token ? { authorization: `Bearer ${endpoint.token}` } : {},
          ...(endpoint.caFile ? { ca: readFileSync(endpoint.caFile) } : {}),
        });
  return new Promise<number>((resolve, reject) => {
    let code: number | undefined;
    const stdin = options.interactive ? streams.stdin : undefined;
    const raw = Boolean(options.tty && stdin?.isTTY && stdin.setRawMode);
    const cleanup = () => {
      if (raw) stdin?.setRawMode?.(false);
      stdin?.pause();
    };
    ws.on('unexpected-response', (_req, res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () =>
        reject(
          agentErrorFromBody(
            Buffer.concat(chunks).toString('utf8'),
            res.statusCode ?? 500,
            `GET ${path}`,
          ),
        ),
      );
    });
    ws.on('open', () => {
      if (!stdin) {
        ws.send(Buffer.from([STDIN]));
        return;
      }
      if (raw) stdin.setRawMode?.(true);
      stdin.on('data', (d: Buffer | string) =>
        ws.send(Buffer.concat([Buffer.from([STDIN]), Buffer.from(d)])),
      );
      stdin.on('end', () => ws.send(Buffer.from([STDIN])));
      stdin.resume();
    });
    ws.on('message', (data: Buffer) => {
      const channel = data[0];
      const payload = data.subarray(1);
      if (channel === STDOUT) streams.stdout.write(payload);
      else if (channel === STDERR) streams.stderr.write(payload);
      else if (channel === CONTROL) {
        try {
          const control = JSON.parse(payload.toString('utf8')) as { type?: string; code?: number };
          if (control.type === 'exit' && typeof control.code === 'number') code = control.code;
        } catch {
          // Not a control message this client knows.
        }
      }
    });
    streams.signal?.addEventListener('abort', () => ws.close(), { once: true });
    ws.on('close', () => {
      cleanup();
      resolve(code ?? 130);
    });
    ws.on('error', (error: Error & { code?: string }) => {
      cleanup();
      if (error.code === 'ENOENT' || error.code === 'ECONNREFUSED') {
        reject(
          new CliError(
            'agent-unreachable',
            `no agent answers at ${endpoint.kind === 'unix' ? endpoint.socketPath : endpoint.url.origin}`,
            {},
            { cause: error },
          ),
        );
      } else reject(new CliError('agent', `exec failed: ${error.message}`, {}, { cause: error }));
    });
  });
}
