import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import {
  chmodSync,
  cpSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isDriverError } from '@khutulun/driver';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { commandRunner } from './command-runner.js';
import { FilePortLedger } from './port-ledger.js';
import { PortNetworkDriver } from './port-network-driver.js';

// A range of our own, well away from others' tests and from Linux's ephemeral ports.
const RANGE = { from: 41000, to: 41019 };
const web = { service: 'shop', name: 'web' };
const db = { service: 'shop', name: 'db' };
const api = { service: 'other', name: 'api' };

let state: string;

beforeEach(() => {
  state = mkdtempSync(join(tmpdir(), 'khutulun-ports-'));
});

afterEach(() => {
  rmSync(state, { recursive: true, force: true });
});

/** A process that is not ours holding a port, as an outsider would. */
async function outsider(protocol: 'tcp' | 'udp', port: number): Promise<ChildProcess> {
  const code =
    protocol === 'tcp'
      ? `require('net').createServer().listen(${port}, '127.0.0.1', () => console.log('up'))`
      : `require('dgram').createSocket('udp4').bind(${port}, '127.0.0.1', () => console.log('up'))`;
  const child = spawn(process.execPath, ['-e', code], { stdio: ['ignore', 'pipe', 'inherit'] });
  await new Promise((resolve) => child.stdout!.once('data', resolve));
  return child;
}

async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGKILL');
  await exited;
}

describe('FilePortLedger', () => {
  it('round-trips entries and replaces the file atomically', async () => {
    const ledger = new FilePortLedger(join(state, 'ports.json'));
    expect(await ledger.load()).toEqual([]);
    const entry = {
      owner: web,
      name: 'http',
      protocol: 'tcp' as const,
      port: 41000,
      exposed: false,
      commands: ['nft add element inet khutulun tcp_exposed { 41000 }'],
    };
    await ledger.save([entry]);
    await ledger.save([entry, { ...entry, name: 'admin', port: 41001 }]);
    expect(await ledger.load()).toHaveLength(2);
    expect(readdirSync(state)).toEqual(['ports.json']);
    // The agent's interim ledger format: a bare array, without commands.
    writeFileSync(
      join(state, 'ports.json'),
      JSON.stringify([{ owner: web, name: 'http', protocol: 'tcp', port: 41000, exposed: false }]),
    );
    expect(await ledger.load()).toEqual([
      { owner: web, name: 'http', protocol: 'tcp', port: 41000, exposed: false, commands: [] },
    ]);
    await ledger.save([entry, { ...entry, name: 'admin', port: 41001 }]);
    expect(statSync(join(state, 'ports.json')).mode & 0o777).toBe(0o600);
  });
});

describe('FilePortLedger crash safety', () => {
  it('is never left corrupt by a writer killed with SIGKILL mid-save', async () => {
    const file = join(state, 'ports.json');
    const script = join(import.meta.dirname, '..', 'lib', 'port-ledger.js');
    for (let round = 0; round < 5; round++) {
      const writer = spawn(
        process.execPath,
        [
          '--input-type=module',
          '-e',
          `import { FilePortLedger } from ${JSON.stringify(script)};
           const ledger = new FilePortLedger(process.argv[1]);
           const entry = (port) => ({ owner: { service: 's', name: 'w' + port }, name: 'http', protocol: 'tcp', port, exposed: false, commands: [] });
           const save = (n) => ledger.save(Array.from({ length: 50 + (n % 50) }, (_, i) => entry(20000 + i)));
           await save(0);
           console.log('saved once');
           for (let n = 1; ; n++) await save(n);`,
          file,
        ],
        { stdio: ['ignore', 'pipe', 'inherit'] },
      );
      await new Promise((resolve) => writer.stdout!.once('data', resolve));
      await new Promise((resolve) => setTimeout(resolve, 100 + round * 37));
      await stop(writer);
      const entries = await new FilePortLedger(file).load();
      expect(entries.length).toBeGreaterThanOrEqual(50);
      expect(entries.every((e) => e.protocol === 'tcp' && e.port >= 20000)).toBe(true);
    }
  });
});

