/**
 * Exec sessions as frames (Kubernetes' channel protocol, see workload-routes.ts), whatever
 * carries them: the client's WebSocket on the owner's agent, or, when the client talks to
 * another agent of the cluster, that agent's WebSocket relayed over NATS.
 *
 * Relay protocol (only members hold the cluster's NATS credentials):
 * - open, to `khutulun.<cluster>.exec.<host>`: JSON `{ service, name, command, tty, columns?,
 *   rows?, reply }`;
 * - the owner answers `reply` with one byte, 255, once it listens on `<reply>.in` (until then
 *   the relaying agent holds the client's frames back, as NATS keeps nothing for late
 *   subscribers);
 * - frames from the owner to `reply`, from the client to `<reply>.in`, each one message of the
 *   frame's bytes; an empty message closes (either way).
 */
import { randomUUID } from 'node:crypto';
import { ExecChannel } from '@khutulun/api';
import type { Cluster } from '@khutulun/cluster';
import type { ExecSession, WorkloadDriver, WorkloadRef } from '@khutulun/driver';

/** What an exec runs: the command, and the terminal it asks for. */
export interface ExecRequest {
  command: string[];
  tty: boolean;
  columns?: number;
  rows?: number;
}

/** One side of a frame carrier: how frames go out and how it closes. */
export interface FrameSink {
  send(frame: Uint8Array): void;
  /** Ends the carrier (1000 after an exit, 1011 after a failure). */
  close(code: number): void;
}

/** A running exec, fed the client's frames. */
export interface FrameSession {
  /** A frame from the client (stdin, a resize). */
  frame(bytes: Uint8Array): void;
  /** The client went away: the command is killed. */
  close(): void;
}

/** Starts `request` in the workload and carries its streams as frames to `sink`. */
export function execFrames(
  driver: WorkloadDriver,
  ref: WorkloadRef,
  request: ExecRequest,
  sink: FrameSink,
): FrameSession {
  let session: ExecSession | undefined;
  const pending: Uint8Array[] = [];
  let stdinClosed = false;
  const send = (channel: number, data: Uint8Array | string) =>
    sink.send(Buffer.concat([Buffer.from([channel]), Buffer.from(data)]));
  const failed = (error: Error) => {
    send(ExecChannel.stderr, `${error.message}\n`);
    send(ExecChannel.control, JSON.stringify({ type: 'exit', code: 126 }));
    sink.close(1011);
  };
  driver.exec!(ref, {
    command: request.command,
    tty: request.tty,
    stdin: true,
    ...(request.columns ? { columns: request.columns } : {}),
    ...(request.rows ? { rows: request.rows } : {}),
  }).then((started) => {
    session = started;
    for (const data of pending) started.stdin?.write(data);
    if (stdinClosed) started.stdin?.end();
    started.stdout.on('data', (d: Buffer) => send(ExecChannel.stdout, d));
    started.stderr?.on('data', (d: Buffer) => send(ExecChannel.stderr, d));
    started.exit.then(({ code }) => {
      send(ExecChannel.control, JSON.stringify({ type: 'exit', code }));
      sink.close(1000);
    }, failed);
  }, failed);
  return {
    frame(bytes) {
      const channel = bytes[0];
      const payload = bytes.subarray(1);
      if (channel === ExecChannel.stdin) {
        if (!payload.length) {
          stdinClosed = true;
          session?.stdin?.end();
        } else if (session) session.stdin?.write(payload);
        else pending.push(payload);
      } else if (channel === ExecChannel.control) {
        try {
          const control = JSON.parse(Buffer.from(payload).toString('utf8')) as {
            type?: string;
            cols?: number;
            rows?: number;
          };
          if (control.type === 'resize' && control.cols && control.rows)
            session?.resize(control.cols, control.rows);
        } catch {
          // A malformed control frame is ignored: the session goes on.
        }
      }
    },
    close() {
      session?.kill();
    },
  };
}

/** The owner's first message: it listens for the client's frames. */
const LISTENING = 255;
/** How long the owner's agent has to answer a relayed session. */
const ANSWER_TIMEOUT_MS = 10_000;

/** The subject a host takes relayed exec sessions on. */
function execSubject(base: string, host: string): string {
  return `${base}.exec.${host}`;
}

