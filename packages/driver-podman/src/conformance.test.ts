import { describeContainerDriverConformance } from '@khutulun/driver-container/conformance';
import { afterAll, beforeAll } from 'vitest';
import { PodmanDriver } from './podman-driver.js';
import { type PodmanFixture, startPodmanFixture } from './testing/podman-fixture.js';

let podman: PodmanFixture;
beforeAll(async () => {
  podman = await startPodmanFixture();
});
afterAll(async () => {
  await podman?.dispose();
});

describeContainerDriverConformance('podman', {
  open: (stateDirectory) =>
    new PodmanDriver({ client: podman.socketPath, stateDirectory, host: 'conformance-host' }),
  cli: (args) => podman.cli(args),
  pods: true,
  stopEngine: () => podman.kill(),
  startEngine: () => podman.start(),
});
