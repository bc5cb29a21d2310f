import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import type { DockerEngine, ExecHandle } from './docker-engine.js';
import { execSession } from './docker-exec-session.js';

describe('docker exec kill', () => {
  // A reused PID cannot be staged with a real dockerd: the engine here reports, as a stale
  // inspect would, a running exec whose PID is now a process outside the container.
  it('signals no process that is not in the container', async () => {
    const bystander = spawn('sleep', ['30'], { stdio: 'ignore' });
    try {
      const stream = new PassThrough() as unknown as ExecHandle['stream'];
      let inspected = 0;
      const engine = {
        async execState() {
          inspected++;
          return {
            running: true,
            exitCode: null,
            pid: bystander.pid ?? 0,
            containerId: 'f'.repeat(64),
          };
        },
      } as unknown as DockerEngine;
      const session = await execSession(engine, { id: 'exec', stream }, { command: ['true'] });
      session.kill();
      await once(stream as unknown as PassThrough, 'close');
      expect(inspected).toBeGreaterThan(0);
      // A SIGKILLed child is reaped within moments; give it ample time to show.
      const died = await Promise.race([
        once(bystander, 'exit').then(() => true),
        new Promise((resolve) => setTimeout(() => resolve(false), 500)),
      ]);
      expect(died).toBe(false);
    } finally {
      bystander.kill('SIGKILL');
    }
  });
});
