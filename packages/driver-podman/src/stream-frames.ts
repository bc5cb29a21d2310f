/**
 * libpod's multiplexed streams (logs, exec without a TTY): frames of an 8-byte header (the
 * stream: 0 stdin, 1 stdout, 2 stderr, 3 system error; three zero bytes; the payload's size,
 * big-endian) and the payload.
 */

/** One demultiplexed frame. */
export interface Frame {
  stream: number;
  data: Buffer;
}

/** Splits a byte stream into frames, across chunk boundaries. */
export class FrameReader {
  #buffer: Buffer = Buffer.alloc(0);

  /** Adds a chunk and returns the frames completed by it. */
  push(chunk: Buffer): Frame[] {
    this.#buffer = this.#buffer.length ? Buffer.concat([this.#buffer, chunk]) : chunk;
    const frames: Frame[] = [];
    while (this.#buffer.length >= 8) {
      const size = this.#buffer.readUInt32BE(4);
      if (this.#buffer.length < 8 + size) break;
      frames.push({ stream: this.#buffer[0] ?? 1, data: this.#buffer.subarray(8, 8 + size) });
      this.#buffer = this.#buffer.subarray(8 + size);
    }
    return frames;
  }
}
