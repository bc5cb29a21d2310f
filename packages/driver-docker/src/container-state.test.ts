import { describe, expect, it } from 'vitest';
import { isoTime, nanos, signalOf, sinceParameter } from './container-state.js';
import { FrameDecoder } from './docker-frames.js';

describe('container state', () => {
  it('reads RFC 3339 times to the nanosecond, and Docker zero time as unset', () => {
    expect(nanos('2026-12-04T21:40:30.932331841Z')).toBe(1796420430932331841n);
    expect(nanos('2026-12-04T21:40:30Z')).toBe(1796420430000000000n);
    expect(nanos('2026-12-04T21:40:30.5Z')).toBe(1796420430500000000n);
    expect(nanos('0001-01-01T00:00:00Z')).toBe(0n);
    expect(isoTime('0001-01-01T00:00:00Z')).toBeUndefined();
    expect(nanos(undefined)).toBe(0n);
  });

  it('writes the logs API since just after a time', () => {
    expect(sinceParameter(1796420430932331841n)).toBe('1796420430.932331842');
    expect(sinceParameter(1796420430999999999n)).toBe('1796420431.000000000');
  });

  it('names the signal of an exit code 128 + n', () => {
    expect(signalOf(137)).toBe('SIGKILL');
    expect(signalOf(143)).toBe('SIGTERM');
    expect(signalOf(7)).toBeUndefined();
    expect(signalOf(128)).toBeUndefined();
  });

  it('splits Docker frames across chunk boundaries', () => {
    const frame = (type: number, text: string) => {
      const data = Buffer.from(text);
      const header = Buffer.alloc(8);
      header[0] = type;
      header.writeUInt32BE(data.length, 4);
      return Buffer.concat([header, data]);
    };
    const all = Buffer.concat([frame(1, 'out\n'), frame(2, 'err\n'), frame(1, '')]);
    const decoder = new FrameDecoder();
    const frames = [
      ...decoder.push(all.subarray(0, 5)),
      ...decoder.push(all.subarray(5, 13)),
      ...decoder.push(all.subarray(13)),
    ];
    expect(frames.map((f) => [f.stream, f.data.toString()])).toEqual([
      ['stdout', 'out\n'],
      ['stderr', 'err\n'],
      ['stdout', ''],
    ]);
  });
});
