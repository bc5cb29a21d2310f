import { parseArgs } from 'node:util';
import { parseBusUrl } from './agent-cluster.js';
import { isAgentError } from './agent-error.js';
import { startAgent } from './start-agent.js';

/** Where `runAgentCommand` writes. */
export interface AgentCommandIO {
  stdout: NodeJS.WritableStream;
  stderr: NodeJS.WritableStream;
  /** Resolves when the agent should stop; default: the first SIGINT or SIGTERM. */
  stopSignal?: Promise<unknown>;
}

const USAGE =
  'usage: khutulun agent [--state-dir DIR] [--store postgres://...] [--port-range FROM-TO] ' +
  '[--host-name NAME] [--address ADDRESS] [--kinds process,podman,docker] ' +
  '[--listen HOST:PORT --tls-cert FILE --tls-key FILE --token TOKEN] ' +
  '[--bus nats://USER:PASSWORD@HOST:PORT [--cluster NAME] [--label KEY=VALUE]...]\n';

/**
 * `khutulun agent ...`: parses the arguments, runs the agent until SIGINT/SIGTERM and
 * resolves with the exit code: 0 after a clean stop, 1 on failure, 2 on misuse.
 */
export async function runAgentCommand(argv: string[], io: AgentCommandIO): Promise<number> {
  let values: Record<string, string | string[] | boolean | undefined>;
  try {
    values = parseArgs({
      args: argv,
      options: {
        'state-dir': { type: 'string' },
        store: { type: 'string' },
        listen: { type: 'string' },
        'tls-cert': { type: 'string' },
        'tls-key': { type: 'string' },
        token: { type: 'string' },
        'port-range': { type: 'string' },
        'host-name': { type: 'string' },
        address: { type: 'string' },
        kinds: { type: 'string' },
        bus: { type: 'string' },
        cluster: { type: 'string' },
        label: { type: 'string', multiple: true },
        help: { type: 'boolean', short: 'h' },
      },
      strict: true,
      allowPositionals: false,
    }).values;
  } catch (error) {
    io.stderr.write(`khutulun agent: ${(error as Error).message}\n${USAGE}`);
    return 2;
  }
  if (values.help) {
    io.stdout.write(USAGE);
    return 0;
  }
  const str = (k: string) => (typeof values[k] === 'string' ? (values[k] as string) : undefined);
  const listen = str('listen');
  const cert = str('tls-cert');
  const key = str('tls-key');
  const token = str('token') ?? process.env.KHUTULUN_TOKEN;
  if (listen && (!cert || !key || !token)) {
    io.stderr.write(
      `khutulun agent: --listen requires --tls-cert, --tls-key and --token\n${USAGE}`,
    );
    return 2;
  }
  const store = str('store');
  if (store && !/^postgres(ql)?:\/\//.test(store)) {
    io.stderr.write(`khutulun agent: --store expects a postgres:// URL\n${USAGE}`);
    return 2;
  }
  const rangeText = str('port-range');
  const range = rangeText ? /^(\d+)-(\d+)$/.exec(rangeText) : undefined;
  const portRange = range ? { from: Number(range[1]), to: Number(range[2]) } : undefined;
  if (
    rangeText &&
    (!portRange || portRange.from < 1 || portRange.to > 65535 || portRange.from > portRange.to)
  ) {
    io.stderr.write(`khutulun agent: --port-range expects FROM-TO (1-65535)\n${USAGE}`);
    return 2;
  }
  // The bus URL carries the cluster's credentials: KHUTULUN_BUS keeps them out of `ps`.
  const bus = str('bus') ?? (process.env.KHUTULUN_BUS || undefined);
  if (bus && !parseBusUrl(bus)) {
    io.stderr.write(`khutulun agent: --bus expects nats://USER:PASSWORD@HOST:PORT\n${USAGE}`);
    return 2;
  }
  if (bus && !store) {
    io.stderr.write(`khutulun agent: --bus requires --store postgres://...\n${USAGE}`);
    return 2;
  }
  const labelTexts = Array.isArray(values.label) ? values.label : [];
  const labels: Record<string, string> = {};
  for (const text of labelTexts) {
    const match = /^([A-Za-z0-9_./-]+)=(.*)$/.exec(text);
    if (!match) {
      io.stderr.write(`khutulun agent: --label expects KEY=VALUE, got ${text}\n${USAGE}`);
      return 2;
    }
    labels[match[1]!] = match[2]!;
  }
  if ((labelTexts.length || str('cluster')) && !bus) {
    io.stderr.write(`khutulun agent: --label and --cluster require --bus\n${USAGE}`);
    return 2;
  }
  let agent: Awaited<ReturnType<typeof startAgent>>;
  try {
    agent = await startAgent({
      stateDir: str('state-dir'),
      store,
      host: str('host-name'),
      address: str('address'),
      kindNames: kindList(str('kinds') ?? process.env.KHUTULUN_KINDS),
      listen,
      tls: cert && key ? { cert, key } : undefined,
      token,
      ...(portRange ? { portRange } : {}),
      ...(bus ? { bus, labels } : {}),
      ...(str('cluster') ? { cluster: str('cluster') } : {}),
    });
  } catch (error) {
    const code = isAgentError(error) ? ` (${error.code})` : '';
    io.stderr.write(`khutulun agent: ${(error as Error).message}${code}\n`);
    return 1;
  }
  io.stdout.write(
    `khutulun agent: PID ${process.pid}, state ${agent.stateDir}, API ${agent.socketPath}` +
      (agent.tcpAddress ? `, https://${agent.tcpAddress.host}:${agent.tcpAddress.port}` : '') +
      (bus ? `, cluster ${str('cluster') ?? 'default'}` : '') +
      '\n',
  );
  await (io.stopSignal ?? signalled());
  await agent.stop();
  return 0;
}

function signalled(): Promise<NodeJS.Signals> {
  return new Promise((resolve) => {
    const on = (signal: NodeJS.Signals) => {
      process.off('SIGINT', on);
      process.off('SIGTERM', on);
      resolve(signal);
    };
    process.on('SIGINT', on);
    process.on('SIGTERM', on);
  });
}

/** `--kinds a,b` (or KHUTULUN_KINDS) as names; undefined when not given: every kind. */
function kindList(text: string | undefined): string[] | undefined {
  if (text === undefined || text.trim() === '') return undefined;
  return text
    .split(',')
    .map((k) => k.trim())
    .filter(Boolean);
}
