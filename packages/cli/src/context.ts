/**
 * What every command gets: where to write, the chosen output format, and the agent to talk
 * to (started in the background on first need when none answers at the state directory).
 */
import { isAbsolute, resolve } from 'node:path';
import { AgentClient, type AgentEndpoint, describeEndpoint } from './agent-client.js';
import { usageError } from './cli-error.js';
import type { CliIo } from './cli-io.js';
import { startEmbeddedAgent } from './embedded-agent.js';
import type { OutputFormat } from './output.js';
import { apiSocketPath, defaultStateDir } from './state-dir.js';

/** The global options, as parsed. */
export interface GlobalOptions {
  stateDir?: string;
  agent?: string;
  token?: string;
  ca?: string;
  output: OutputFormat;
}

/** A command's view of the CLI invocation. */
export class CommandContext {
  private client: AgentClient | undefined;

  constructor(
    readonly io: CliIo,
    readonly options: GlobalOptions,
  ) {}

  /** The `-o` format. */
  get format(): OutputFormat {
    return this.options.output;
  }

  /** The state directory in use (for the Unix socket and the embedded agent). */
  get stateDir(): string {
    const dir = this.options.stateDir ?? defaultStateDir(this.io.env);
    return isAbsolute(dir) ? dir : resolve(this.io.cwd, dir);
  }

  /** Where the agent is: `--agent URL`, else the state directory's socket. */
  get endpoint(): AgentEndpoint {
    return endpointFor(this.options, this.stateDir, this.io.env);
  }

  /** Whether the agent was named (`--agent`, `$KHUTULUN_AGENT`) rather than found by state directory. */
  get explicitAgent(): boolean {
    return Boolean(this.options.agent ?? this.io.env.KHUTULUN_AGENT);
  }

  /** Whether the agent is reached over TCP (so local paths must be uploaded, not named). */
  get remote(): boolean {
    return this.endpoint.kind === 'tcp';
  }

  /**
   * The agent's client. With a Unix socket and no agent answering, starts one in the
   * background first and says so on stderr.
   */
  async agent(): Promise<AgentClient> {
    if (this.client) return this.client;
    const endpoint = this.endpoint;
    const client = new AgentClient(endpoint);
    // Only the state directory's own socket gets an agent started on demand; an explicit
    // --agent names one that must already run.
    if (endpoint.kind === 'unix' && !this.explicitAgent && !(await client.reachable())) {
      this.io.stderr.write(
        `No agent answers at ${describeEndpoint(endpoint)}; starting one in the background...\n`,
      );
      await startEmbeddedAgent({
        stateDir: this.stateDir,
        socketPath: endpoint.socketPath,
        onStarted: (pid, log) =>
          this.io.stderr.write(`Started agent (pid ${pid}, state ${this.stateDir}, log ${log}).\n`),
      });
    }
    this.client = client;
    return client;
  }

  /** Writes to stdout. */
  out(text: string): void {
    this.io.stdout.write(text);
  }

  /** Writes a line to stderr (progress and notes, never data). */
  note(line: string): void {
    this.io.stderr.write(`${line}\n`);
  }
}

/** The endpoint named by the global options (`--agent` wins over `--state-dir`). */
export function endpointFor(
  options: Pick<GlobalOptions, 'agent' | 'token' | 'ca'>,
  stateDir: string,
  env: Record<string, string | undefined>,
): AgentEndpoint {
  const agent = options.agent ?? env.KHUTULUN_AGENT;
  if (!agent) return { kind: 'unix', socketPath: apiSocketPath(stateDir) };
  if (agent.startsWith('unix:')) {
    const path = agent.replace(/^unix:(\/\/)?/, '');
    return { kind: 'unix', socketPath: path };
  }
  let url: URL;
  try {
    url = new URL(agent);
  } catch {
    throw usageError(
      `--agent must be a URL (https://HOST:PORT or unix:/path/api.sock), got "${agent}"`,
    );
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') {
    throw usageError(`--agent must be an https:// URL or unix:PATH, got "${agent}"`);
  }
  const token = options.token ?? env.KHUTULUN_TOKEN;
  const caFile = options.ca ?? env.KHUTULUN_CA;
  return { kind: 'tcp', url, ...(token ? { token } : {}), ...(caFile ? { caFile } : {}) };
}