describe('PortNetworkDriver reservations', () => {
  it('reserves unique ports from the range, idempotently, and persists them', async () => {
    const ports = new PortNetworkDriver({ stateDirectory: state, range: RANGE, firewall: 'none' });
    const a = await ports.reserve({ owner: web, name: 'http', protocol: 'tcp' });
    expect(a.port).toBeGreaterThanOrEqual(RANGE.from);
    expect(a.port).toBeLessThanOrEqual(RANGE.to);
    expect(await ports.reserve({ owner: web, name: 'http', protocol: 'tcp' })).toEqual(a);
    const b = await ports.reserve({ owner: api, name: 'http', protocol: 'tcp' });
    expect(b.port).not.toBe(a.port);
    const u = await ports.reserve({ owner: db, name: 'stats', protocol: 'udp' });
    expect(u.protocol).toBe('udp');

    // A fresh driver on the same state (an agent restart) knows them and hands out none twice.
    const again = new PortNetworkDriver({ stateDirectory: state, range: RANGE, firewall: 'none' });
    expect(await again.list()).toEqual([a, b, u]);
    const c = await again.reserve({ owner: db, name: 'sql', protocol: 'tcp' });
    expect([a.port, b.port]).not.toContain(c.port);
    const taken = await again
      .reserve({ owner: db, name: 'x', protocol: 'tcp', port: a.port })
      .catch((e) => e);
    expect(isDriverError(taken)).toBe(true);
    expect(taken).toMatchObject({ code: 'port-taken' });

    expect((await again.release(web)).map((r) => r.port)).toEqual([a.port]);
    expect(await again.list(web)).toEqual([]);
    expect(await again.release(web)).toEqual([]);
    const saved = JSON.parse(readFileSync(join(state, 'ports.json'), 'utf8'));
    expect(saved.reservations).toHaveLength(3);
  });

  it('commits concurrent reservations together: unique, durable, a refused one fails alone', async () => {
    const file = new FilePortLedger(join(state, 'ports.json'));
    const saved: number[] = [];
    const ledger = {
      load: () => file.load(),
      save: async (entries: Parameters<FilePortLedger['save']>[0]) => {
        await file.save(entries);
        saved.push(entries.length);
      },
    };
    const ports = new PortNetworkDriver({ ledger, range: RANGE, firewall: 'none' });
    const first = await ports.reserve({ owner: web, name: 'http', protocol: 'tcp' });
    const owners = Array.from({ length: 12 }, (_, i) => ({ service: 'many', name: `w${i}` }));
    const results = await Promise.allSettled([
      ...owners.map((owner) => ports.reserve({ owner, name: 'http', protocol: 'tcp' })),
      ports.reserve({ owner: api, name: 'x', protocol: 'tcp', port: first.port }),
      ports.reserve({ owner: web, name: 'http', protocol: 'tcp' }),
    ]);
    const granted = results
      .slice(0, 12)
      .map((r) => (r as PromiseFulfilledResult<{ port: number }>).value.port);
    expect(new Set([first.port, ...granted]).size).toBe(13);
    expect(results[12]).toMatchObject({ status: 'rejected', reason: { code: 'port-taken' } });
    expect(results[13]).toMatchObject({ status: 'fulfilled', value: first });
    // One write for the first reservation, one for the twelve that came together.
    expect(saved).toEqual([1, 13]);
    const reloaded = await new FilePortLedger(join(state, 'ports.json')).load();
    expect(reloaded.map((e) => e.port).sort()).toEqual([first.port, ...granted].sort());
  });

  it('never hands out a port an outsider process holds (TCP and UDP)', async () => {
    const range = { from: 41010, to: 41011 };
    const tcp = await outsider('tcp', 41010);
    const udp = await outsider('udp', 41011);
    try {
      const ports = new PortNetworkDriver({ stateDirectory: state, range, firewall: 'none' });
      expect((await ports.reserve({ owner: web, name: 'http', protocol: 'tcp' })).port).toBe(41011);
      expect((await ports.reserve({ owner: web, name: 'dns', protocol: 'udp' })).port).toBe(41010);
      await expect(
        ports.reserve({ owner: api, name: 'http', protocol: 'tcp' }),
      ).rejects.toMatchObject({
        code: 'ports-exhausted',
      });
      await expect(
        ports.reserve({ owner: api, name: 'x', protocol: 'tcp', port: 41010 }),
      ).rejects.toMatchObject({
        code: 'port-taken',
      });
      await expect(
        ports.reserve({ owner: api, name: 'y', protocol: 'udp', port: 41011 }),
      ).rejects.toMatchObject({
        code: 'port-taken',
      });
    } finally {
      await stop(tcp);
      await stop(udp);
    }
  });

  it('rejects exposing what is not reserved', async () => {
    const ports = new PortNetworkDriver({ stateDirectory: state, range: RANGE, firewall: 'none' });
    await expect(
      ports.expose({ owner: web, name: 'http', protocol: 'tcp', port: 41000, exposed: false }),
    ).rejects.toMatchObject({ code: 'not-found' });
  });
});

