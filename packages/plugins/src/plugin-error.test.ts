import { describe, expect, it } from 'vitest';
import { isPluginError, PluginError } from './plugin-error.js';

const site = {
  entity: { kind: 'vertex' as const, directory: ['services', 'hello'], name: 'web' },
  path: ['port'],
};

describe('PluginError', () => {
  it('names plugin, function, site and code in its message, and keeps its cause', () => {
    const cause = new Error('underneath');
    const error = new PluginError('no', {
      code: 'DENIED',
      plugin: 'p',
      function: 'f',
      site,
      hostFunction: 'put',
      cause,
    });
    expect(error.message).toBe('plugin p:f at vertex /services/hello/web#port [DENIED]: no');
    expect(error.cause).toBe(cause);
    expect(isPluginError(error)).toBe(true);
  });

  it('is recognised by its brand, not by instanceof, and after a JSON round trip', () => {
    const error = new PluginError('slow', { code: 'TIMEOUT', plugin: 'p', function: 'f', site });
    const copy = JSON.parse(JSON.stringify(error));
    expect(copy).toEqual({
      name: 'PluginError',
      code: 'TIMEOUT',
      message: error.message,
      plugin: 'p',
      function: 'f',
      site,
    });
    expect(isPluginError(copy)).toBe(true);
    expect(isPluginError({ ...copy, code: 'NOPE' })).toBe(false);
    expect(isPluginError(new Error('plain'))).toBe(false);
    expect(isPluginError({ [Symbol.for('khutulun.plugin-error')]: true })).toBe(true);
  });
});
