import { describe, expect, it } from 'vitest';
import {
  parseCount,
  parseDirectory,
  parseId,
  parseInput,
  parseKind,
  parseWorkloadRef,
} from './arguments.js';
import { isCliError } from './cli-error.js';

function usageMessage(fn: () => unknown): string {
  try {
    fn();
  } catch (error) {
    expect(isCliError(error)).toBe(true);
    if (isCliError(error)) {
      expect(error.exitCode).toBe(2);
      return error.message;
    }
  }
  throw new Error('expected a usage error');
}

describe('parseInput (-i NAME=VALUE)', () => {
  it('reads values as YAML scalars and flow collections, accumulating', () => {
    let inputs = parseInput('port=8080');
    inputs = parseInput('greeting=hello world', inputs);
    inputs = parseInput('debug=true', inputs);
    inputs = parseInput('hosts=[a, b]', inputs);
    inputs = parseInput('empty=', inputs);
    inputs = parseInput('expr=a=b', inputs);
    inputs = parseInput('nothing=~', inputs);
    expect(inputs).toEqual({
      port: 8080,
      greeting: 'hello world',
      debug: true,
      hosts: ['a', 'b'],
      empty: '',
      expr: 'a=b',
      nothing: null,
    });
  });

  it('keeps text that is not valid YAML as a string', () => {
    expect(parseInput('weird=a: b: c')).toEqual({ weird: 'a: b: c' });
  });

  it('rejects a missing name or = as misuse', () => {
    expect(usageMessage(() => parseInput('novalue'))).toMatch(/NAME=VALUE/);
    expect(usageMessage(() => parseInput('=3'))).toMatch(/NAME=VALUE/);
  });
});

describe('parseWorkloadRef', () => {
  it('accepts SERVICE/NAME and SERVICE NAME', () => {
    expect(parseWorkloadRef('hello/server')).toEqual({ service: 'hello', name: 'server' });
    expect(parseWorkloadRef('hello', 'client')).toEqual({ service: 'hello', name: 'client' });
  });

  it('rejects anything else as misuse', () => {
    expect(usageMessage(() => parseWorkloadRef('hello'))).toMatch(/SERVICE\/NAME/);
    expect(usageMessage(() => parseWorkloadRef('hello/'))).toMatch(/SERVICE\/NAME/);
    expect(usageMessage(() => parseWorkloadRef('a/b', 'c'))).toMatch(/not both/);
  });
});

describe('parseId and parseDirectory', () => {
  it('parses KIND:DIR/NAME, with a default kind', () => {
    expect(parseId('vertex:services/hello/server')).toEqual({
      kind: 'vertex',
      directory: ['services', 'hello'],
      name: 'server',
    });
    expect(parseId('services/hello/node:MyServer', 'class')).toEqual({
      kind: 'class',
      directory: ['services', 'hello'],
      name: 'node:MyServer',
    });
    expect(parseId('edge-template:x', 'vertex')).toEqual({
      kind: 'edge-template',
      directory: [],
      name: 'x',
    });
    expect(parseDirectory('/services/hello/')).toEqual(['services', 'hello']);
    expect(parseDirectory('/')).toEqual([]);
  });

  it('rejects an ID without kind or name, and unknown kinds', () => {
    expect(usageMessage(() => parseId('services/hello'))).toMatch(/KIND:DIR\/NAME/);
    expect(usageMessage(() => parseId('vertex:'))).toMatch(/no name/);
    expect(usageMessage(() => parseKind('node'))).toMatch(/unknown entity kind "node"/);
    expect(parseKind('edge')).toBe('edge');
  });
});

describe('parseCount', () => {
  it('accepts integers at or above the minimum only', () => {
    expect(parseCount('--tail')('10')).toBe(10);
    expect(parseCount('--tail')('0')).toBe(0);
    expect(usageMessage(() => parseCount('--depth', 1)('0'))).toMatch(
      /--depth expects an integer >= 1/,
    );
    expect(usageMessage(() => parseCount('--tail')('ten'))).toMatch(/--tail/);
    expect(usageMessage(() => parseCount('--tail')('1.5'))).toMatch(/--tail/);
  });
});
