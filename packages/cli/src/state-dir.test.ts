import * as agent from '@khutulun/agent';
import { describe, expect, it } from 'vitest';
import { apiSocketPath, defaultStateDir } from './state-dir.js';

describe('the state directory', () => {
  it("is found exactly as the agent finds it (the agent's own functions agree)", () => {
    for (const env of [
      {},
      { KHUTULUN_STATE_DIR: '/srv/k' },
      { XDG_STATE_HOME: '/home/u/.state' },
      { KHUTULUN_STATE_DIR: '', XDG_STATE_HOME: '' },
    ]) {
      expect(defaultStateDir(env)).toBe(agent.defaultStateDir(env as NodeJS.ProcessEnv));
    }
    expect(apiSocketPath('/srv/k')).toBe(agent.apiSocketPath('/srv/k'));
  });
});
