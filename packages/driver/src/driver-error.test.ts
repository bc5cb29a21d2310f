import { describe, expect, it } from 'vitest';
import { DRIVER_ERROR, DriverError, isDriverError } from './driver-error.js';

describe('DriverError', () => {
  it('carries structured fields and its cause, and is recognised by its brand', () => {
    const cause = new Error('EACCES');
    const error = new DriverError('cannot start', {
      code: 'start-failed',
      driver: 'process',
      workload: { service: 's', name: 'n' },
      cause,
    });
    expect(error).toMatchObject({
      name: 'DriverError',
      code: 'start-failed',
      driver: 'process',
      cause,
    });
    expect(error[DRIVER_ERROR]).toBe(true);
    expect(isDriverError(error)).toBe(true);
  });

  it('is recognised after crossing a process boundary as plain data, and nothing else is', () => {
    const error = new DriverError('port 80/tcp is in use on this host', {
      code: 'port-taken',
      driver: 'ports',
    });
    const copy = JSON.parse(JSON.stringify({ ...error, name: error.name, message: error.message }));
    expect(isDriverError(copy)).toBe(true);
    expect(isDriverError(new Error('plain'))).toBe(false);
    expect(isDriverError({ name: 'DriverError', code: 'x' })).toBe(false);
    expect(isDriverError(undefined)).toBe(false);
  });
});
