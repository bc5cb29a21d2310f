import { describe, expect, it } from 'vitest';
import { type ServerSentEvent, ServerSentEventParser } from './server-sent-events.js';

function parseAll(chunks: string[]): ServerSentEvent[] {
  const events: ServerSentEvent[] = [];
  const parser = new ServerSentEventParser((e) => events.push(e));
  for (const chunk of chunks) parser.push(chunk);
  return events;
}

describe('ServerSentEventParser', () => {
  it('parses messages split anywhere across chunks', () => {
    const text =
      'id: 41\nevent: progress\ndata: {"step":"start"}\n\n: keep-alive\n\nevent: result\ndata: {"a":\ndata: 1}\n\n';
    const expected = [
      { event: 'progress', data: '{"step":"start"}', id: '41' },
      { event: 'result', data: '{"a":\n1}', id: '41' },
    ];
    expect(parseAll([text])).toEqual(expected);
    expect(parseAll(text.split(''))).toEqual(expected);
  });

  it('handles CRLF and CR line ends, defaults the event name, holds an unfinished message', () => {
    expect(parseAll(['data: x\r', '\n\r\ndata:y\r\r\n'])).toEqual([
      { event: 'message', data: 'x' },
      { event: 'message', data: 'y' },
    ]);
    expect(parseAll(['event: result\ndata: 1\n'])).toEqual([]);
  });
});
