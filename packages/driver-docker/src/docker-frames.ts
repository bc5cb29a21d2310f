/**
 * Docker's multiplexed stream format (logs and execs without a TTY): frames of an 8-byte
 * header (stream type, three zero bytes, big-endian payload length) and the payload.
 */

/** One frame's stream and payload. */
export interface Frame {
  stream: 'stdout' | 'stderr';
  data: Buffer;
}

/** Splits a byte stream into frames, across chunk boundaries. */
export class FrameDecoder {
  #pending: Buffer = Buffer.alloc(0);

  /** Feeds a chunk; returns the frames it completes. Stdin echoes (type 0) count as stdout. */
  push(chunk: Buffer): Frame[] {
    this.#pending = this.#pending.length ? Buffer.concat([this.#pending, chunk]) : chunk;
    const frames: Frame[] = [];
    while (this.#pending.length >= 8) {
      const length = this.#pending.readUInt32BE(4);
      if (this.#pending.length < 8 + length) break;
      const type = this.#pending[0];
      frames.push({
        stream: type === 2 ? 'stderr' : 'stdout',
        data: this.#pending.subarray(8, 8 + length),
      });
      this.#pending = this.#pending.subarray(8 + length);
    }
    return frames;
  }
}
