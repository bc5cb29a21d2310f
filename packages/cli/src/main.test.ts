import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import type { CliIo } from './cli-io.js';
import { main } from './main.js';

/**
 * Runs `khutulun ...args` in-process and collects its output. The agent is named by
 * KHUTULUN_AGENT, a socket where none answers: commands that need an agent fail at once
 * (an agent named that way is never started on demand).
 */
function khutulun(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return khutulunWith({ KHUTULUN_AGENT: 'unix:/nonexistent/khutulun-test/api.sock' }, ...args);
}

async function khutulunWith(
  env: Record<string, string>,
  ...args: string[]
): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  const io: CliIo = {
    stdout: { write: (s: string) => (stdout += s) },
    stderr: { write: (s: string) => (stderr += s) },
    env,
    cwd: tmp,
  };
  const code = await main(args, io);
  return { code, stdout, stderr };
}

const tmp = mkdtempSync(join(tmpdir(), 'khutulun-cli-main-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

describe('exit codes and messages', () => {
  it('exits 0 for --help, help and --version, printing to stdout', async () => {
    const help = await khutulun('--help');
    expect(help.code).toBe(0);
    expect(help.stdout).toMatch(/Usage: khutulun/);
    for (const command of [
      'service',
      'workload',
      'events',
      'host',
      'graph',
      'plugin',
      'tosca',
      'agent',
      'completion',
    ]) {
      expect(help.stdout).toContain(`  ${command}`);
    }
    expect((await khutulun('help', 'service')).code).toBe(0);
    const version = await khutulun('--version');
    expect(version).toMatchObject({ code: 0, stdout: '0.1.0\n' });
  });

  it('exits 2 for an unknown command, an unknown flag, a missing or extra argument', async () => {
    const unknown = await khutulun('frobnicate');
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toMatch(/unknown command 'frobnicate'/);
    expect((await khutulun('service', 'list', '--frob')).stderr).toMatch(/unknown option '--frob'/);
    expect((await khutulun('service', 'list', '--frob')).code).toBe(2);
    const missing = await khutulun('service', 'show');
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/missing required argument 'name'/);
    expect((await khutulun('service', 'list', 'extra')).code).toBe(2);
    expect((await khutulun('workload', 'logs', 'a/b', '--tail', 'many')).code).toBe(2);
    expect((await khutulun('workload', 'logs', 'a/b', '--stream', 'stdin')).code).toBe(2);
  });

  it('exits 2 for a command group without a subcommand, showing its help on stderr', async () => {
    const bare = await khutulun('service');
    expect(bare.code).toBe(2);
    expect(bare.stderr).toMatch(/Usage: khutulun service/);
  });

  it('exits 2 for a bad -o, a bad -i, a bad workload name, a missing source file', async () => {
    const format = await khutulun('-o', 'xml', 'service', 'list');
    expect(format.code).toBe(2);
    expect(format.stderr).toMatch(/xml/);
    expect((await khutulun('service', 'list', '-o', 'csv')).code).toBe(2);
    const input = await khutulun('service', 'deploy', 'x.yaml', '-i', 'nameonly');
    expect(input).toMatchObject({ code: 2 });
    expect(input.stderr).toMatch(/-i expects NAME=VALUE/);
    const workload = await khutulun('workload', 'show', 'justone');
    expect(workload.code).toBe(2);
    expect(workload.stderr).toBe(
      'khutulun: expected a workload as SERVICE/NAME (or SERVICE NAME), got "justone"\n',
    );
    const missing = await khutulun('service', 'deploy', 'no-such-file.yaml', '--wait');
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/cannot read no-such-file.yaml: no such file or directory/);
    expect((await khutulun('--agent', 'ftp://x', 'service', 'list')).code).toBe(2);
  });

  it('exits 1 with a one-line message, no stack trace, when no agent answers', async () => {
    const file = join(tmp, 'svc.yaml');
    writeFileSync(file, 'tosca_definitions_version: tosca_2_0\n');
    for (const args of [
      ['service', 'list'],
      ['service', 'deploy', file, '--wait'],
      ['workload', 'list', '-o', 'json'],
    ]) {
      const result = await khutulun(...args);
      expect(result.code).toBe(1);
      expect(result.stdout).toBe('');
      expect(result.stderr).toBe(
        'khutulun: no agent answers at /nonexistent/khutulun-test/api.sock (ENOENT)\n',
      );
    }
  });

  it('hands `tosca` to the TOSCA package: exit 0 valid, 1 invalid with file:line:col, 2 misuse', async () => {
    const example = fileURLToPath(new URL('../../../examples/hello-world', import.meta.url));
    const valid = await khutulun('tosca', 'validate', example);
    expect(valid.code, valid.stderr).toBe(0);
    const bad = join(tmp, 'bad.yaml');
    writeFileSync(
      bad,
      'tosca_definitions_version: tosca_2_0\nservice_template:\n  node_templates:\n    x:\n      type: Nope\n',
    );
    const invalid = await khutulun('tosca', 'validate', bad);
    expect(invalid.code).toBe(1);
    expect(invalid.stderr).toMatch(new RegExp(`^${bad}:5:\\d+: error TOSCA\\d+: `, 'm'));
    expect((await khutulun('tosca', 'frobnicate')).code).toBe(2);
    const compiled = await khutulun('-o', 'json', 'tosca', 'compile', example);
    expect(compiled.code, compiled.stderr).toBe(0);
    expect(JSON.parse(compiled.stdout)).toBeTypeOf('object');
  });

  it('hands `agent` to the agent package (its own help and misuse exit codes)', async () => {
    const help = await khutulun('agent', '--help');
    expect(help.code).toBe(0);
    expect(help.stdout).toMatch(/khutulun agent/);
    expect((await khutulun('agent', '--no-such-flag')).code).toBe(2);
  });

  it('exits 1 with a clear message when the state directory cannot be one', async () => {
    const file = join(tmp, 'not-a-directory');
    writeFileSync(file, '');
    const result = await khutulunWith({}, '--state-dir', file, 'service', 'list');
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/starting one in the background/);
    expect(result.stderr).toMatch(
      new RegExp(`khutulun: cannot use ${file} as the state directory: EEXIST`),
    );
  });

  it('exits 1 naming the process when the state directory is held but no agent answers', async () => {
    const dir = mkdtempSync(join(tmp, 'held-'));
    // This test's own process is alive and is no agent: the agent started on demand refuses
    // the directory, and no socket ever answers.
    writeFileSync(join(dir, 'agent.pid'), `${process.pid}\n`);
    const result = await khutulunWith({}, '--state-dir', dir, 'service', 'list');
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(
      new RegExp(
        `khutulun: another process \\(pid ${process.pid}\\) holds ${dir} .* no agent answers`,
      ),
    );
    expect(result.stderr).toMatch(/another agent \(PID \d+\) is running/);
  });

  it('prints completion scripts and candidates', async () => {
    const bash = await khutulun('completion', 'bash');
    expect(bash.code).toBe(0);
    expect(bash.stdout).toMatch(/complete -o default -F _khutulun khutulun/);
    expect((await khutulun('completion', 'zsh')).stdout).toMatch(/^#compdef khutulun/);
    expect((await khutulun('completion', 'fish')).code).toBe(2);
    expect((await khutulun('__complete', 'ser')).stdout).toBe('service\n');
    // Names come from a running agent only: with none, nothing (and the shell offers files).
    expect(await khutulun('__complete', 'service', 'show', '')).toMatchObject({
      code: 0,
      stdout: '',
    });
    expect((await khutulun('__complete', 'service', 'de')).stdout).toBe('deploy\ndelete\n');
    expect((await khutulun('__complete', 'workload', 'list', '-o', '')).stdout).toBe(
      'table\njson\nyaml\n',
    );
    expect((await khutulun('__complete', '--state-dir', '/x', 'events', '--f')).stdout).toBe(
      '--follow\n',
    );
  });
});
