/**
 * Frames of the exec WebSocket: the first byte is the channel ({@link ExecChannel}), the rest
 * is the payload (bytes for stdin/stdout/stderr, UTF-8 JSON for control).
 */
import { ExecChannel, type ExecClientControl, type ExecServerControl } from './types.js';

/** One decoded frame. */
export type ExecFrame =
  | { channel: 'stdout' | 'stderr'; data: Uint8Array }
  | { channel: 'stdin'; data: Uint8Array }
  | { channel: 'control'; message: ExecServerControl | ExecClientControl };

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** A frame of input for the workload (keystrokes, pasted text). */
export function stdinFrame(data: string | Uint8Array): Uint8Array {
  const payload = typeof data === 'string' ? encoder.encode(data) : data;
  const frame = new Uint8Array(payload.length + 1);
  frame[0] = ExecChannel.stdin;
  frame.set(payload, 1);
  return frame;
}

/** A control frame (a resize from the client, an exit from the server). */
export function controlFrame(message: ExecClientControl | ExecServerControl): Uint8Array {
  const payload = encoder.encode(JSON.stringify(message));
  const frame = new Uint8Array(payload.length + 1);
  frame[0] = ExecChannel.control;
  frame.set(payload, 1);
  return frame;
}

/** An output frame (what the server sends on stdout or stderr). */
export function outputFrame(channel: 'stdout' | 'stderr', data: Uint8Array): Uint8Array {
  const frame = new Uint8Array(data.length + 1);
  frame[0] = ExecChannel[channel];
  frame.set(data, 1);
  return frame;
}

/** Decodes a frame; undefined for an empty frame or an unknown channel. */
export function decodeExecFrame(frame: ArrayBuffer | Uint8Array): ExecFrame | undefined {
  const bytes = frame instanceof Uint8Array ? frame : new Uint8Array(frame);
  if (bytes.length === 0) return undefined;
  const data = bytes.subarray(1);
  switch (bytes[0]) {
    case ExecChannel.stdin:
      return { channel: 'stdin', data };
    case ExecChannel.stdout:
      return { channel: 'stdout', data };
    case ExecChannel.stderr:
      return { channel: 'stderr', data };
    case ExecChannel.control:
      return { channel: 'control', message: JSON.parse(decoder.decode(data)) };
    default:
      return undefined;
  }
}
