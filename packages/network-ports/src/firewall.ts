/**
 * The host firewalls port exposure goes through: Firewalld when it runs, nftables otherwise.
 * Each returns the exact command lines it ran, for `khutulun workload show`.
 */
import { DriverError, type Protocol, quoteCommand } from '@khutulun/driver';
import type { CommandRunner } from './command-runner.js';

/** A port and protocol to open or close. */
export interface FirewallPort {
  port: number;
  protocol: Protocol;
}

/** A host firewall as the port driver uses it. Opening and closing are idempotent. */
export interface Firewall {
  readonly kind: 'firewalld' | 'nftables' | 'none';
  /**
   * Builds Khutulun's rules with exactly these ports open: at the first exposure, and after an
   * agent (re)start from the ledger.
   */
  restore(open: FirewallPort[]): Promise<string[]>;
  open(ports: FirewallPort[]): Promise<string[]>;
  close(ports: FirewallPort[]): Promise<string[]>;
  /** Removes what Khutulun added (nftables: its table), once nothing is exposed; idempotent. */
  teardown(): Promise<string[]>;
}

async function run(
  runner: CommandRunner,
  argv: string[],
  input?: string,
  tolerate?: RegExp,
): Promise<string> {
  const command = quoteCommand(argv);
  const result = await runner(argv, input);
  if (result.code !== 0 && !tolerate?.test(result.stderr)) {
    throw new DriverError(`${command} failed (${result.code}): ${result.stderr.trim()}`, {
      code: 'firewall-failed',
      driver: 'ports',
      command,
    });
  }
  return input === undefined ? command : `${command} <<'EOF'\n${input}EOF`;
}

/** Options of `FirewalldFirewall`. */
export interface FirewalldOptions {
  /** The zone; firewalld's default zone when absent. */
  zone?: string;
  /**
   * Also change the permanent configuration (default true), so an exposure survives a
   * firewalld reload or restart for as long as the reservation exists.
   */
  permanent?: boolean;
}

/** Exposure through Firewalld: `firewall-cmd --add-port=P/PROTO` (runtime and permanent). */
export class FirewalldFirewall implements Firewall {
  readonly kind = 'firewalld';
  readonly #zone: string[];
  readonly #permanent: boolean;

  constructor(
    private readonly runner: CommandRunner,
    options: FirewalldOptions = {},
  ) {
    this.#zone = options.zone ? [`--zone=${options.zone}`] : [];
    this.#permanent = options.permanent ?? true;
  }

  async #change(action: 'add' | 'remove', ports: FirewallPort[]): Promise<string[]> {
    if (ports.length === 0) return [];
    const flags = ports.map((p) => `--${action}-port=${p.port}/${p.protocol}`);
    const commands = [await run(this.runner, ['firewall-cmd', ...this.#zone, ...flags])];
    if (this.#permanent) {
      commands.push(
        await run(this.runner, ['firewall-cmd', '--permanent', ...this.#zone, ...flags]),
      );
    }
    return commands;
  }

  restore(open: FirewallPort[]): Promise<string[]> {
    return this.#change('add', open);
  }

  open(ports: FirewallPort[]): Promise<string[]> {
    return this.#change('add', ports);
  }

  close(ports: FirewallPort[]): Promise<string[]> {
    return this.#change('remove', ports);
  }

  async teardown(): Promise<string[]> {
    return [];
  }
}

/** Options of `NftablesFirewall`. */
export interface NftablesOptions {
  /** The table (family `inet`), default `khutulun`. */
  table?: string;
  /** The reservation range, closed to outside traffic unless a port in it is exposed. */
  range: { from: number; to: number };
}

/**
 * Exposure through nftables, in a table of Khutulun's own (`inet khutulun`): sets of exposed
 * TCP and UDP ports are accepted; the rest of the reservation range is dropped for traffic
 * that does not come from loopback or belong to a connection the host opened. Nothing
 * outside the range, and no other table, is touched. The table exists while a port is
 * exposed: with nothing exposed, nothing of Khutulun's stays in the host's ruleset.
 */
export class NftablesFirewall implements Firewall {
  readonly kind = 'nftables';
  readonly #table: string;
  readonly #range: string;

  constructor(
    private readonly runner: CommandRunner,
    options: NftablesOptions,
  ) {
    this.#table = options.table ?? 'khutulun';
    this.#range = `${options.range.from}-${options.range.to}`;
  }

  /** Recreates the table atomically (one `nft -f` transaction) with the given ports open. */
  async restore(open: FirewallPort[]): Promise<string[]> {
    const elements = (protocol: Protocol) => {
      const ports = open.filter((p) => p.protocol === protocol).map((p) => p.port);
      return ports.length > 0 ? ` elements = { ${ports.join(', ')} };` : '';
    };
    const t = this.#table;
    const script = `table inet ${t}
delete table inet ${t}
table inet ${t} {
  set tcp_exposed { type inet_service;${elements('tcp')} }
  set udp_exposed { type inet_service;${elements('udp')} }
  chain input {
    type filter hook input priority filter; policy accept;
    iif "lo" accept
    ct state established,related accept
    tcp dport @tcp_exposed accept
    udp dport @udp_exposed accept
    tcp dport ${this.#range} drop
    udp dport ${this.#range} drop
  }
}
`;
    return [await run(this.runner, ['nft', '-f', '-'], script)];
  }

  async #change(action: 'add' | 'delete', ports: FirewallPort[]): Promise<string[]> {
    const commands: string[] = [];
    const element = (protocol: Protocol, list: number[]) => [
      'nft',
      action,
      'element',
      'inet',
      this.#table,
      `${protocol}_exposed`,
      `{ ${list.join(', ')} }`,
    ];
    for (const protocol of ['tcp', 'udp'] as const) {
      const list = ports.filter((p) => p.protocol === protocol).map((p) => p.port);
      if (list.length === 0) continue;
      if (action === 'add') commands.push(await run(this.runner, element(protocol, list)));
      // One by one, as deleting an absent element fails the whole command; absent is the goal.
      else
        for (const port of list)
          commands.push(
            await run(this.runner, element(protocol, [port]), undefined, /No such file/),
          );
    }
    return commands;
  }

  open(ports: FirewallPort[]): Promise<string[]> {
    return this.#change('add', ports);
  }

  close(ports: FirewallPort[]): Promise<string[]> {
    return this.#change('delete', ports);
  }

  async teardown(): Promise<string[]> {
    return [
      await run(
        this.runner,
        ['nft', 'delete', 'table', 'inet', this.#table],
        undefined,
        /No such file/,
      ),
    ];
  }
}

/** No firewall to drive (neither Firewalld nor nft found): exposure changes nothing. */
export class NoFirewall implements Firewall {
  readonly kind = 'none';
  async restore(): Promise<string[]> {
    return [];
  }
  async open(): Promise<string[]> {
    return [];
  }
  async close(): Promise<string[]> {
    return [];
  }
  async teardown(): Promise<string[]> {
    return [];
  }
}

/** Which firewall applies: Firewalld if `firewall-cmd --state` says it runs, else nft if installed, else none. */
export async function detectFirewall(
  runner: CommandRunner,
): Promise<'firewalld' | 'nftables' | 'none'> {
  const state = await runner(['firewall-cmd', '--state']);
  if (state.code === 0 && state.stdout.trim() === 'running') return 'firewalld';
  const nft = await runner(['nft', '--version']);
  return nft.code === 0 ? 'nftables' : 'none';
}
