import type { WorkloadSpec } from '@khutulun/driver';
import { describe, expect, it } from 'vitest';
import { checkContainer, planContainer } from './container-plan.js';
import { describeCommands, runCommand } from './run-command.js';

const spec = (
  properties: Record<string, unknown>,
  rest: Partial<WorkloadSpec> = {},
): WorkloadSpec => ({
  key: { service: 'shop', name: 'web' },
  properties: {
    type: 'container',
    environment: {},
    image: 'localhost/web:1',
    ...properties,
  } as WorkloadSpec['properties'],
  ports: [],
  ...rest,
});

describe('runCommand', () => {
  it('is the podman run line of a full spec (ports, env, user, mounts, limits, stop signal)', () => {
    const plan = planContainer(
      spec(
        {
          command: ['httpd', '-f', '-p', '8080'],
          environment: { GREETING: 'hello world' },
          user: '1000',
          working_directory: '/srv',
          entrypoint: ['/bin/sh', '-c'],
          stop_signal: 'SIGQUIT',
        },
        {
          ports: [{ name: 'http', port: 18080, target: 8080, protocol: 'tcp' }],
          mounts: [
            { type: 'bind', source: '/etc/shop', target: '/conf', readOnly: true },
            { type: 'volume', source: 'shop-data', target: '/data' },
            { type: 'tmpfs', target: '/scratch' },
          ],
          limits: { cpus: 0.5, memoryBytes: 67108864, pids: 64 },
          labels: { tier: 'front' },
        },
      ),
      'host-a',
    );
    expect(describeCommands('podman', plan)).toEqual([
      'podman run -d --name khutulun-shop-web --label io.khutulun.host=host-a --label io.khutulun.service=shop --label io.khutulun.workload=web --label tier=front --restart no -p 18080:8080/tcp -e PORT_HTTP=8080 -e \'GREETING=hello world\' --user 1000 --workdir /srv --entrypoint \'["/bin/sh","-c"]\' --mount type=bind,source=/etc/shop,target=/conf,readonly --mount type=volume,source=shop-data,target=/data --mount type=tmpfs,target=/scratch --stop-signal SIGQUIT --cpus 0.5 --memory 67108864 --pids-limit 64 localhost/web:1 httpd -f -p 8080',
    ]);
  });

  it("puts docker's entrypoint arguments before the command", () => {
    const plan = planContainer(spec({ entrypoint: ['/bin/sh', '-c'], command: ['echo hi'] }), 'h');
    expect(runCommand('docker', plan).slice(-5)).toEqual([
      '--entrypoint',
      '/bin/sh',
      'localhost/web:1',
      '-c',
      'echo hi',
    ]);
  });

  it('passes the OCI runtime (Kata is not installed here: the generated command line only)', () => {
    const plan = planContainer(spec({ runtime: 'kata-runtime' }), 'h');
    expect(runCommand('podman', plan)).toContain('--runtime');
    expect(runCommand('podman', plan).join(' ')).toContain(
      '--runtime kata-runtime localhost/web:1',
    );
  });

  it('makes a pod create line, and a member joins the pod without publishing', () => {
    const pod = planContainer(
      spec(
        { type: 'pod', image: undefined },
        {
          ports: [
            { name: 'http', port: 18080, target: 80, protocol: 'tcp', hostAddress: '127.0.0.1' },
          ],
        },
      ),
      'h',
    );
    expect(describeCommands('podman', pod)).toEqual([
      'podman pod create --name khutulun-shop-web --label io.khutulun.host=h --label io.khutulun.service=shop --label io.khutulun.workload=web -p 127.0.0.1:18080:80/tcp',
      'podman pod start khutulun-shop-web',
    ]);
    const member = planContainer(
      spec({ pod: 'web' }, { key: { service: 'shop', name: 'app' } }),
      'h',
    );
    expect(runCommand('podman', member).join(' ')).toContain('--pod khutulun-shop-web');
    expect(member.ports).toEqual([]);
  });
});

describe('checkContainer', () => {
  it('accepts a valid spec and returns problems as data', () => {
    expect(checkContainer(spec({}))).toEqual([]);
    const problems = checkContainer(
      spec(
        { image: undefined, command: 'x', working_directory: 'rel' },
        {
          mounts: [
            { type: 'bind', source: 'relative', target: '/x' },
            { type: 'volume', source: 'bad name', target: '/y' },
            { type: 'tmpfs', target: 'z' },
          ],
          ports: [{ name: 'p', port: 70000, protocol: 'tcp' }],
        },
      ),
    );
    expect(problems.map((p) => p.path.join('.'))).toEqual([
      'image',
      'command',
      'working_directory',
      'ports.0',
      'mounts.0',
      'mounts.1',
      'mounts.2',
    ]);
  });
});
