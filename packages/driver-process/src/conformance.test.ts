import { describeWorkloadDriverConformance } from '@khutulun/driver/conformance';
import { ProcessDriver } from './process-driver.js';

describeWorkloadDriverConformance('process', {
  open: (stateDirectory) => new ProcessDriver({ stateDirectory }),
  running: (key) => ({ key, properties: { command: 'sleep', arguments: ['300'] }, ports: [] }),
  exiting: (key, code) => ({
    key,
    properties: { command: '/bin/sh', arguments: ['-c', `sleep 0.2; exit ${code}`] },
    ports: [],
  }),
  invalid: (key) => ({ key, properties: { arguments: 'not a list' }, ports: [] }),
});
