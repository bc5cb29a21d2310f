/** One message of a `text/event-stream` (SSE): its event name, data and id. */
export interface ServerSentEvent {
  /** The `event:` field; `message` when absent, as in the HTML standard. */
  event: string;
  data: string;
  id?: string;
}

/**
 * An incremental parser for `text/event-stream`: feed it chunks as they arrive, it calls
 * `onEvent` for each complete message. Comments (`:` lines, used as keep-alives) are skipped.
 */
export class ServerSentEventParser {
  private buffer = '';
  private event = '';
  private data: string[] = [];
  private id: string | undefined;

  constructor(private readonly onEvent: (event: ServerSentEvent) => void) {}

  /** Consumes a chunk of the stream. */
  push(chunk: string): void {
    this.buffer += chunk;
    for (;;) {
      const match = /\r\n|\r|\n/.exec(this.buffer);
      if (!match) return;
      // A lone trailing `\r` may be the first half of `\r\n`: wait for more.
      if (match[0] === '\r' && match.index === this.buffer.length - 1) return;
      const line = this.buffer.slice(0, match.index);
      this.buffer = this.buffer.slice(match.index + match[0].length);
      this.line(line);
    }
  }

  private line(line: string): void {
    if (line === '') {
      if (this.data.length > 0 || this.event !== '') {
        const message: ServerSentEvent = {
          event: this.event || 'message',
          data: this.data.join('\n'),
        };
        if (this.id !== undefined) message.id = this.id;
        this.onEvent(message);
      }
      this.event = '';
      this.data = [];
      return;
    }
    if (line.startsWith(':')) return;
    const colon = line.indexOf(':');
    const field = colon < 0 ? line : line.slice(0, colon);
    let value = colon < 0 ? '' : line.slice(colon + 1);
    if (value.startsWith(' ')) value = value.slice(1);
    if (field === 'event') this.event = value;
    else if (field === 'data') this.data.push(value);
    else if (field === 'id') this.id = value;
  }
}
