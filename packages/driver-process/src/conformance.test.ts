import { quote } from '@khutulun/driver';
import { describeWorkloadDriverConformance } from '@khutulun/driver/conformance';
import { ProcessDriver } from './process-driver.js';

const print = (lines: string[], redirect = '') =>
  lines.map((line) => `echo ${quote(line)}${redirect}`).join('; ');

describeWorkloadDriverConformance('process', {
  open: (stateDirectory) => new ProcessDriver({ stateDirectory }),
  running: (key) => ({ key, properties: { command: 'sleep', arguments: ['300'] }, ports: [] }),
  exiting: (key, code) => ({
    key,
    properties: { command: '/bin/sh', arguments: ['-c', `sleep 0.2; exit ${code}`] },
    ports: [],
  }),
  invalid: (key) => ({ key, properties: { arguments: 'not a list' }, ports: [] }),
  talking: (key, lines) => ({
    key,
    properties: {
      command: '/bin/sh',
      arguments: ['-c', `${print(lines.stdout)}; ${print(lines.stderr, ' >&2')}`],
    },
    ports: [],
  }),
});
