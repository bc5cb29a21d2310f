/**
 * The workload-driver and container conformance suites against a real, private dockerd
 * (started here with its own data root, exec root, socket and bridge; see `test-dockerd.ts`).
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { describeContainerDriverConformance } from '@khutulun/driver-container/conformance';
import { afterAll, beforeAll } from 'vitest';
import { DockerDriver } from './docker-driver.js';
import { startTestDockerd, type TestDockerd } from './test-dockerd.js';

const run = promisify(execFile);
let dockerd: TestDockerd;

beforeAll(async () => {
  // Live restore: containers survive a crash of the daemon, as the reconnect case expects.
  dockerd = await startTestDockerd({ liveRestore: true });
});

afterAll(async () => {
  await dockerd?.close();
});

describeContainerDriverConformance('docker', {
  open: (stateDirectory) =>
    new DockerDriver({ stateDirectory, host: 'conformance-host', socketPath: dockerd.socketPath }),
  async cli(args) {
    const { stdout } = await run('docker', ['-H', `unix://${dockerd.socketPath}`, ...args]);
    return stdout;
  },
  pods: 'Docker has no pods',
  stopEngine: () => dockerd.killDaemon(),
  startEngine: () => dockerd.startDaemon(),
});
