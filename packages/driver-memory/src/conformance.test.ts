import { describeWorkloadDriverConformance } from '@khutulun/driver/conformance';
import { MemoryDriver } from './memory-driver.js';
import { MemoryHost } from './memory-host.js';

// One simulated host per state directory: a second driver on it is a restarted agent.
const hosts = new Map<string, MemoryHost>();
const hostOf = (stateDirectory: string) => {
  let host = hosts.get(stateDirectory);
  if (!host) {
    host = new MemoryHost();
    hosts.set(stateDirectory, host);
  }
  return host;
};

describeWorkloadDriverConformance('memory', {
  open: (stateDirectory) => new MemoryDriver({ host: hostOf(stateDirectory) }),
  running: (key) => ({ key, properties: { command: 'sleep' }, ports: [] }),
  exiting: (key, code) => ({ key, properties: { exit_code: code }, ports: [] }),
  invalid: (key) => ({ key, properties: { exit_code: 'seven' }, ports: [] }),
  talking: (key, lines) => ({
    key,
    properties: {
      stdout: lines.stdout.map((line) => `${line}\n`).join(''),
      stderr: lines.stderr.map((line) => `${line}\n`).join(''),
      exit_code: 0,
    },
    ports: [],
  }),
  commands: { output: ['emit', 'out', 'err', '3'], echo: ['cat'] },
});