function nftTable(table: string): string | undefined {
  try {
    return execFileSync('nft', ['list', 'table', 'inet', table], {
      encoding: 'utf8',
      stdio: 'pipe',
    });
  } catch {
    return undefined;
  }
}

describe('PortNetworkDriver with nftables (real nft)', () => {
  const table = `khutulun_test_${process.pid}`;

  afterAll(() => {
    if (nftTable(table) !== undefined) execFileSync('nft', ['delete', 'table', 'inet', table]);
  });

  it('exposes ports in its own table, restores them after a restart, and removes them on release', async () => {
    const options = {
      stateDirectory: state,
      range: RANGE,
      firewall: 'nftables' as const,
      nftablesTable: table,
    };
    const ports = new PortNetworkDriver(options);
    const http = await ports.reserve({ owner: web, name: 'http', protocol: 'tcp' });
    const dns = await ports.reserve({ owner: web, name: 'dns', protocol: 'udp' });
    // Reserving alone never touches the host's firewall.
    expect(nftTable(table)).toBeUndefined();

    expect(await ports.expose(http)).toMatchObject({ exposed: true });
    expect(nftTable(table)).toContain(`tcp dport ${RANGE.from}-${RANGE.to} drop`);
    await ports.expose(dns);
    await ports.expose(http);
    const listed = nftTable(table)!;
    expect(listed).toMatch(new RegExp(`set tcp_exposed \\{[^}]*elements = \\{ ${http.port} \\}`));
    expect(listed).toMatch(new RegExp(`set udp_exposed \\{[^}]*elements = \\{ ${dns.port} \\}`));
    const commands = await ports.describe(web);
    expect(commands[0]).toMatch(new RegExp(`^nft -f - <<'EOF'\ntable inet ${table}\n`));
    expect(commands[0]).toContain(
      `set tcp_exposed { type inet_service; elements = { ${http.port} }; }`,
    );
    expect(commands.slice(1)).toEqual([
      `nft add element inet ${table} udp_exposed '{ ${dns.port} }'`,
    ]);

    // Loopback traffic to an exposed or unexposed reserved port is never blocked.
    const server = spawn(
      process.execPath,
      [
        '-e',
        `require('net').createServer(s => s.end('hi')).listen(${http.port}, '127.0.0.1', () => console.log('up'))`,
      ],
      { stdio: ['ignore', 'pipe', 'inherit'] },
    );
    await new Promise((resolve) => server.stdout!.once('data', resolve));
    const reply = await new Promise<string>((resolve, reject) => {
      const socket = connect(http.port, '127.0.0.1');
      let data = '';
      socket.on('data', (d) => (data += d));
      socket.on('end', () => resolve(data));
      socket.on('error', reject);
    });
    expect(reply).toBe('hi');
    await stop(server);

    // An agent restart: the table is rebuilt from the ledger, in one transaction.
    execFileSync('nft', ['delete', 'table', 'inet', table]);
    const restarted = new PortNetworkDriver(options);
    expect(await restarted.list(web)).toHaveLength(2);
    expect(nftTable(table)).toContain(`elements = { ${http.port} }`);

    await restarted.unexpose(dns);
    expect(nftTable(table)).not.toContain(`elements = { ${dns.port} }`);
    expect(nftTable(table)).toContain(`elements = { ${http.port} }`);
    // The last exposed port released: no Khutulun rule stays behind.
    await restarted.release(web);
    expect(nftTable(table)).toBeUndefined();

    // Explicit teardown removes the table even with ports exposed.
    const again = await restarted.reserve({ owner: db, name: 'http', protocol: 'tcp' });
    await restarted.expose(again);
    expect(nftTable(table)).toContain(`elements = { ${again.port} }`);
    await restarted.teardown();
    expect(nftTable(table)).toBeUndefined();
  });
});

/** Whether something answers on a D-Bus socket. */
function busAnswers(socketPath: string): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(socketPath);
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