/**
 * Serves exec sessions other agents relay to this host: `open` finds the workload and starts
 * the command (or throws, which ends the session with the error on stderr). Returns how to
 * stop serving.
 */
export function serveExecRelay(
  nats: Cluster['nats'],
  base: string,
  host: string,
  open: (
    target: { service: string; name: string },
    request: ExecRequest,
    sink: FrameSink,
  ) => Promise<FrameSession>,
): () => void {
  const subscription = nats.subscribe(execSubject(base, host), {
    callback: (error, message) => {
      if (error) return;
      let opened: { service: string; name: string; reply: string } & ExecRequest;
      try {
        opened = message.json();
      } catch {
        return;
      }
      let ended = false;
      const sink: FrameSink = {
        send: (frame) => nats.publish(opened.reply, frame),
        close: () => {
          if (ended) return;
          ended = true;
          nats.publish(opened.reply, new Uint8Array(0));
          input.unsubscribe();
        },
      };
      let session: FrameSession | undefined;
      const early: Uint8Array[] = [];
      const input = nats.subscribe(`${opened.reply}.in`, {
        callback: (e, m) => {
          if (e) return;
          if (!m.data.length) {
            session?.close();
            input.unsubscribe();
            ended = true;
          } else if (session) session.frame(m.data);
          else early.push(m.data);
        },
      });
      nats.publish(opened.reply, new Uint8Array([LISTENING]));
      open(opened, opened, sink).then(
        (started) => {
          session = started;
          for (const frame of early.splice(0)) started.frame(frame);
          if (ended) started.close();
        },
        (e: Error) => {
          sink.send(
            Buffer.concat([Buffer.from([ExecChannel.stderr]), Buffer.from(`${e.message}\n`)]),
          );
          sink.send(
            Buffer.concat([
              Buffer.from([ExecChannel.control]),
              Buffer.from(JSON.stringify({ type: 'exit', code: 126 })),
            ]),
          );
          sink.close(1011);
        },
      );
    },
  });
  return () => subscription.unsubscribe();
}

/**
 * Relays an exec session to `host`'s agent: frames from the owner go to `sink`; the returned
 * session sends the client's frames there.
 */
export function relayExec(
  nats: Cluster['nats'],
  base: string,
  host: string,
  target: { service: string; name: string },
  request: ExecRequest,
  sink: FrameSink,
): FrameSession {
  const reply = `${base}.execreply.${randomUUID()}`;
  let ended = false;
  // The client's frames until the owner listens for them.
  let held: Uint8Array[] | undefined = [];
  const end = () => {
    ended = true;
    clearTimeout(timer);
    subscription.unsubscribe();
  };
  const subscription = nats.subscribe(reply, {
    callback: (error, message) => {
      if (error) return;
      if (held && message.data.length === 1 && message.data[0] === LISTENING) {
        clearTimeout(timer);
        const closing = held.some((frame) => !frame.length);
        for (const frame of held) nats.publish(`${reply}.in`, frame);
        held = undefined;
        if (closing) end();
      } else if (!message.data.length) {
        end();
        sink.close(1000);
      } else sink.send(message.data);
    },
  });
  const timer = setTimeout(() => {
    end();
    sink.send(
      Buffer.concat([
        Buffer.from([ExecChannel.stderr]),
        Buffer.from(`the agent of host ${host} did not answer\n`),
      ]),
    );
    sink.send(
      Buffer.concat([
        Buffer.from([ExecChannel.control]),
        Buffer.from(JSON.stringify({ type: 'exit', code: 126 })),
      ]),
    );
    sink.close(1011);
  }, ANSWER_TIMEOUT_MS);
  nats.publish(execSubject(base, host), JSON.stringify({ ...target, ...request, reply }));
  return {
    frame(bytes) {
      if (held) held.push(Buffer.from(bytes));
      else nats.publish(`${reply}.in`, bytes);
    },
    close() {
      if (ended) return;
      // Not listening yet: the close goes with the held frames once it is.
      if (held) return void held.push(new Uint8Array(0));
      end();
      nats.publish(`${reply}.in`, new Uint8Array(0));
    },
  };
}