function firewallCmd(args: string[], env: Record<string, string>): string {
  return execFileSync('firewall-cmd', args, {
    encoding: 'utf8',
    stdio: 'pipe',
    env: { ...process.env, ...env },
  }).trim();
}

function firewallState(env: Record<string, string>): string {
  try {
    return firewallCmd(['--state'], env);
  } catch {
    return 'not running';
  }
}

async function until(done: () => boolean | Promise<boolean>, timeoutMs: number): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await done())) {
    if (Date.now() > end) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 200));
  }
}

describe('PortNetworkDriver with Firewalld (real firewalld and D-Bus)', () => {
  const started: ChildProcess[] = [];
  let directory: string;
  /** The bus firewall-cmd talks to: the system bus, or the private one this test started. */
  let env: Record<string, string> = {};

  beforeAll(async () => {
    directory = mkdtempSync(join(tmpdir(), 'khutulun-firewalld-'));
    if (firewallState(env) === 'running') return;
    // A firewalld of our own on a private system bus (same configuration as the system bus,
    // another socket): other tests running meanwhile, whose agents look for Firewalld on the
    // system bus, never see it, so it cannot come and go under them.
    chmodSync(directory, 0o755);
    const socket = join(directory, 'system_bus_socket');
    env = { DBUS_SYSTEM_BUS_ADDRESS: `unix:path=${socket}` };
    started.push(
      spawn(
        'dbus-daemon',
        ['--system', '--nofork', '--nopidfile', `--address=${env.DBUS_SYSTEM_BUS_ADDRESS}`],
        {
          stdio: 'ignore',
        },
      ),
    );
    await until(() => busAnswers(socket), 20_000);
    const config = join(directory, 'config');
    cpSync('/etc/firewalld', config, { recursive: true });
    const conf = join(config, 'firewalld.conf');
    writeFileSync(
      conf,
      readFileSync(conf, 'utf8').replace(/^DefaultZone=.*$/m, 'DefaultZone=trusted'),
    );
    started.push(
      spawn('firewalld', ['--nofork', '--nopid', '--system-config', config], {
        stdio: ['ignore', 'ignore', 'inherit'],
        env: { ...process.env, ...env },
      }),
    );
    await until(() => firewallState(env) === 'running', 60_000);
  });

  afterAll(async () => {
    // Stop only what we started, by PID, firewalld first (it cleans up on exit), then the bus.
    for (const child of started.reverse()) {
      if (child.exitCode !== null) continue;
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGTERM');
      await Promise.race([exited, new Promise((r) => setTimeout(r, 20_000))]);
      if (child.exitCode === null) child.kill('SIGKILL');
    }
    rmSync(directory, { recursive: true, force: true });
  });

  it('detects Firewalld and opens ports with firewall-cmd, runtime and permanent, until release', async () => {
    const ports = new PortNetworkDriver({
      stateDirectory: state,
      range: RANGE,
      runner: commandRunner(env),
    });
    expect(await ports.firewallKind()).toBe('firewalld');
    const http = await ports.reserve({ owner: web, name: 'http', protocol: 'tcp' });
    const dns = await ports.reserve({ owner: web, name: 'dns', protocol: 'udp' });
    await ports.expose(http);
    await ports.expose(dns);
    const runtime = () => firewallCmd(['--list-ports'], env).split(/\s+/);
    const permanent = () => firewallCmd(['--permanent', '--list-ports'], env).split(/\s+/);
    expect(runtime()).toEqual(expect.arrayContaining([`${http.port}/tcp`, `${dns.port}/udp`]));
    expect(permanent()).toEqual(expect.arrayContaining([`${http.port}/tcp`, `${dns.port}/udp`]));
    expect(await ports.describe(web)).toEqual([
      `firewall-cmd --add-port=${http.port}/tcp`,
      `firewall-cmd --permanent --add-port=${http.port}/tcp`,
      `firewall-cmd --add-port=${dns.port}/udp`,
      `firewall-cmd --permanent --add-port=${dns.port}/udp`,
    ]);

    await ports.unexpose(dns);
    expect(runtime()).not.toContain(`${dns.port}/udp`);
    await ports.release(web);
    expect(runtime()).not.toContain(`${http.port}/tcp`);
    expect(permanent()).not.toContain(`${http.port}/tcp`);
  });
});
